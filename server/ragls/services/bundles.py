"""Export a folder's index as a portable bundle (core/bundle.py holds the format and merges
parts; core/base.py uses a bundle as the base of an index)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from ragls.core.bundle import Manifest, content_of, write_bundle
from ragls.core.indexer import Indexer

GIT_SECONDS = 10  # `git rev-parse` of a healthy work tree answers in milliseconds


def export_bundle(indexer: Indexer, out: Path, parts: Iterable[str] = ()) -> Manifest:
    """Write the (up to date) index of `indexer` as a bundle at `out`: every file, or those under
    the root-relative folders `parts`; with its base's files when it has one."""
    content = content_of(indexer.reader, indexer.model_id, parts)
    return write_bundle(out, content, indexer.model_id, indexer.dim, root=indexer.root.name,
                        commit=git_commit(indexer.root), parts=parts)


def git_commit(folder: Path) -> str | None:
    """The commit checked out in `folder` when it is the top of a git work tree, else None."""
    try:
        top = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel", "HEAD"],
                             capture_output=True, text=True, timeout=GIT_SECONDS, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(top) != 2 or Path(top[0]).resolve() != folder.resolve():
        return None  # a subfolder of a repository: its commit names more than this tree
    return top[1]
