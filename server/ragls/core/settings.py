"""Settings of the engine, and where each workspace's cache lives."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ragls.core.embedding import DEFAULT_MODEL
from ragls.core.workspace import DEFAULT_MAX_FILE_SIZE


@dataclass(frozen=True)
class EngineSettings:
    """What the indexing engine can be told; every field has a working default, written here
    once (the server's settings and the CLI's options nest this object, they do not copy it)."""

    model: str = DEFAULT_MODEL
    device: str = "auto"
    cache_dir: str | None = None  # base folder; each root gets a subfolder. None: XDG cache
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # bytes; larger files are not indexed
    ignore: tuple[str, ...] = field(default_factory=tuple)
    batch_size: int | None = None  # texts per forward pass; None: chosen from the device


def cache_base(settings: EngineSettings) -> Path:
    """The folder that holds one subfolder per indexed root.

    Order: the `cache_dir` setting, then $RAGLS_CACHE_DIR, then $XDG_CACHE_HOME/ragls, then
    ~/.cache/ragls. It is outside the workspace so that indexing never dirties a repository.
    """
    if settings.cache_dir:
        return Path(settings.cache_dir).expanduser()
    if os.environ.get("RAGLS_CACHE_DIR"):
        return Path(os.environ["RAGLS_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "ragls"
