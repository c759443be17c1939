"""One index run as its caller sees it: how far it is, and a way to stop it.

The worker of the language server, the CLI's progress bar and the tests all hand the indexer a
`RunContext`; the indexer reports `Progress` through it and checks it for cancellation between
files and between model batches, for full runs and file updates alike. A cancelled run raises
`IndexCancelled`; what it embedded before is kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class IndexCancelled(Exception):
    """An index run was stopped through its run context; what was embedded is kept."""


@dataclass
class Progress:
    """Where an index run is, for progress bars and `$/progress`."""

    phase: str  # "scanning", "parsing", "embedding", "saving"
    files_done: int = 0
    files_total: int = 0
    chunks_done: int = 0
    chunks_total: int = 0
    elapsed: float = 0.0


class RunContext:
    """Cancellation and progress of one run, passed explicitly from its owner to the indexer."""

    def __init__(
        self,
        cancel: threading.Event | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ):
        self.cancel = cancel or threading.Event()
        self._on_progress = on_progress
        self._started = time.monotonic()

    def check(self) -> None:
        """IndexCancelled once the run was asked to stop."""
        if self.cancel.is_set():
            raise IndexCancelled("indexing was cancelled")

    def report(self, progress: Progress) -> None:
        """Tell the owner where the run is (the elapsed time is filled in here)."""
        if self._on_progress is not None:
            progress.elapsed = time.monotonic() - self._started
            self._on_progress(progress)


def describe_progress(progress: Progress | None) -> str:
    """What a run is doing, in a few words: `120/300 files read`."""
    if progress is None or progress.phase == "scanning":
        return "looking for files"
    if progress.phase == "parsing":
        return f"{progress.files_done}/{progress.files_total} files read"
    if progress.phase == "embedding":
        return f"{progress.chunks_done}/{progress.chunks_total} functions embedded"
    return "saving the index"
