"""Where the engine is: the shape of `ragls/status` and of `ragls status --json` (one shape)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ragls.core.base import BaseSummary


@dataclass(frozen=True)
class FolderStatus:
    """One workspace folder's index."""

    folder: Path
    files: int
    chunks: int
    cache_dir: Path
    index_bytes: int
    last_run: dict | None  # the last full run's report, with its device and time
    base: BaseSummary | None = None  # the shared index this folder's index is the overlay of
    overlay_chunks: int = 0  # chunks of the folder's own index (all of them without a base)
    base_problem: str | None = None  # why the base index asked for is not used


@dataclass(frozen=True)
class Status:
    """Where the engine is: the shape of `ragls/status` and of `ragls status --json`."""

    state: str
    roots: list[Path]
    files: int
    chunks: int
    pending_files: int
    embedded_chunks: int
    model: str
    device: str  # where the model runs now, "" while it is not loaded
    backend: str  # the model's backend ("torch", "onnx-int8", ...), "" while it is not loaded
    message: str | None
    folders: list[FolderStatus]
