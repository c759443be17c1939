"""The workspace folders ragls indexes: which folder owns a path, and each folder's open index.

- Each folder has its own `Indexer` (opened on first use) and `Retriever`; all share one model.
- A folder inside another is left out of the outer folder's index (an anchored ignore pattern
  per nested folder), so every file is indexed, and found, once: in its innermost folder.
- With no folder from the client, the first file opened gives one (`adopt_folder_of`): its git
  work tree, else its folder; a home folder or the file system root is never walked, only the
  open files of it are indexed.
- Requests name files by path; `request_file` and `read_document` are the checks every request
  passes before anything is read: inside a folder once `..` and symlinks are resolved, not a
  secret, of an indexed language, within the size limit.

`Roots.lock` guards the registry and every `Root`'s fields. It is never held while an index is
opened or a file is read, and nothing that takes another lock is called while holding it.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from ragls.core.base import BaseIndex, base_file_for
from ragls.core.bundle import BundleError
from ragls.core.indexer import STORE_NAME, Indexer
from ragls.core.languages import language_for_path
from ragls.core.retrieval import Retriever
from ragls.core.settings import EngineSettings, cache_base
from ragls.core.store import StoreError
from ragls.core.workspace import SkipReason, is_secret_file, read_capped, root_relative, subtree_pattern, workspace_id
from ragls.services.embedder import SharedEmbedder
from ragls.services.errors import InvalidRequest, OutsideRootsError

log = logging.getLogger(__name__)

_UNREADABLE = {
    SkipReason.UNREADABLE: "permission denied",
    SkipReason.OUTSIDE_ROOT: "it leads outside the workspace",
}


@dataclass
class Root:
    """One workspace folder and the state of its index."""

    folder: Path  # as the client named it; result URIs are built from it
    indexer: Indexer | None = None
    retriever: Retriever | None = None
    indexed: bool = False  # a full run finished since the indexer was opened
    error: str | None = None
    open_files_only: bool = False  # a folder too broad to walk (home, /): only open files count
    note: str | None = None  # why this folder is indexed the way it is, for status
    base_problem: str | None = None  # why the base index (setting baseIndex) is not used

    def relative(self, path: Path) -> str | None:
        """`path` relative to the folder, or None outside it (core.workspace.root_relative)."""
        return root_relative(self.folder, path)


@dataclass(frozen=True)
class OpenRoot:
    """A root with the indexer it had when a query started (a new run may replace it)."""

    root: Root
    indexer: Indexer
    retriever: Retriever
    opened_now: bool = False  # this call opened the index (not an earlier one)


class Roots:
    """The registry of workspace folders."""

    def __init__(self, settings: EngineSettings, embedder: SharedEmbedder):
        self.lock = threading.RLock()
        self.settings = settings
        self.embedder = embedder
        self._roots: dict[Path, Root] = {}
        self._open_documents: set[Path] = set()  # files open in the editor

    # the registry (callers may hold `lock` around several calls) ------------------------
    def add(self, folder: Path) -> bool:
        """Register a folder; False if it was known already."""
        with self.lock:
            if folder in self._roots:
                return False
            self._roots[folder] = Root(folder)
            return True

    def remove(self, folder: Path) -> Root | None:
        """Forget a folder; the root it had (its indexer is the caller's to close)."""
        with self.lock:
            return self._roots.pop(folder, None)

    def get(self, folder: Path) -> Root | None:
        """The root of a registered folder."""
        with self.lock:
            return self._roots.get(folder)

    def all(self) -> list[Root]:
        """Every root, in the order the folders came."""
        with self.lock:
            return list(self._roots.values())

    def folders(self) -> list[Path]:
        """Every folder, in the order they came."""
        with self.lock:
            return list(self._roots)

    def innermost(self, path: Path) -> Root | None:
        """The innermost folder holding `path`, or None."""
        with self.lock:
            inside = [root for root in self._roots.values() if root.relative(path) is not None]
        return max(inside, key=lambda root: len(root.folder.parts), default=None)

    def owner(self, path: Path) -> Root:
        """The innermost folder holding `path`; OutsideRootsError when none does."""
        root = self.innermost(path)
        if root is None:
            folders = ", ".join(str(folder) for folder in self.folders()) or "none"
            raise OutsideRootsError(f"{os.path.normpath(path)} is outside every workspace folder (folders: {folders})")
        return root

    def around(self, folder: Path) -> list[Root]:
        """The other folders that contain `folder` (which files they own changes with it)."""
        with self.lock:
            return [root for other, root in self._roots.items() if other != folder and root.relative(folder) is not None]

    def detach(self, root: Root) -> Indexer | None:
        """Take a root's indexer away (to be closed by the caller); the next run reopens one."""
        with self.lock:
            indexer = root.indexer
            root.indexer, root.retriever, root.indexed = None, None, False
            return indexer

    def document_opened(self, path: Path) -> None:
        """Remember a file the editor opened."""
        with self.lock:
            self._open_documents.add(path)

    def document_closed(self, path: Path) -> None:
        """Forget a file the editor closed."""
        with self.lock:
            self._open_documents.discard(path)

    def open_documents(self) -> list[Path]:
        """The files open in the editor."""
        with self.lock:
            return list(self._open_documents)

    # implicit folders -------------------------------------------------------------------------
    def adopt_folder_of(self, path: Path) -> Path:
        """Make the folder of a file the workspace (the client named none); returns it."""
        folder, how = implicit_folder(path)
        broad = folder in (Path.home().resolve(), Path(folder.anchor))
        self.add(folder)
        with self.lock:
            root = self._roots[folder]
            root.open_files_only = broad
            if broad:
                root.note = (
                    f"no workspace folder from the editor; {folder} is too broad to index as a whole "
                    "(a home folder or /), so only the open files are indexed"
                )
            else:
                root.note = f"no workspace folder from the editor: indexing {folder} ({how} of {path.name})"
        log.info("%s", root.note)
        return folder

    # indexes ----------------------------------------------------------------------------------
    def open(self, folder: Path, create: bool = True) -> OpenRoot | None:
        """The folder's root with its indexer, opened now if needed; None if the folder is gone.

        Raises what opening raises (EmbeddingError, StoreError, OSError); StoreMissing when
        `create` is False and the folder was never indexed.
        """
        with self.lock:
            root = self._roots.get(folder)
            if root is None:
                return None
            if root.indexer is not None:
                return OpenRoot(root, root.indexer, root.retriever)
            settings = self._settings_for(folder)
        indexer = Indexer(folder, settings, embedder=self.embedder.for_indexing(), create=create)
        base_problem = _attach_base(indexer, settings.base_index, folder)
        with self.lock:
            if self._roots.get(folder) is not root or root.indexer is not None:
                close_quietly(indexer)  # replaced or reopened meanwhile: theirs wins
                return self.open(folder, create) if self._roots.get(folder) else None
            root.indexer, root.indexed, root.base_problem = indexer, False, base_problem
            root.retriever = Retriever(indexer, embedder=self.embedder)
            return OpenRoot(root, indexer, root.retriever, opened_now=True)

    def open_roots(self) -> list[OpenRoot]:
        """The roots whose index is open, each with the indexer it has now."""
        with self.lock:
            return [
                OpenRoot(root, root.indexer, root.retriever)
                for root in self._roots.values()
                if root.indexer is not None and root.retriever is not None
            ]

    def _settings_for(self, folder: Path) -> EngineSettings:
        """The settings of one folder's indexer: workspace folders inside it are left out, as they
        have their own index (else their functions would be indexed, and found, twice)."""
        root = self._roots[folder]
        inside = sorted(rel for other in self._roots if other != folder and (rel := root.relative(other)))
        if not inside:
            return self.settings
        # Last, so that no user pattern can bring a nested folder back.
        patterns = tuple(subtree_pattern(rel) for rel in inside)
        return replace(self.settings, ignore=(*self.settings.ignore, *patterns))

    # the checks of every request --------------------------------------------------------------
    def request_file(self, path: Path) -> tuple[Root, str]:
        """The root and root-relative path of a file a request names, after the checks that
        keep ragls inside the workspace and away from secrets (see read_document)."""
        root = self.owner(path)
        rel = root_relative(root.folder, path, real=True)
        if rel is None:
            raise OutsideRootsError(
                f"{path} leads outside the workspace folder {root.folder} (through a symlink): "
                "ragls only reads files inside the workspace"
            )
        if language_for_path(rel) is None:
            raise InvalidRequest(f"ragls does not index files like {Path(rel).name}")
        if is_secret_file(root.folder, rel):
            raise InvalidRequest(
                f"{rel} is a secret file (like .env, *.pem, id_rsa): ragls never reads it nor sends it anywhere"
            )
        return root, rel

    def read_document(self, path: Path, open_text: str | None) -> str:
        """The text a request about `path` works on: the editor's `open_text` when the document
        is open, else the file on disk. Raises InvalidRequest (before anything is read) for a
        file outside every folder, even through a symlink, a secret, a file type ragls does not
        index, or one over the size limit."""
        root, rel = self.request_file(path)
        if open_text is not None:
            self.check_size(rel, len(open_text.encode("utf-8", "surrogatepass")))
            return open_text
        data = read_capped(path, self.settings.max_file_size, os.path.realpath(root.folder))
        if data is SkipReason.TOO_LARGE:
            self.check_size(rel, self.settings.max_file_size + 1)
        if data is SkipReason.NOT_A_FILE:
            raise InvalidRequest(f"unknown document {path}: it is not open and there is no such file")
        if isinstance(data, SkipReason):
            raise InvalidRequest(f"cannot read {path}: {_UNREADABLE.get(data, data.value)}")
        return data.decode("utf-8", errors="replace")

    def check_size(self, rel: str, size: int) -> None:
        """InvalidRequest for a file over the size limit: it is not indexed, nor parsed."""
        limit = self.settings.max_file_size
        if size > limit:
            raise InvalidRequest(
                f"{rel} has {size:,} bytes, more than the maxFileSize setting ({limit:,}): ragls does not index it"
            )


def implicit_folder(path: Path) -> tuple[Path, str]:
    """The folder to index for a file opened with no workspace folder: the git work tree it is
    in, else its own folder; and which of the two it is."""
    folder = Path(os.path.realpath(path)).parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate, "the git work tree"
    return folder, "the folder"


def indexed_folder_at_or_above(start: Path, settings: EngineSettings) -> Path:
    """The nearest folder at or above `start` that has an index; else the git work tree; else
    `start` (the CLI's default root)."""
    start = start.resolve()
    base = cache_base(settings)
    for folder in (start, *start.parents):
        if (base / workspace_id(folder) / STORE_NAME).exists():
            return folder
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _attach_base(indexer: Indexer, setting: str | None, folder: Path) -> str | None:
    """Open the folder's base index (setting baseIndex, else the remembered one) and put it
    under `indexer`; why it cannot be used, if so (the index then works on its own)."""
    path = base_file_for(setting, folder, indexer.remembered_base)
    if path is None:
        indexer.use_base(None)
        return None
    try:
        indexer.use_base(BaseIndex(path, indexer.model_id))
    except BundleError as exc:
        log.info("base index %s not used: %s", path, exc)  # the worker or the CLI says it
        return f"the base index is not used: {exc}"
    return None


def close_quietly(indexer: Indexer) -> None:
    """Save and close an index that is no longer used, logging (not raising) a failure."""
    try:
        indexer.close()
    except (StoreError, OSError):  # best effort: the store and index survive a crash anyway
        log.warning("closing the index of %s failed", indexer.root, exc_info=True)

