"""The index worker's to-do list: what runs next, and when.

Order: housekeeping first (load the model, close an indexer that was replaced), then file
updates whose quiet period is over, then full runs of whole folders, oldest first.

File events are debounced per folder: every new event pushes the folder's deadline back by the
debounce delay, so a burst of saves (format-on-save, a branch switch, a code generator) becomes
one update. A steady stream of events cannot postpone it forever: it runs at the latest
`MAX_DELAY_FACTOR` delays after the first event of the burst.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ragls.core.indexer import Indexer

MAX_DELAY_FACTOR = 5


@dataclass(frozen=True)
class LoadModel:
    """Load the embedding model so that the first query does not wait for it."""


@dataclass(frozen=True)
class CloseIndexer:
    """Save and close an indexer that is no longer used (folder removed, settings changed)."""

    indexer: Indexer


@dataclass(frozen=True)
class FullRun:
    """Bring a whole folder up to date (open its index first if needed)."""

    folder: Path


@dataclass(frozen=True)
class FileUpdate:
    """Re-read these files of a folder: changed functions are embedded, deleted files leave."""

    folder: Path
    paths: tuple[Path, ...]


Job = LoadModel | CloseIndexer | FullRun | FileUpdate


@dataclass
class _Burst:
    paths: dict[Path, None] = field(default_factory=dict)  # ordered set
    first: float = 0.0
    due: float = 0.0


class JobQueue:
    """Pending jobs. Not thread-safe: its owner holds a lock around every call."""

    def __init__(self, debounce_seconds: float):
        self.debounce_seconds = debounce_seconds
        self._housekeeping: list[LoadModel | CloseIndexer] = []
        self._bursts: dict[Path, _Burst] = {}
        self._full_runs: list[Path] = []

    def add_housekeeping(self, job: LoadModel | CloseIndexer) -> None:
        """Queue a housekeeping job (they run before any indexing)."""
        if job not in self._housekeeping:
            self._housekeeping.append(job)

    def add_full_run(self, folder: Path) -> None:
        """Queue a full run of a folder unless one is already waiting."""
        if folder not in self._full_runs:
            self._full_runs.append(folder)

    def add_files(self, folder: Path, paths: list[Path], now: float) -> None:
        """Queue changed files of a folder, pushing its deadline back by the debounce delay."""
        burst = self._bursts.get(folder)
        if burst is None:
            burst = self._bursts[folder] = _Burst(first=now)
        burst.paths.update(dict.fromkeys(paths))
        latest = burst.first + MAX_DELAY_FACTOR * self.debounce_seconds
        burst.due = min(now + self.debounce_seconds, latest)

    def drop_folder(self, folder: Path) -> None:
        """Forget everything queued for a folder."""
        self._bursts.pop(folder, None)
        self._full_runs = [queued for queued in self._full_runs if queued != folder]

    def next_job(self, now: float) -> Job | float | None:
        """The job to run now; else seconds until a debounced update is due; else None."""
        if self._housekeeping:
            return self._housekeeping.pop(0)
        due = [folder for folder, burst in self._bursts.items() if burst.due <= now]
        if due:
            burst = self._bursts.pop(due[0])
            return FileUpdate(due[0], tuple(burst.paths))
        if self._full_runs:
            return FullRun(self._full_runs.pop(0))
        if self._bursts:
            return min(burst.due for burst in self._bursts.values()) - now
        return None

    def take_closings(self) -> list[CloseIndexer]:
        """Remove and return the queued CloseIndexer jobs (the worker closes them when it stops)."""
        closings = [job for job in self._housekeeping if isinstance(job, CloseIndexer)]
        self._housekeeping = [job for job in self._housekeeping if not isinstance(job, CloseIndexer)]
        return closings

    def pending_files(self) -> int:
        """Changed files waiting for their update."""
        return sum(len(burst.paths) for burst in self._bursts.values())

    def has_index_work(self) -> bool:
        """True while any full run or file update is waiting."""
        return bool(self._full_runs or self._bursts)

    def loads_model(self) -> bool:
        """True while a model load is waiting."""
        return any(isinstance(job, LoadModel) for job in self._housekeeping)

    def full_run_waiting(self, folder: Path) -> bool:
        """True when a full run of this folder is queued."""
        return folder in self._full_runs
