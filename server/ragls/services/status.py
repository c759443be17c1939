"""Where the engine is: the shape of `ragls/status` and of `ragls status --json` (one shape)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FolderStatus:
    """One workspace folder's index."""

    folder: Path
    files: int
    chunks: int
    cache_dir: Path
    index_bytes: int
    last_run: dict | None  # the last full run's report, with its device and time


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
