"""The indexing service behind both the language server and the CLI: every workspace folder,
indexed in the background and queried.

The engine puts three parts together: `roots` (which folders, which one owns a path, the checks
every request passes), `worker` (the one thread that runs index jobs, and the state it puts the
engine in) and `queries` (what users ask). The server calls `start` and feeds it editor events;
the CLI calls `start` then `wait_until_idle` to index, or `open` to query existing indexes. Its
methods return at once, except `open`, `wait_until_idle` and the queries (which block on
SQLite, hnswlib and the model: the server runs them in its thread pool).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ragls.core.bundle import Manifest
from ragls.core.languages import language_for_path
from ragls.core.settings import EngineSettings, make_embedder, model_threads
from ragls.core.store import StoreMissing
from ragls.core.workspace import IGNORE_FILE_NAME, RAGLS_IGNORE_FILE_NAME
from ragls.services.bundles import export_bundle
from ragls.services.embedder import SharedEmbedder
from ragls.services.queries import Queries
from ragls.services.roots import OpenRoot, Roots, close_quietly
from ragls.services.status import FolderStatus, Status
from ragls.services.worker import READY, EngineListener, Worker


class Engine:
    """Indexes the workspace folders in the background and answers queries about them."""

    def __init__(
        self,
        settings: EngineSettings,
        listener: EngineListener | None = None,
        debounce_seconds: float = 0.3,
        model_on_demand: bool = False,
        background: bool = False,
        strict_base: bool = False,
    ):
        """`model_on_demand`: queries load the model when they need it (the CLI) instead of
        answering without it until the worker has loaded it (the server). `background`: the
        editor needs the machine too (the server): indexing leaves it a core and runs at a lower
        priority. `strict_base`: a base index that cannot be used fails the folder (the CLI)
        instead of being reported while the folder is indexed on its own (the server)."""
        self._threads = model_threads(leave_a_core=background)
        self.roots = Roots(settings, shared_embedder(settings, self._threads))
        self.worker = Worker(self.roots, listener or EngineListener(), debounce_seconds, lower_priority=background,
                             strict_base=strict_base)
        self.queries = Queries(
            self.roots,
            is_partial=lambda: self.worker.state()[0] != READY,
            model_error=lambda: self.worker.model_error,
            on_damaged=self.worker.full_run,
            model_on_demand=model_on_demand,
        )
        self._implicit_root = False  # the client named no folder: the first open file gives one

    # lifecycle --------------------------------------------------------------------------------
    def start(self, folders: Iterable[Path], preload_model: bool = True) -> None:
        """Start the worker: load the model (with `preload_model`), then index every folder.

        With no folder at all (a client that sends none), the first document opened chooses
        one: see `document_opened`.
        """
        for folder in folders:
            self.add_folder(folder)
        self._implicit_root = not self.roots.folders()
        self.worker.start(preload_model)

    def open(self, folders: Iterable[Path]) -> None:
        """Open the existing indexes of these folders for queries, with no index run (the CLI's
        search, related and status); StoreMissing for a folder never indexed."""
        for folder in folders:
            self.roots.add(folder)
            self.roots.open(folder, create=False)
        self.worker.start(preload_model=False)

    def wait_until_idle(self) -> Status:
        """Block until every queued job has run; the status then."""
        self.worker.wait_until_idle()
        return self.status()

    def close(self) -> None:
        """Stop the worker (cancelling a run) and save every index; waits a few seconds at most."""
        if not self.worker.close():
            return
        for root in self.roots.all():
            indexer = self.roots.detach(root)
            if indexer is not None:
                close_quietly(indexer)

    # folders and settings -----------------------------------------------------------------------
    def add_folder(self, folder: Path) -> None:
        """Index one more workspace folder (a folder around it leaves its files to it from now on)."""
        if self.roots.add(folder):
            self.worker.full_run(folder)
            self._rerun_folders_around(folder)

    def remove_folder(self, folder: Path) -> None:
        """Stop indexing a folder and drop it from every query."""
        root = self.roots.remove(folder)
        if root is None:
            return
        self.worker.forget(folder)
        self.worker.retire(root)
        self._rerun_folders_around(folder)  # they index its files again

    def reconfigure(self, settings: EngineSettings) -> None:
        """Use new settings: reopen every folder's index (a new model re-embeds) and re-run."""
        old = self.roots.settings
        if settings == old:
            return
        if _model_part(settings) != _model_part(old):
            self.roots.embedder = shared_embedder(settings, self._threads)
            self.worker.load_model()
        self.roots.settings = settings
        self.worker.cancel_index_job()
        self.reindex()

    def set_debounce(self, seconds: float) -> None:
        """How long file events must be quiet before their update runs."""
        self.worker.set_debounce(seconds)

    def reindex(self) -> list[Path]:
        """Re-check every folder (new indexers, so new settings apply); returns the folders."""
        self.worker.clear_model_error()
        for root in self.roots.all():
            self.worker.retire(root)
            with self.roots.lock:
                root.error = None
            self.worker.full_run(root.folder)
        return self.roots.folders()

    # editor events ------------------------------------------------------------------------------
    def document_opened(self, path: Path) -> None:
        """Remember an editor's open file: a folder's first run indexes those files first.

        When the client named no workspace folder, the first file opened gives one (see
        services.roots).
        """
        self.roots.document_opened(path)
        if self._implicit_root and not self.roots.folders():
            self.worker.full_run(self.roots.adopt_folder_of(path))
        root = self.roots.innermost(path)
        if root is not None and root.open_files_only:
            self.worker.files_changed(root.folder, [path])

    def document_closed(self, path: Path) -> None:
        """Forget an open file."""
        self.roots.document_closed(path)

    def files_changed(self, paths: Iterable[Path]) -> None:
        """Files (or folders) were saved, created, changed or deleted: update them, debounced.

        Paths outside every folder and files of no indexed language are ignored. A changed
        .gitignore or .raglsignore changes which files count, so its folder gets a full run.
        """
        open_documents = set(self.roots.open_documents())
        for path in paths:
            root = self.roots.innermost(path)
            if root is None or not _may_hold_source(path):
                continue
            if root.open_files_only and path not in open_documents:
                continue
            if path.name in (IGNORE_FILE_NAME, RAGLS_IGNORE_FILE_NAME):
                self.worker.full_run(root.folder)
            else:
                self.worker.files_changed(root.folder, [path])

    def read_document(self, path: Path, open_text: str | None) -> str:
        """The text a request about `path` works on (see Roots.read_document)."""
        return self.roots.read_document(path, open_text)

    def export(self, folder: Path, out: Path, parts: Iterable[str] = ()) -> Manifest:
        """Write the index of an open folder as a bundle (`ragls export`); index it first."""
        opened = self.roots.open(folder)
        if opened is None:
            raise StoreMissing(f"{folder} is not a workspace folder")
        return export_bundle(opened.indexer, out, parts)

    # state ------------------------------------------------------------------------------------
    def status(self) -> Status:
        """Counts and state over every folder; cheap (no model, a few SQLite counts)."""
        state, message, pending = self.worker.state()
        if self._implicit_root and not self.roots.folders() and state == READY:
            message = "no workspace folder from the editor: the first file opened chooses one"
        opened = self.roots.open_roots()
        folders = [_folder_status(open_root) for open_root in opened]
        embedded = self.worker.embedded_by_closed + sum(o.indexer.embedded_by_this_process for o in opened)
        return Status(
            state=state,
            roots=self.roots.folders(),
            files=sum(folder.files for folder in folders),
            chunks=sum(folder.chunks for folder in folders),
            pending_files=pending,
            embedded_chunks=embedded,
            model=self.roots.settings.model,
            device=self.roots.embedder.loaded_device,
            backend=self.roots.embedder.backend if self.roots.embedder.loaded else "",
            message=message,
            folders=folders,
        )

    def _rerun_folders_around(self, folder: Path) -> None:
        """Reopen and re-run the folders that contain `folder`: which files they own changed."""
        for root in self.roots.around(folder):
            self.worker.cancel_run_of(root.folder)
            self.worker.retire(root)
            self.worker.full_run(root.folder)


def shared_embedder(settings: EngineSettings, threads: int | None = None) -> SharedEmbedder:
    """The one model of an engine, created (and torch or onnxruntime imported) on first use."""
    return SharedEmbedder(lambda: make_embedder(settings, threads))


def _model_part(settings: EngineSettings) -> tuple:
    """The settings that make another model (a change loads it again)."""
    return (settings.model, settings.device, settings.batch_size, settings.query_prompt, settings.document_prompt,
            settings.backend, settings.index_threads)


def _folder_status(opened: OpenRoot) -> FolderStatus:
    info = opened.indexer.info()
    return FolderStatus(opened.root.folder, info.files, info.chunks, info.cache_dir, info.index_bytes,
                        info.last_run, info.base, info.overlay_chunks, opened.root.base_problem)


def _may_hold_source(path: Path) -> bool:
    """False for existing files that are of no indexed language (and not ignore files)."""
    if path.name in (IGNORE_FILE_NAME, RAGLS_IGNORE_FILE_NAME) or language_for_path(path) is not None:
        return True
    return not path.is_file()  # a folder, or something deleted: the indexer sorts it out
