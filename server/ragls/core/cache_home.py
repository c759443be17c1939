"""The user's cache folder for ragls: one rule for where shared, per-user files live."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_private: dict[str, Path] = {}


def user_cache(*parts: str) -> Path:
    """$XDG_CACHE_HOME/ragls/<parts> (~/.cache when XDG_CACHE_HOME is unset)."""
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser().joinpath("ragls", *parts)


def writable(folder: Path) -> bool:
    """True when `folder` exists (made now if need be) and this process may write in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def private_folder(name: str) -> Path:
    """A temporary folder of this process for `name` (one per name), removed when it exits:
    where shared cache files go when the user's cache cannot be written."""
    if name not in _private:
        _private[name] = Path(tempfile.mkdtemp(prefix=f"ragls-{name}-"))
        atexit.register(shutil.rmtree, _private[name], True)
    return _private[name]
