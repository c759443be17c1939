"""The user's cache folder for ragls: one rule for where shared, per-user files live."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache(*parts: str) -> Path:
    """$XDG_CACHE_HOME/ragls/<parts> (~/.cache when XDG_CACHE_HOME is unset)."""
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser().joinpath("ragls", *parts)
