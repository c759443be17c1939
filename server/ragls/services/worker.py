"""The index worker: one thread that runs every index job, and the state it puts the engine in.

Jobs run in the order of `jobs.JobQueue`: the model first, then saved files (debounced), then
full runs of folders. A folder's first run indexes the files open in the editor before the rest;
a folder too broad to walk (see roots.py) indexes only its open files. Each run gets a
`RunContext` (cancel + progress) from here, passed down to the indexer. Events for the owner
(progress of a run, problems the user must see) go to an `EngineListener`, on this thread.

`Worker._condition` guards the queue, the running job and its cancel event, the model error and
the counters. A caller holding it may take `Roots.lock`; nothing takes them the other way round.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ragls.core.embedding import EmbeddingError
from ragls.core.indexer import IndexReport
from ragls.core.run import IndexCancelled, Progress, RunContext, describe_progress
from ragls.core.store import StoreError
from ragls.services.embedder import SharedEmbedder
from ragls.services.jobs import CloseIndexer, FileUpdate, FullRun, Job, JobQueue, LoadModel
from ragls.services.roots import OpenRoot, Root, Roots, close_quietly

log = logging.getLogger(__name__)

STARTING, INDEXING, READY, ERROR = "starting", "indexing", "ready", "error"
JOIN_SECONDS = 5.0  # how long close() waits for the worker to stop
# Saves of single files write the vector index at most this often; full runs and close() always
# write it. A large index is hundreds of MB to rewrite and checksum.
INDEX_SAVE_SECONDS = 60.0


@dataclass(frozen=True)
class IndexRun:
    """One full run of one folder, as listeners see it."""

    id: int
    folder: Path


class EngineListener:
    """What the worker reports to its owner, on the worker thread. These defaults do nothing."""

    def run_started(self, run: IndexRun) -> None:
        """A full run began."""

    def run_progressed(self, run: IndexRun, progress: Progress) -> None:
        """A full run moved on (called often: throttle before sending anything)."""

    def run_finished(self, run: IndexRun, report: IndexReport | None, summary: str) -> None:
        """A full run ended: `report` when it completed; `summary` says how it ended."""

    def problem(self, message: str) -> None:
        """Something the user must know: the model cannot load, a folder cannot be indexed."""

    def notice(self, message: str) -> None:
        """Something the user should hear once: a damaged index was set aside and rebuilt."""


@dataclass
class _Activity:
    """What the worker is doing now."""

    job: Job
    run: IndexRun | None = None
    progress: Progress | None = None


class Worker:
    """Runs index jobs on its own thread; every other method returns at once."""

    def __init__(self, roots: Roots, listener: EngineListener, debounce_seconds: float, lower_priority: bool = False,
                 strict_base: bool = False):
        """`strict_base`: a base index that cannot be used fails the folder's run (the CLI)
        instead of being reported while the folder is indexed on its own (the server)."""
        self.roots = roots
        self._strict_base = strict_base
        self._listener = listener
        self._condition = threading.Condition()
        self._queue = JobQueue(debounce_seconds)
        self._activity: _Activity | None = None
        self._cancel = threading.Event()
        self._model_error: str | None = None
        self._run_ids = 0
        self._started = False
        self._closing = False
        self.embedded_by_closed = 0  # chunks embedded by indexers closed since the start
        self._lower_priority = lower_priority
        self._thread = threading.Thread(target=self._work, name="ragls-index-worker", daemon=True)

    # control ----------------------------------------------------------------------------------
    def start(self, preload_model: bool = True) -> None:
        """Start the thread; with `preload_model`, load the model before any run."""
        with self._condition:
            if preload_model:
                self._queue.add_housekeeping(LoadModel())
            self._started = True
        self._thread.start()

    def close(self) -> bool:
        """Stop the thread (cancelling a run) and close the indexers still waiting to be closed;
        False when the thread did not stop in a few seconds."""
        with self._condition:
            self._closing = True
            self._cancel.set()
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(JOIN_SECONDS)
        if self._thread.is_alive():
            log.warning("the index worker did not stop in %.0f s; leaving it", JOIN_SECONDS)
            return False
        with self._condition:
            retired = self._queue.take_closings()
        for job in retired:
            close_quietly(job.indexer)
        return True

    def load_model(self) -> None:
        """Queue a model load (new settings) and forget the last model error."""
        with self._condition:
            self._model_error = None
            self._queue.add_housekeeping(LoadModel())
            self._condition.notify_all()

    def full_run(self, folder: Path) -> None:
        """Queue a full run of a folder."""
        with self._condition:
            self._queue.add_full_run(folder)
            self._condition.notify_all()

    def files_changed(self, folder: Path, paths: Iterable[Path]) -> None:
        """Queue changed files of a folder (debounced)."""
        with self._condition:
            self._queue.add_files(folder, list(paths), time.monotonic())
            self._condition.notify_all()

    def forget(self, folder: Path) -> None:
        """Drop what is queued for a folder and cancel its running job."""
        with self._condition:
            self._queue.drop_folder(folder)
            self.cancel_run_of(folder)
            self._condition.notify_all()

    def cancel_run_of(self, folder: Path) -> None:
        """Cancel the running job if it works on `folder`."""
        with self._condition:
            job = self._activity.job if self._activity else None
            if isinstance(job, (FullRun, FileUpdate)) and job.folder == folder:
                self._cancel.set()

    def cancel_index_job(self) -> None:
        """Cancel the running job unless it is closing an indexer (new settings)."""
        with self._condition:
            if self._activity is not None and not isinstance(self._activity.job, CloseIndexer):
                self._cancel.set()

    def retire(self, root: Root) -> None:
        """Detach a root's indexer and queue its closing (its counts are kept)."""
        indexer = self.roots.detach(root)
        if indexer is None:
            return
        with self._condition:
            self.embedded_by_closed += indexer.embedded_by_this_process
            self._queue.add_housekeeping(CloseIndexer(indexer))
            self._condition.notify_all()

    def set_debounce(self, seconds: float) -> None:
        """How long file events must be quiet before their update runs."""
        with self._condition:
            self._queue.debounce_seconds = seconds

    def clear_model_error(self) -> None:
        """Forget a model error (a reindex asks for another try)."""
        with self._condition:
            self._model_error = None

    # state ------------------------------------------------------------------------------------
    @property
    def model_error(self) -> str | None:
        """Why the model cannot be used, or None."""
        return self._model_error

    def state(self) -> tuple[str, str | None, int]:
        """(state, what the user may want to read about it, files waiting to be read)."""
        with self._condition:
            state = self._state()
            return state, self._message(state), self._queue.pending_files() + self._files_left_in_run()

    def wait_until_idle(self) -> str:
        """Block until no job is queued or running; returns the state then (READY or ERROR)."""
        with self._condition:
            while (state := self._state()) not in (READY, ERROR) or self._activity is not None:
                self._condition.wait(0.5)
            return state

    def _state(self) -> str:
        """(lock held)"""
        if self._model_error is not None or any(root.error for root in self.roots.all()):
            return ERROR
        job = self._activity.job if self._activity else None
        if not self._started or isinstance(job, LoadModel) or self._queue.loads_model():
            return STARTING
        if isinstance(job, (FullRun, FileUpdate)) or self._queue.has_index_work():
            return INDEXING
        return READY

    def _message(self, state: str) -> str | None:
        """(lock held)"""
        roots = self.roots.all()
        if state == ERROR:
            return self._model_error or next(root.error for root in roots if root.error)
        if state == STARTING:
            return "loading the embedding model" if self._started else "waiting for the client"
        activity = self._activity
        if state == INDEXING and activity is not None and isinstance(activity.job, FullRun):
            name = activity.job.folder.name or str(activity.job.folder)
            return f"indexing {name}: {describe_progress(activity.progress)}"
        return next((root.note for root in roots if root.note), None)

    def _files_left_in_run(self) -> int:
        """(lock held)"""
        progress = self._activity.progress if self._activity else None
        if progress is None or progress.phase != "parsing":
            return 0
        return max(progress.files_total - progress.files_done, 0)

    # the thread -------------------------------------------------------------------------------
    def _work(self) -> None:
        if self._lower_priority:
            lower_this_threads_priority()
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
        """(lock held)"""
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
        if self._model_error is not None and isinstance(job, (FullRun, FileUpdate)):
            return  # without a model there is nothing to index with; new settings re-queue runs
        if isinstance(job, LoadModel):
            self._load_model()
        elif isinstance(job, CloseIndexer):
            close_quietly(job.indexer)
        elif isinstance(job, FullRun):
            self._full_run(job.folder)
        else:
            self._update_files(job)

    def _load_model(self) -> None:
        embedder: SharedEmbedder = self.roots.embedder
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
            context = RunContext(self._cancel, self._progressed)
        open_files = [path for path in self.roots.open_documents() if self.roots.innermost(path) is opened.root]
        self._listener.run_started(run)
        report, summary = None, "cancelled"
        try:
            report = self._index_folder(opened, open_files, context)
            with self.roots.lock:
                opened.root.indexed = opened.root.indexer is opened.indexer
            for notice in report.notices:
                self._listener.notice(notice)
            summary = report.summary()
            log.info("indexed %s: %s", folder, summary)
        except IndexCancelled:
            log.info("index run of %s cancelled", folder)
        except (EmbeddingError, StoreError, OSError) as exc:
            summary = f"failed: {exc}"
            self._fail(str(exc), opened.root)
        finally:
            self._listener.run_finished(run, report, summary)

    def _index_folder(self, opened: OpenRoot, open_files: list[Path], context: RunContext) -> IndexReport:
        indexer = opened.indexer
        if opened.root.open_files_only:
            return indexer.update_files(open_files, context)
        if not opened.root.indexed and open_files:
            indexer.update_files(open_files, context, save=False)  # the full run saves
        return indexer.index_all(context)

    def _update_files(self, job: FileUpdate) -> None:
        root = self.roots.get(job.folder)
        indexer = root.indexer if root is not None else None
        with self._condition:
            if indexer is None or self._queue.full_run_waiting(job.folder):
                return  # the folder's coming full run reads these files anyway
            context = RunContext(self._cancel, self._progressed)
        try:
            report = indexer.update_files(job.paths, context, save=False)
            indexer.save_index(older_than=INDEX_SAVE_SECONDS)
            for notice in report.notices:
                self._listener.notice(notice)
            log.info("updated %d files of %s: %s", len(job.paths), job.folder, report.summary())
        except IndexCancelled:
            log.info("file update of %s cancelled", job.folder)
        except (EmbeddingError, StoreError, OSError) as exc:
            self._fail(str(exc), root)

    def _open(self, folder: Path) -> OpenRoot | None:
        try:
            opened = self.roots.open(folder)
        except (EmbeddingError, StoreError, OSError) as exc:
            self._fail(f"cannot index {folder}: {exc}", self.roots.get(folder))
            return None
        if opened is not None and opened.opened_now and opened.root.base_problem:
            if self._strict_base:
                self._fail(opened.root.base_problem, opened.root)
                return None
            # Said once per opening; the folder is indexed on its own meanwhile.
            self._listener.problem(f"{folder}: {opened.root.base_problem}")
        return opened

    def _progressed(self, progress: Progress) -> None:
        with self._condition:
            activity = self._activity
            activity.progress = progress
        if activity.run is not None:
            self._listener.run_progressed(activity.run, progress)

    def _fail(self, message: str, root: Root | None = None) -> None:
        with self._condition:
            if self._cancel.is_set():  # the job was abandoned (new settings, closing): not news
                log.info("abandoned job failed: %s", message)
                return
            if root is None:
                self._model_error = message
            else:
                with self.roots.lock:
                    root.error = message
            self._condition.notify_all()
        log.info("failed: %s", message)  # the listener shows it to the user
        self._listener.problem(message)


BACKGROUND_NICENESS = 10  # how much lower than the editor's the index thread's priority is


def lower_this_threads_priority() -> None:
    """Give the calling thread (and the threads it starts, such as the model's) a lower CPU
    priority, where the platform sets one per thread (Linux); elsewhere nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(current + BACKGROUND_NICENESS, 19))
    except OSError as exc:
        log.info("cannot lower the index thread's priority: %s", exc)
