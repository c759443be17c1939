"""The indexing service behind the language server: every workspace folder, indexed and queried.

- One `Indexer` per workspace folder (multi-root), all sharing one embedding model.
- One worker thread runs every index job, in the order of `jobs.JobQueue`: the model first,
  then saved files (debounced), then full runs of folders. A folder's first run indexes the
  files open in the editor before the rest. A warm start finds every file unchanged and embeds
  nothing.
- The caller's thread (the LSP event loop) only queues work and reads state: those methods
  return at once. Queries (`search`, `related`, `hover`, `symbols`) block on SQLite, hnswlib
  and the model, so callers run them in a thread pool; they answer from what is indexed so far
  while the worker runs.
- Events for the client (progress of a run, problems the user must see) go to an
  `EngineListener`, called on the worker thread.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ragls.core.chunk import MODULE, WINDOW, Chunk, Span
from ragls.core.chunking import chunk_source
from ragls.core.embedding import EmbeddingError, SentenceTransformerEmbedder
from ragls.core.indexer import IndexCancelled, Indexer, IndexReport, Progress
from ragls.core.languages import language_for_path
from ragls.core.retrieval import Retriever, check_limit, check_query, enclosing_chunk
from ragls.core.explanations import ExplanationCache
from ragls.core.settings import EngineSettings, cache_base
from ragls.core.store import StoreError
from ragls.core.workspace import (
    IGNORE_FILE_NAME,
    RAGLS_IGNORE_FILE_NAME,
    SkipReason,
    is_secret_file,
    read_capped,
    root_relative,
    workspace_id,
)
from ragls.services.embedder import SharedEmbedder
from ragls.services.jobs import (
    CloseIndexer,
    FileUpdate,
    FullRun,
    Job,
    JobQueue,
    LoadModel,
)

log = logging.getLogger(__name__)

STARTING, INDEXING, READY, ERROR = "starting", "indexing", "ready", "error"
HOVER_RELATED = 3  # related functions listed in a hover
PROMPT_RELATED = 6  # related functions offered to an explain prompt
PROMPT_CALLEES = 4  # functions it calls, found by name
PROMPT_CALLERS = 3  # functions that call it, found by name
JOIN_SECONDS = 5.0  # how long close() waits for the worker to stop
# Saves of single files write the vector index at most this often; full runs and close() always
# write it. A large index is hundreds of MB to rewrite and checksum.
INDEX_SAVE_SECONDS = 60.0


class EngineError(Exception):
    """A request the engine cannot answer; the message tells the user why."""


class InvalidRequest(EngineError):
    """A request about something ragls does not index: the asker must change the request."""


class OutsideRootsError(InvalidRequest):
    """A file that is not inside any workspace folder."""


@dataclass(frozen=True)
class Found:
    """A function found by a query, with the workspace folder it was indexed from."""

    folder: Path
    chunk: Chunk
    score: float | None = None


@dataclass(frozen=True)
class SearchOutcome:
    """Search results, best first; `partial` while indexing or the model is still loading."""

    results: list[Found]
    partial: bool


@dataclass(frozen=True)
class RelatedOutcome:
    """The function at a position (None outside every chunk) and the functions most like it."""

    symbol: Found | None
    results: list[Found]


@dataclass(frozen=True)
class HoverInfo:
    """What a hover on a function name shows; `related_pending` while the model loads."""

    symbol: Found
    related: list[Found]
    related_pending: bool


@dataclass(frozen=True)
class ExplainContext:
    """What an explain prompt is built from: the function at a position, the other functions
    worth showing the LLM (best first: those it calls, the most related, those calling it) and
    the explanation cache of its folder."""

    symbol: Found
    candidates: list[Found]
    cache: ExplanationCache


@dataclass(frozen=True)
class Status:
    """Where the engine is, for `ragls/status`."""

    state: str
    roots: list[Path]
    files: int
    chunks: int
    pending_files: int
    embedded_chunks: int
    model: str
    device: str
    message: str | None


@dataclass(frozen=True)
class IndexRun:
    """One full run of one folder, as listeners see it."""

    id: int
    folder: Path


class EngineListener:
    """What the engine reports to its owner, on the worker thread. These defaults do nothing."""

    def run_started(self, run: IndexRun) -> None:
        """A full run began."""

    def run_progressed(self, run: IndexRun, progress: Progress) -> None:
        """A full run moved on (called often: throttle before sending anything)."""

    def run_finished(self, run: IndexRun, summary: str) -> None:
        """A full run ended (done, failed or cancelled); `summary` says how."""

    def problem(self, message: str) -> None:
        """Something the user must know: the model cannot load, a folder cannot be indexed."""

    def notice(self, message: str) -> None:
        """Something the user should hear once: a damaged index was set aside and rebuilt."""


@dataclass
class _Root:
    folder: Path  # as the client named it; result URIs are built from it
    indexer: Indexer | None = None
    retriever: Retriever | None = None
    indexed: bool = False  # a full run finished since the indexer was opened
    error: str | None = None
    open_files_only: bool = False  # a folder too broad to walk (home, /): only open files count
    note: str | None = None  # why this folder is indexed the way it is, for status

    def relative(self, path: Path) -> str | None:
        """`path` relative to the folder, or None outside it (core.workspace.root_relative)."""
        return root_relative(self.folder, path)


@dataclass(frozen=True)
class _OpenRoot:
    """A root with the indexer it had when a query started (the worker may replace it)."""

    root: _Root
    indexer: Indexer
    retriever: Retriever


@dataclass
class _Activity:
    """What the worker is doing now."""

    job: Job
    run: IndexRun | None = None
    progress: Progress | None = None
    slice_texts: int = 0  # texts embedded since the indexer last reported progress

    def live_progress(self) -> Progress | None:
        """The indexer's last progress, with the texts embedded since counted in."""
        last = self.progress
        if last is None or last.phase != "embedding" or not self.slice_texts:
            return last
        return replace(last, chunks_done=min(last.chunks_total, last.chunks_done + self.slice_texts))


class Engine:
    """Indexes the workspace folders in the background and answers queries about them."""

    def __init__(
        self,
        settings: EngineSettings,
        listener: EngineListener | None = None,
        debounce_seconds: float = 0.3,
    ):
        self._settings = settings
        self._listener = listener or EngineListener()
        self._embedder = _shared_embedder(settings)
        self._condition = threading.Condition()
        self._queue = JobQueue(debounce_seconds)
        self._roots: dict[Path, _Root] = {}
        self._open_documents: set[Path] = set()
        self._activity: _Activity | None = None
        self._cancel = threading.Event()
        self._error: str | None = None
        self._embedded_by_closed = 0
        self._run_ids = 0
        self._explanation_caches: dict[Path, ExplanationCache] = {}  # by database folder
        self._started = False
        self._implicit_root = False  # the client named no folder: the first open file gives one
        self._closing = False
        self._thread = threading.Thread(target=self._work, name="ragls-index-worker", daemon=True)

    # lifecycle (caller's thread, returns at once) ---------------------------------------
    def start(self, folders: Iterable[Path]) -> None:
        """Start the worker: load the model, then index every folder.

        With no folder at all (a client that sends none), the first document opened chooses
        one: see `document_opened`.
        """
        with self._condition:
            self._queue.add_housekeeping(LoadModel())
            for folder in folders:
                self._add_root(folder)
            self._implicit_root = not self._roots
            self._started = True
        self._thread.start()

    def close(self) -> None:
        """Stop the worker (cancelling a run) and save every index; waits a few seconds at most."""
        with self._condition:
            self._closing = True
            self._cancel.set()
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(JOIN_SECONDS)
        if self._thread.is_alive():
            log.warning("the index worker did not stop in %.0f s; leaving it", JOIN_SECONDS)
            return
        for root in list(self._roots.values()):
            if root.indexer is not None:
                _close_quietly(root.indexer)

    def add_folder(self, folder: Path) -> None:
        """Index one more workspace folder (a folder around it leaves its files to it from now on)."""
        with self._condition:
            if self._add_root(folder):
                self._rerun_folders_around(folder)

    def remove_folder(self, folder: Path) -> None:
        """Stop indexing a folder and drop it from every query."""
        with self._condition:
            root = self._roots.pop(folder, None)
            if root is None:
                return
            self._queue.drop_folder(folder)
            self._cancel_run_of(folder)
            self._retire(root)
            self._rerun_folders_around(folder)  # they index its files again
            self._condition.notify_all()

    def reconfigure(self, settings: EngineSettings) -> None:
        """Use new settings: reopen every folder's index (a new model re-embeds) and re-run."""
        with self._condition:
            if settings == self._settings:
                return
            if (settings.model, settings.device, settings.batch_size) != (
                self._settings.model,
                self._settings.device,
                self._settings.batch_size,
            ):
                self._embedder = _shared_embedder(settings)
                self._queue.add_housekeeping(LoadModel())
            self._settings = settings
            self._error = None
            if self._activity is not None and not isinstance(self._activity.job, CloseIndexer):
                self._cancel.set()
            for root in self._roots.values():
                self._retire(root)
                root.error = None
                self._queue.add_full_run(root.folder)
            self._condition.notify_all()

    def set_debounce(self, seconds: float) -> None:
        """How long file events must be quiet before their update runs."""
        with self._condition:
            self._queue.debounce_seconds = seconds

    def reindex(self) -> list[Path]:
        """Queue a full run of every folder; returns the folders."""
        with self._condition:
            self._error = None
            for root in self._roots.values():
                root.error = None
                self._queue.add_full_run(root.folder)
            self._condition.notify_all()
            return list(self._roots)

    def document_opened(self, path: Path) -> None:
        """Remember an editor's open file: a folder's first run indexes those files first.

        When the client named no workspace folder, the first file opened gives one: its git
        work tree, else its folder. A home folder or the file system root is never walked: then
        only the open files are indexed (status says so).
        """
        with self._condition:
            self._open_documents.add(path)
            if self._implicit_root and not self._roots:
                self._adopt_root_of(path)
            root = self._innermost_root(path)
            if root is not None and root.open_files_only:
                self._queue.add_files(root.folder, [path], time.monotonic())
                self._condition.notify_all()

    def document_closed(self, path: Path) -> None:
        """Forget an open file."""
        with self._condition:
            self._open_documents.discard(path)

    def files_changed(self, paths: Iterable[Path]) -> None:
        """Files (or folders) were saved, created, changed or deleted: update them, debounced.

        Paths outside every folder and files of no indexed language are ignored. A changed
        .gitignore or .raglsignore changes which files count, so its folder gets a full run.
        """
        now = time.monotonic()
        with self._condition:
            for path in paths:
                root = self._innermost_root(path)
                if root is None or not _may_hold_source(path):
                    continue
                if root.open_files_only and path not in self._open_documents:
                    continue
                if path.name in (IGNORE_FILE_NAME, RAGLS_IGNORE_FILE_NAME):
                    self._queue.add_full_run(root.folder)
                else:
                    self._queue.add_files(root.folder, [path], now)
            self._condition.notify_all()

    # state -----------------------------------------------------------------------------
    def status(self) -> Status:
        """Counts and state over every folder; cheap (no model, a few SQLite counts)."""
        with self._condition:
            folders = list(self._roots)
            indexers = [root.indexer for root in self._roots.values() if root.indexer is not None]
            state = self._state()
            pending = self._queue.pending_files() + self._files_left_in_run()
            message = self._message(state)
            embedded = self._embedded_by_closed
            embedder = self._embedder
            settings = self._settings
        return Status(
            state=state,
            roots=folders,
            files=sum(indexer.store.file_count() for indexer in indexers),
            chunks=sum(indexer.store.chunk_count() for indexer in indexers),
            pending_files=pending,
            embedded_chunks=embedded + sum(indexer.embedded_by_this_process for indexer in indexers),
            model=settings.model,
            device=embedder.loaded_device,
            message=message,
        )

    # queries (blocking: run them in a thread pool) ----------------------------------------
    def search(self, query: str, limit: int = 10) -> SearchOutcome:
        """The functions of every folder that best match a query, best first."""
        query = check_query(query)
        check_limit(limit)
        self._raise_if_failed()
        roots = self._open_roots()
        ranking = None if self._embedder.loaded else "lexical"  # no waiting for the model
        # Every folder shares the one model: embed the query once, not once per folder.
        vector = roots[0].retriever.embed_query(query) if roots and ranking is None else None
        found = [
            Found(open_root.root.folder, hit.chunk, hit.score)
            for open_root in roots
            for hit in open_root.retriever.search(query, limit, ranking, query_vector=vector)
        ]
        found.sort(key=lambda item: item.score, reverse=True)
        return SearchOutcome(found[:limit], partial=self._is_partial() or ranking == "lexical")

    def related(self, path: Path, text: str, line: int, limit: int = 10) -> RelatedOutcome:
        """The function enclosing `line` of `text` (the editor's version of `path`), then the
        functions of every folder most like it."""
        check_limit(limit)
        self._raise_if_failed()
        root, chunks = self._chunks_of(path, text)
        symbol = enclosing_chunk(chunks, line)
        if symbol is None:
            return RelatedOutcome(None, [])
        return RelatedOutcome(Found(root.folder, symbol), self._related_to(root, symbol, limit))

    def hover(self, path: Path, text: str, line: int, character: int) -> HoverInfo | None:
        """The function whose name is at a position, and its closest relatives; None elsewhere.

        Never waits for the model: until it is loaded the hover has no related functions.
        """
        root, chunks = self._chunks_of(path, text)
        symbol = next(
            (c for c in chunks if c.kind not in (MODULE, WINDOW) and _touches(c.name_span, line, character)),
            None,
        )
        if symbol is None:
            return None
        ready = self._embedder.loaded and self._error is None
        related = self._related_to(root, symbol, HOVER_RELATED) if ready else []
        return HoverInfo(Found(root.folder, symbol), related, related_pending=not ready)

    def function_at(self, path: Path, text: str, line: int) -> tuple[Found, ExplanationCache]:
        """The function (or module/window chunk) enclosing `line` of the editor's `text`, with
        its folder's explanation cache; InvalidRequest when no chunk holds the line."""
        root, chunks = self._chunks_of(path, text)
        symbol = enclosing_chunk(chunks, line)
        if symbol is None:
            raise InvalidRequest(f"there is no code at line {line + 1} of {path.name} to explain")
        return Found(root.folder, symbol), self.explanation_cache(root.folder)

    def explain_context(self, path: Path, text: str, line: int) -> ExplainContext:
        """The function at `line` and the functions an explain prompt should show with it.

        Never waits for the model: until it is loaded only functions found by name are offered.
        """
        symbol, cache = self.function_at(path, text, line)
        with self._condition:
            root = self._root_of(path)
        ready = self._embedder.loaded and self._error is None
        related = self._related_to(root, symbol.chunk, PROMPT_RELATED) if ready else []
        callees = self._functions_called_by(symbol.chunk)
        callers = self._functions_calling(symbol.chunk)
        return ExplainContext(symbol, callees + related + callers, cache)

    def explanation_cache(self, folder: Path) -> ExplanationCache:
        """The explanation cache of a workspace folder (next to its index)."""
        with self._condition:
            location = cache_base(self._settings) / workspace_id(folder)
            if location not in self._explanation_caches:
                self._explanation_caches[location] = ExplanationCache(location)
            return self._explanation_caches[location]

    def symbols(self, query: str, limit: int = 50, semantic_limit: int = 20) -> list[Found]:
        """Functions whose name contains `query`; for a query of several words, then the best
        semantic matches that are not already listed."""
        query = query.strip()
        if not query:
            return []
        named = [
            Found(open_root.root.folder, stored.chunk)
            for open_root in self._open_roots()
            for stored in open_root.indexer.store.functions_named(query, limit)
        ]
        named.sort(key=lambda found: _name_rank(found.chunk.name, query))
        named = named[:limit]
        if len(query.split()) < 2 or self._error is not None:
            return named
        listed = {_identity(found) for found in named}
        semantic = [
            found
            for found in self.search(query, semantic_limit).results
            if found.chunk.kind not in (MODULE, WINDOW) and _identity(found) not in listed
        ]
        return named + semantic

    # worker ----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._condition:
                job = self._wait_for_job()
                if job is None:
                    return
                self._cancel = threading.Event()
                self._activity = _Activity(job)
            try:
                self._run(job)
            except Exception:  # a bug in one job must not end the worker
                log.exception("index job %s failed", job)
            finally:
                with self._condition:
                    self._activity = None
                    self._condition.notify_all()

    def _wait_for_job(self) -> Job | None:
        while not self._closing:
            job = self._queue.next_job(time.monotonic())
            if job is None:
                self._condition.wait()
            elif isinstance(job, float):
                self._condition.wait(max(job, 0.0))
            else:
                return job
        return None

    def _run(self, job: Job) -> None:
        if self._error is not None and isinstance(job, (FullRun, FileUpdate)):
            return  # without a model there is nothing to index with; new settings re-queue runs
        if isinstance(job, LoadModel):
            self._load_model()
        elif isinstance(job, CloseIndexer):
            _close_quietly(job.indexer)
        elif isinstance(job, FullRun):
            self._full_run(job.folder)
        else:
            self._update_files(job)

    def _load_model(self) -> None:
        embedder = self._embedder
        try:
            embedder.load()
        except EmbeddingError as exc:
            self._fail(str(exc))
        else:
            log.info("embedding model %s loaded on %s", embedder.model_id, embedder.loaded_device)

    def _full_run(self, folder: Path) -> None:
        opened = self._open(folder)
        if opened is None:
            return
        with self._condition:
            self._run_ids += 1
            run = IndexRun(self._run_ids, folder)
            self._activity.run = run
            first_run = not opened.root.indexed
            open_files = [path for path in self._open_documents if self._innermost_root(path) is opened.root]
            embedder, cancel = self._embedder, self._cancel
        self._listener.run_started(run)
        summary = "cancelled"
        try:
            with embedder.background(cancel, self._slice_done):
                if opened.root.open_files_only:
                    report = opened.indexer.update_files(open_files)
                else:
                    if first_run and open_files:
                        opened.indexer.update_files(open_files, save=False)  # index_all saves
                    report = opened.indexer.index_all(progress=self._progressed, cancel=cancel)
            with self._condition:
                opened.root.indexed = opened.root.indexer is opened.indexer
            for notice in report.notices:
                self._listener.notice(notice)
            summary = _summary(report)
            log.info("indexed %s: %s", folder, summary)
        except IndexCancelled:
            log.info("index run of %s cancelled", folder)
        except (EmbeddingError, StoreError, OSError) as exc:
            summary = f"failed: {exc}"
            self._fail(str(exc), opened.root)
        finally:
            self._listener.run_finished(run, summary)

    def _update_files(self, job: FileUpdate) -> None:
        with self._condition:
            root = self._roots.get(job.folder)
            if root is None or root.indexer is None or self._queue.full_run_waiting(job.folder):
                return  # the folder's coming full run reads these files anyway
            indexer, embedder, cancel = root.indexer, self._embedder, self._cancel
            self._activity.progress = Progress("parsing", files_total=len(job.paths))
        try:
            with embedder.background(cancel, self._slice_done):
                report = indexer.update_files(job.paths, save=False)
                indexer.save_index(older_than=INDEX_SAVE_SECONDS)
            for notice in report.notices:
                self._listener.notice(notice)
            log.info("updated %d files of %s: %s", len(job.paths), job.folder, _summary(report))
        except IndexCancelled:
            log.info("file update of %s cancelled", job.folder)
        except (EmbeddingError, StoreError, OSError) as exc:
            self._fail(str(exc), root)

    def _open(self, folder: Path) -> _OpenRoot | None:
        """The folder's root with its indexer, opened now if needed; None if the folder is gone."""
        with self._condition:
            root = self._roots.get(folder)
            if root is None or root.indexer is not None:
                return root and _OpenRoot(root, root.indexer, root.retriever)
            settings, embedder = self._settings_for(folder), self._embedder
        try:
            indexer = Indexer(folder, settings, embedder=embedder)
        except (EmbeddingError, StoreError, OSError) as exc:
            self._fail(f"cannot index {folder}: {exc}", root)
            return None
        with self._condition:
            if self._roots.get(folder) is not root or root.indexer is not None or self._closing:
                _close_quietly(indexer)
                return None
            root.indexer, root.retriever, root.indexed = indexer, Retriever(indexer), False
            return _OpenRoot(root, indexer, root.retriever)

    def _progressed(self, progress: Progress) -> None:
        with self._condition:
            activity = self._activity
            activity.progress, activity.slice_texts = progress, 0
        self._listener.run_progressed(activity.run, progress)

    def _slice_done(self, texts: int) -> None:
        with self._condition:
            activity = self._activity
            if activity is None or activity.run is None or activity.progress is None:
                return
            activity.slice_texts += texts
            if activity.progress.phase != "embedding":
                return
            live = activity.live_progress()
        self._listener.run_progressed(activity.run, live)

    def _fail(self, message: str, root: _Root | None = None) -> None:
        with self._condition:
            if self._cancel.is_set():  # the job was abandoned (new settings, closing): not news
                log.info("abandoned job failed: %s", message)
                return
            if root is None:
                self._error = message
            else:
                root.error = message
        log.error("%s", message)
        self._listener.problem(message)

    # helpers (callers hold the lock where noted) ------------------------------------------
    def _add_root(self, folder: Path) -> bool:
        """Register a folder and queue its first run; False if it was known already (lock held)."""
        if folder in self._roots:
            return False
        self._roots[folder] = _Root(folder)
        self._queue.add_full_run(folder)
        self._condition.notify_all()
        return True

    def _adopt_root_of(self, path: Path) -> None:
        """Make the folder of a file the workspace (lock held); see document_opened."""
        folder, how = implicit_root(path)
        broad = folder in (Path.home().resolve(), Path(folder.anchor))
        self._add_root(folder)
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

    def _settings_for(self, folder: Path) -> EngineSettings:
        """The settings of one folder's indexer: workspace folders inside it are left out, as they
        have their own index (else their functions would be indexed, and found, twice) (lock held)."""
        root = self._roots[folder]
        inside = sorted(rel for other in self._roots if other != folder and (rel := root.relative(other)))
        if not inside:
            return self._settings
        # Last, so that no user pattern can bring a nested folder back.
        patterns = tuple(_subtree_pattern(rel) for rel in inside)
        return replace(self._settings, ignore=(*self._settings.ignore, *patterns))

    def _rerun_folders_around(self, folder: Path) -> None:
        """Reopen and re-run the folders that contain `folder`: which files they own changed (lock held)."""
        for other, root in self._roots.items():
            if other != folder and root.relative(folder) is not None:
                self._cancel_run_of(other)
                self._retire(root)
                self._queue.add_full_run(other)

    def _retire(self, root: _Root) -> None:
        """Detach a root's indexer and queue its closing (lock held)."""
        if root.indexer is None:
            return
        self._embedded_by_closed += root.indexer.embedded_by_this_process
        self._queue.add_housekeeping(CloseIndexer(root.indexer))
        root.indexer, root.retriever, root.indexed = None, None, False

    def _cancel_run_of(self, folder: Path) -> None:
        """Cancel the running job if it works on `folder` (lock held)."""
        job = self._activity.job if self._activity else None
        if isinstance(job, (FullRun, FileUpdate)) and job.folder == folder:
            self._cancel.set()

    def _state(self) -> str:
        """(lock held)"""
        if self._error is not None or any(root.error for root in self._roots.values()):
            return ERROR
        job = self._activity.job if self._activity else None
        if not self._started or isinstance(job, LoadModel) or self._queue.loads_model():
            return STARTING
        if isinstance(job, (FullRun, FileUpdate)) or self._queue.has_index_work():
            return INDEXING
        return READY

    def _message(self, state: str) -> str | None:
        """What the user may want to read about the state (lock held)."""
        if state == ERROR:
            return self._error or next(root.error for root in self._roots.values() if root.error)
        if state == STARTING:
            return "loading the embedding model" if self._started else "waiting for the client"
        if self._implicit_root and not self._roots:
            return "no workspace folder from the editor: the first file opened chooses one"
        activity = self._activity
        if state != INDEXING or activity is None or not isinstance(activity.job, FullRun):
            return next((root.note for root in self._roots.values() if root.note), None)
        name = activity.job.folder.name or str(activity.job.folder)
        return f"indexing {name}: {describe_progress(activity.live_progress())}"

    def _files_left_in_run(self) -> int:
        """Files the running job has yet to read (lock held)."""
        progress = self._activity.progress if self._activity else None
        if progress is None or progress.phase != "parsing":
            return 0
        return max(progress.files_total - progress.files_done, 0)

    def _is_partial(self) -> bool:
        with self._condition:
            return self._state() != READY

    def _raise_if_failed(self) -> None:
        error = self._error
        if error is not None:
            raise EngineError(f"ragls cannot answer: {error}")

    def _open_roots(self) -> list[_OpenRoot]:
        with self._condition:
            return [
                _OpenRoot(root, root.indexer, root.retriever)
                for root in self._roots.values()
                if root.indexer is not None and root.retriever is not None
            ]

    def _innermost_root(self, path: Path) -> _Root | None:
        """(lock held)"""
        inside = [root for root in self._roots.values() if root.relative(path) is not None]
        return max(inside, key=lambda root: len(root.folder.parts), default=None)

    def _root_of(self, path: Path) -> _Root:
        """(lock held)"""
        root = self._innermost_root(path)
        if root is None:
            folders = ", ".join(str(folder) for folder in self._roots) or "none"
            raise OutsideRootsError(f"{os.path.normpath(path)} is outside every workspace folder (folders: {folders})")
        return root

    def _chunks_of(self, path: Path, text: str) -> tuple[_Root, list[Chunk]]:
        root, rel = self._request_file(path)
        data = text.encode("utf-8", "surrogatepass")
        self._check_size(rel, len(data))
        return root, chunk_source(rel, data, language_for_path(rel))

    def read_document(self, path: Path, open_text: str | None) -> str:
        """The text a request about `path` works on: the editor's `open_text` when the document
        is open, else the file on disk. Raises InvalidRequest (before anything is read) for a
        file outside every folder, even through a symlink, a secret, a file type ragls does not
        index, or one over the size limit."""
        root, rel = self._request_file(path)
        if open_text is not None:
            self._check_size(rel, len(open_text.encode("utf-8", "surrogatepass")))
            return open_text
        data = read_capped(path, self._settings.max_file_size, os.path.realpath(root.folder))
        if data is SkipReason.TOO_LARGE:
            self._check_size(rel, self._settings.max_file_size + 1)
        if data is SkipReason.NOT_A_FILE:
            raise InvalidRequest(f"unknown document {path}: it is not open and there is no such file")
        if isinstance(data, SkipReason):
            raise InvalidRequest(f"cannot read {path}: {_REASONS.get(data, data.value)}")
        return data.decode("utf-8", errors="replace")

    def _request_file(self, path: Path) -> tuple[_Root, str]:
        """The root and root-relative path of a file a request names, after the checks that
        keep ragls inside the workspace (see read_document)."""
        with self._condition:
            root = self._root_of(path)
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

    def _check_size(self, rel: str, size: int) -> None:
        limit = self._settings.max_file_size
        if size > limit:
            raise InvalidRequest(
                f"{rel} has {size:,} bytes, more than the maxFileSize setting ({limit:,}): ragls does not index it"
            )

    def _functions_called_by(self, symbol: Chunk) -> list[Found]:
        """Indexed functions whose name `symbol` calls (`name(`), first call first."""
        found: list[Found] = []
        own = _short_name(symbol.name)
        for name in dict.fromkeys(_CALL.findall(symbol.text)):
            if name == own or len(found) >= PROMPT_CALLEES:
                continue
            found.extend(self._named_exactly(name)[:1])
        return found[:PROMPT_CALLEES]

    def _functions_calling(self, symbol: Chunk) -> list[Found]:
        """Indexed functions whose text calls `symbol` by its short name."""
        own = _short_name(symbol.name)
        call = re.compile(rf"\b{re.escape(own)}\s*\(")
        found: list[Found] = []
        for open_root in self._open_roots():
            store = open_root.indexer.store
            ids = [chunk_id for chunk_id, _ in store.lexical_search(own, 30)]
            for stored in store.chunks_by_ids(ids).values():
                chunk = stored.chunk
                same = chunk.path == symbol.path and chunk.name == symbol.name
                if not same and chunk.kind not in (MODULE, WINDOW) and call.search(chunk.text):
                    found.append(Found(open_root.root.folder, chunk))
        return found[:PROMPT_CALLERS]

    def _named_exactly(self, name: str) -> list[Found]:
        return [
            Found(open_root.root.folder, stored.chunk)
            for open_root in self._open_roots()
            for stored in open_root.indexer.store.functions_named(name, 10)
            if _short_name(stored.chunk.name) == name
        ]

    def _related_to(self, home: _Root, symbol: Chunk, limit: int) -> list[Found]:
        found: list[Found] = []
        for open_root in self._open_roots():
            exclude = _ids_of_same_function(open_root.indexer, symbol) if open_root.root is home else set()
            hits = open_root.retriever.related_to(symbol, limit, exclude=exclude)
            found.extend(Found(open_root.root.folder, hit.chunk, hit.score) for hit in hits)
        found.sort(key=lambda item: item.score, reverse=True)
        return found[:limit]


_REASONS = {
    SkipReason.UNREADABLE: "permission denied",
    SkipReason.OUTSIDE_ROOT: "it leads outside the workspace",
}


def implicit_root(path: Path) -> tuple[Path, str]:
    """The folder to index for a file opened with no workspace folder: the git work tree it is
    in, else its own folder; and which of the two it is."""
    folder = Path(os.path.realpath(path)).parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate, "the git work tree"
    return folder, "the folder"


def _subtree_pattern(relative: str) -> str:
    """A gitignore pattern that matches exactly the folder `relative` (to the root) and all below."""
    escaped = re.sub(r"([\\*?\[\]!#])", r"\\\1", relative)
    return f"/{escaped}/"


def _shared_embedder(settings: EngineSettings) -> SharedEmbedder:
    return SharedEmbedder(
        lambda: SentenceTransformerEmbedder(settings.model, settings.device, settings.batch_size)
    )


def _ids_of_same_function(indexer: Indexer, symbol: Chunk) -> set[int]:
    """The stored versions of the function itself, which must not count as related to it."""
    stored = indexer.store.chunks_of_file(symbol.path)
    return {s.id for s in stored if s.chunk.name == symbol.name and s.chunk.kind == symbol.kind}


_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def _short_name(qualified: str) -> str:
    """`add_item` for `Cart.add_item` (also `Type::fn`, `Mod::Class#method`)."""
    return re.split(r"\.|::|#", qualified)[-1]


def _touches(span: Span, line: int, character: int) -> bool:
    """True when a position is inside the span or just after its last character."""
    after_start = (line, character) >= (span.start_line, span.start_col)
    before_end = (line, character) <= (span.end_line, span.end_col)
    return after_start and before_end


def _may_hold_source(path: Path) -> bool:
    """False for existing files that are of no indexed language (and not ignore files)."""
    if path.name in (IGNORE_FILE_NAME, RAGLS_IGNORE_FILE_NAME) or language_for_path(path) is not None:
        return True
    return not path.is_file()  # a folder, or something deleted: the indexer sorts it out


def _name_rank(name: str, query: str) -> tuple[bool, bool, int, str]:
    lowered, wanted = name.lower(), query.lower()
    return (lowered != wanted, not lowered.endswith(wanted), len(name), name)


def _identity(found: Found) -> tuple[Path, str, Span]:
    return found.folder, found.chunk.path, found.chunk.span


def _summary(report: IndexReport) -> str:
    return (
        f"{report.files} files, {report.chunks} chunks ({report.files_changed} files changed, "
        f"{report.files_removed} removed, {report.embedded} chunks embedded) in {report.seconds:.1f}s"
    )


def describe_progress(progress: Progress | None) -> str:
    """What a run is doing, in a few words: `120/300 files read`."""
    if progress is None or progress.phase == "scanning":
        return "looking for files"
    if progress.phase == "parsing":
        return f"{progress.files_done}/{progress.files_total} files read"
    if progress.phase == "embedding":
        return f"{progress.chunks_done}/{progress.chunks_total} functions embedded"
    return "saving the index"


def _close_quietly(indexer: Indexer) -> None:
    try:
        indexer.close()
    except Exception:  # closing is best effort: the store and index survive a crash anyway
        log.warning("closing the index of %s failed", indexer.root, exc_info=True)
