"""The pipeline of one workspace root: files -> chunks -> embeddings -> vector index.

The SQLite store is the truth about which chunks exist; the vector index mirrors it (labels are
chunk ids). Every run ends by making the index match the store: vectors come from the embedding
cache when the content was embedded before, from the model otherwise. An interrupted run, a lost
index or a crash therefore costs nothing that was already embedded.

A run gets a `RunContext` from its owner (the server's worker, the CLI): progress goes out
through it, and cancellation is checked through it between files and between model batches.

All methods are blocking: callers on an event loop run them in a worker thread. Searches may run
from other threads while an index run is in progress; they see what is indexed so far.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ragls.core.base import BaseIndex, BaseSummary, LayeredReader, LayeredVectors
from ragls.core.chunk import EMBED_TEXT_FORMAT, Chunk
from ragls.core.chunking import chunk_source
from ragls.core.embedding import Embedder
from ragls.core.run import Progress, RunContext
from ragls.core.settings import EngineSettings, cache_base, make_embedder
from ragls.core.store import FileState, Store, StoreCorrupt, StoredChunk, StoreReadOnly
from ragls.core.vector_index import IndexLoadError, IndexMeta, VectorIndex
from ragls.core.workspace import SkipReason, SourceFile, WalkOptions, Workspace, root_relative, workspace_id

log = logging.getLogger(__name__)

EMBED_BATCH = 256  # chunks embedded between two commits of the embedding cache
STORE_NAME = "store.sqlite3"
BASE_META = "base_index"  # store meta: the bundle file this index is the overlay of
# Provisional, until measured on a GPU (bench/gpu_graph.py): below this many vectors hnswlib's
# own insertion is fast enough that a rebuilt index is not worth building on the GPU.
GPU_BUILD_MIN_ELEMENTS = 50_000


@dataclass
class IndexReport:
    """What an index run did."""

    files: int = 0
    files_changed: int = 0
    files_removed: int = 0
    chunks: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    embedded: int = 0
    cache_hits: int = 0
    index_rebuilt: bool = False
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    notices: list[str] = field(default_factory=list)  # what the user should hear about the run
    # Where the time went: "parse" (read, chunk, store the chunks), "embed" (the model),
    # "cache" (store the vectors), "index" (hnswlib), "save" (write the index).
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, stage: str) -> _Stage:
        """`with report.timed("embed"):` adds the block's time to `stage_seconds[stage]`."""
        return _Stage(self.stage_seconds, stage)

    def as_dict(self) -> dict:
        """Plain data for JSON output."""
        return asdict(self)

    def summary(self) -> str:
        """The run in one line: `40 files, 1200 chunks (3 files changed, 0 removed, 12 chunks
        embedded, 4 from cache) in 9.5s`."""
        rate = f", {self.embedded / self.seconds:.1f} chunks/s" if self.embedded and self.seconds else ""
        return (
            f"{self.files} files, {self.chunks} chunks ({self.files_changed} files changed, "
            f"{self.files_removed} removed, {self.embedded} chunks embedded, {self.cache_hits} from cache"
            f"{rate}) in {self.seconds:.1f}s"
        )


@dataclass(frozen=True)
class GraphBuild:
    """When a rebuilt vector index is built by ragls.core.gpu_graph (torch exact k-NN and HNSW's
    neighbour selection) instead of hnswlib's one-by-one insertion: from `min_elements` vectors,
    on `device` ("cuda", "auto" = CUDA when torch sees one, "cpu" to force it; None: never)."""

    device: str | None = "auto"
    min_elements: int = GPU_BUILD_MIN_ELEMENTS

    @classmethod
    def for_settings(cls, settings: EngineSettings) -> GraphBuild:
        """Builds on the device the settings ask for; never when they ask for the CPU."""
        return cls(None if settings.device == "cpu" else settings.device)

    def device_for(self, count: int) -> str | None:
        """The torch device to build an index of `count` vectors on, or None for hnswlib."""
        if self.device is None or count < self.min_elements:
            return None
        if self.device == "cpu":
            return "cpu"
        from ragls.core.gpu_graph import should_build_on_gpu

        return "cuda" if should_build_on_gpu(count, self.device) else None


@dataclass(frozen=True)
class IndexInfo:
    """What is in a root's index, read without the model."""

    root: Path
    cache_dir: Path
    files: int
    chunks: int
    index_bytes: int
    last_run: dict | None  # the last full run's report, device and time, as recorded
    base: BaseSummary | None = None  # the base index, when there is one
    overlay_chunks: int = 0  # the chunks of this index's own (all of them without a base)


class Indexer:
    """Indexes one root into its cache folder and keeps the index in step with the files."""

    def __init__(
        self,
        root: Path,
        settings: EngineSettings | None = None,
        embedder: Embedder | None = None,
        create: bool = True,
        graph_build: GraphBuild | None = None,
    ):
        """Open the index of `root`; with `create` False, StoreMissing when there is none yet.

        `embedder` embeds the chunks (the services pass their shared model's background view).
        A base index (core/base.py) is given with `use_base`.
        """
        self.settings = settings or EngineSettings()
        self.workspace = Workspace(
            Path(root),
            WalkOptions(max_file_size=self.settings.max_file_size, ignore=tuple(self.settings.ignore)),
        )
        self.root = self.workspace.root
        self.cache_dir = cache_base(self.settings) / workspace_id(self.root)
        self.notices: list[str] = []  # said once, by the next run's report
        self.store = self._open_store(create)
        self.embedder = embedder or make_embedder(self.settings)
        self.graph_build = graph_build or GraphBuild.for_settings(self.settings)
        self.base: BaseIndex | None = None
        self.embedded_by_this_process = 0
        self._index: VectorIndex | None = None
        self._dirty_since: float | None = None  # when the index first changed since its last save
        self._index_rebuilt = False
        self._rebuilt_from_cache = 0  # vectors a rebuild took from the cache, for the next report
        # Guards the store/index pair while a file's chunks change, so that a search never sees
        # a chunk that is in one and not yet (or no longer) in the other; and the index object.
        self._lock = threading.RLock()

    @property
    def model_id(self) -> str:
        """The id embeddings of this indexer are cached under: the model, and the form of the
        text it embeds (core.chunk.EMBED_TEXT_FORMAT), so that vectors of another form never mix."""
        return vector_key(self.embedder.model_id)

    @property
    def read_only(self) -> bool:
        """True when the cache folder cannot be written: queries work, runs raise StoreReadOnly."""
        return self.store.read_only

    def close(self) -> None:
        """Save pending index changes and close the store (and the base's)."""
        with self._lock:
            self.save_index()
            self.store.close()
            if self.base is not None:
                self.base.close()

    # public runs --------------------------------------------------------------------------
    def index_all(self, run: RunContext | None = None) -> IndexReport:
        """Bring the whole root up to date: new and changed files in, deleted files out.

        A store found damaged on the way is set aside and the run starts over on a new one.
        """
        run = run or RunContext()
        report = self._recovering(lambda: self._index_all(run))
        self._record_last_run(report)
        return report

    def update_files(self, paths: Iterable[Path | str], run: RunContext | None = None, save: bool = True) -> IndexReport:
        """Re-read just these files: changed functions are embedded, deleted files leave the index.

        Paths may be absolute or root-relative. A path that is now ignored, binary, too large or
        gone is removed from the index. A damaged store is rebuilt with a full run.
        """
        paths, run = list(paths), run or RunContext()
        try:
            return self._recovering(lambda: self._update_files(paths, run, save), retry=False)
        except StoreCorrupt:
            return self.index_all(run)

    def save_index(self, older_than: float = 0.0) -> None:
        """Write the vector index to disk if it changed since the last save.

        With `older_than`, only when the first unsaved change is at least that many seconds old:
        frequent small updates then cost one save a while, not one each. Skipping a save loses
        nothing: on load the index is brought back in step with the store from cached vectors.
        """
        with self._lock:
            if self._index is None or self._dirty_since is None or self.read_only:
                return
            if time.monotonic() - self._dirty_since >= older_than:
                self._index.save(self.cache_dir)
                self._dirty_since = None

    def vector_index(self) -> VectorIndex:
        """The loaded vector index (loaded, or rebuilt from the cache, on first use)."""
        with self._lock:
            if self._index is None:
                self._index = self._open_index()
            return self._index

    def info(self) -> IndexInfo:
        """Counts and where things are, without loading the model."""
        last_run = self.store.get_meta("last_run")
        return IndexInfo(
            root=self.root,
            cache_dir=self.cache_dir,
            files=self.store.file_count(),
            chunks=self.reader.chunk_count(),
            index_bytes=sum(path.stat().st_size for path in self.cache_dir.glob("index-*.hnsw")),
            last_run=json.loads(last_run) if last_run else None,
            base=self.base.summary() if self.base is not None else None,
            overlay_chunks=self.store.chunk_count(),
        )

    # runs ---------------------------------------------------------------------------------
    def _recovering(self, work: Callable[[], IndexReport], retry: bool = True) -> IndexReport:
        if self.read_only:
            raise StoreReadOnly(f"cache directory is read-only: {self.cache_dir} (search works, indexing cannot)")
        try:
            report = work()
        except StoreCorrupt as exc:
            self._set_store_aside(exc)
            if not retry:
                raise
            report = work()
        report.notices, self.notices = self.notices + report.notices, []
        return report

    def _index_all(self, run: RunContext) -> IndexReport:
        started = time.monotonic()
        report = IndexReport()
        run.report(Progress("scanning"))
        files = list(self.workspace.files())
        known = self.store.file_states()
        found = {file.rel for file in files}
        for rel in sorted(known.keys() - found):
            report.chunks_removed += self._forget_file(rel)
            report.files_removed += 1
        changed = [file for file in files if self._changed(file, known.get(file.rel))]
        for done, file in enumerate(changed, start=1):
            run.check()
            with report.timed("parse"):
                self._reindex_file(file, report)
            run.report(Progress("parsing", files_done=done, files_total=len(changed)))
        report.files_changed = len(changed)
        self._sync_vectors(report, run)
        self.store.prune_vectors(self.model_id)
        self._finish(report, started, run)
        report.skipped = {reason.value: count for reason, count in self.workspace.skipped().items()}
        return report

    def _update_files(self, paths: list[Path | str], run: RunContext, save: bool) -> IndexReport:
        started = time.monotonic()
        report = IndexReport()
        expanded = self._expand_folders(paths)
        for done, path in enumerate(expanded, start=1):
            run.check()
            verdict = self.workspace.classify(Path(path))
            if isinstance(verdict, SourceFile):
                self._reindex_file(verdict, report)
                report.files_changed += 1
            else:
                rel = root_relative(self.root, path)
                if rel is not None and self.store.file_state(rel) is not None:
                    report.chunks_removed += self._forget_file(rel)
                    report.files_removed += 1
            run.report(Progress("parsing", files_done=done, files_total=len(expanded)))
        self._sync_vectors(report, run)
        self._finish(report, started, run, save=save)
        return report

    def _expand_folders(self, paths: Iterable[Path | str]) -> list[Path]:
        """Paths to files; a folder (existing or deleted) stands for every file under it.

        File watchers report `rm -r src/old` or a branch switch that adds a folder as one event
        for the folder. Its indexed files are re-checked (gone ones leave the index) and, when it
        exists, the walk finds its new files.
        """
        expanded: list[Path] = []
        for path in map(Path, paths):
            absolute = path if path.is_absolute() else self.root / path
            rel = root_relative(self.root, absolute)
            if rel is None or absolute.is_file() or rel == "":
                expanded.append(absolute)
                continue
            known = self.store.paths_under(rel)
            expanded.extend(self.root / child for child in known)
            if absolute.is_dir():
                prefix = rel + "/"
                expanded.extend(f.path for f in self.workspace.files() if f.rel.startswith(prefix))
            elif not known:
                expanded.append(absolute)
        return list(dict.fromkeys(expanded))

    def _forget_file(self, rel: str) -> int:
        with self._lock:
            ids = self.store.remove_file(rel)
            self._delete_from_index(ids)
            if self.base is not None:
                self.base.set_file_visible(rel, False)
        return len(ids)

    def _reindex_file(self, file: SourceFile, report: IndexReport) -> None:
        """Re-chunk one file and record the difference in the store and the report. A file as
        the base index has it keeps no chunks here: they are the base's."""
        source = self.workspace.read(file)
        if isinstance(source, SkipReason):
            if self.store.file_state(file.rel):
                report.chunks_removed += self._forget_file(file.rel)
            return
        digest = file_digest(source)
        from_base = self.base is not None and self.base.file_hash(file.rel) == digest
        chunks = [] if from_base else chunk_source(file.rel, source, file.language)
        with self._lock:
            old = self.store.chunks_of_file(file.rel)
            keep, add, drop = _diff_chunks(old, chunks)
            state = FileState(file.rel, file.language, file.size, file.mtime_ns, digest, from_base)
            self.store.replace_file(state, keep, add, drop)
            self._delete_from_index(drop)
            if self.base is not None:
                self.base.set_file_visible(file.rel, from_base)
        report.chunks_added += len(add)
        report.chunks_removed += len(drop)

    def _finish(self, report: IndexReport, started: float, run: RunContext, save: bool = True) -> None:
        if save:
            run.report(Progress("saving"))
            with report.timed("save"):
                self.save_index()
        report.files = self.store.file_count()
        report.chunks = self.reader.chunk_count()
        report.index_rebuilt = self._index_rebuilt
        report.seconds = round(time.monotonic() - started, 3)

    def _record_last_run(self, report: IndexReport) -> None:
        """Remember the run for `ragls status`; a run that embedded nothing never loaded the
        model, so the device of the last run that did is kept."""
        previous = json.loads(self.store.get_meta("last_run") or "{}")
        loaded = bool(self.embedder.loaded_device)
        device = self.embedder.loaded_device or previous.get("device") or ""
        backend = self.embedder.backend if loaded else previous.get("backend", "")
        summary = {**report.as_dict(), "device": device, "backend": backend,
                   "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        self.store.set_meta("last_run", json.dumps(summary))

    def _changed(self, file: SourceFile, known: FileState | None) -> bool:
        """Whether a file must be read again: new, touched, or its base changed (a file may now
        be the base's, or no longer)."""
        if known is None or not known.content_hash:  # stores from before content hashes: hash once
            return True
        if (known.size, known.mtime_ns, known.language) != (file.size, file.mtime_ns, file.language):
            return True
        base_hash = self.base.file_hash(file.rel) if self.base is not None else None
        return known.from_base != (base_hash is not None and base_hash == known.content_hash)

    # the base index ---------------------------------------------------------------------------
    def use_base(self, base: BaseIndex | None) -> None:
        """Make `base` the read-only base of this index from now on (None: no base), and
        remember its file for the next opening. The next run brings the files in line with it."""
        with self._lock:
            if self.base is not None and self.base is not base:
                self.base.close()
            self.base = base
            remembered = str(base.path) if base is not None else ""
            if not self.read_only and (self.store.get_meta(BASE_META) or "") != remembered:
                self.store.set_meta(BASE_META, remembered)
            self._show_base()

    @property
    def remembered_base(self) -> Path | None:
        """The bundle this index was last the overlay of, or None."""
        value = self.store.get_meta(BASE_META)
        return Path(value) if value else None

    @property
    def reader(self):
        """What queries read chunks from: the store, or the store layered over the base."""
        return LayeredReader(self.store, self.base) if self.base is not None else self.store

    def search_vectors(self):
        """What queries search vectors in: the index, or the index layered over the base's."""
        index = self.vector_index()
        return LayeredVectors(index, self.base) if self.base is not None else index

    def _show_base(self) -> None:
        """Tell the base which of its files the working copy has as they are."""
        if self.base is not None:
            self.base.set_visible(
                path for path, state in self.store.file_states().items()
                if state.from_base and self.base.file_hash(path) == state.content_hash
            )

    # vectors ------------------------------------------------------------------------------
    def _delete_from_index(self, ids: list[int]) -> None:
        if ids and self._index is not None:
            self._index.delete(ids)
            self._mark_dirty()

    def _mark_dirty(self) -> None:
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()

    def _open_index(self) -> VectorIndex:
        meta = IndexMeta(model_id=self.model_id, dim=self.dim, store_id=self.store.store_id)
        try:
            return VectorIndex.load(self.cache_dir, meta)
        except IndexLoadError as exc:
            log.info("building a new vector index (%s)", exc)
            self._index_rebuilt = True
            self._mark_dirty()
            return self._rebuild_index(meta)

    def _rebuild_index(self, meta: IndexMeta) -> VectorIndex:
        """A new index of every chunk whose vector is cached (no model needed); the run's sync
        embeds the rest. Large rebuilds on a GPU use ragls.core.gpu_graph (see GraphBuild)."""
        hashes = self.store.chunk_hashes()
        cached = self.reader.cached_vectors(self.model_id, hashes.values())
        labels = [chunk_id for chunk_id, digest in hashes.items() if digest in cached]
        vectors = np.stack([cached[hashes[i]] for i in labels]) if labels else np.zeros((0, meta.dim), np.float32)
        self._rebuilt_from_cache = len(labels)
        device = None if self.read_only else self.graph_build.device_for(len(labels))
        if device is not None:
            from ragls.core.gpu_graph import build_vector_index

            log.info("building the vector index of %d chunks with the graph builder on %s", len(labels), device)
            index, _ = build_vector_index(self.cache_dir, meta, np.asarray(labels), vectors, device=device)
            self._dirty_since = None  # saved by the builder
            return index
        index = VectorIndex.create(meta, capacity=max(1024, self.store.chunk_count()))
        if labels:
            index.add(labels, vectors)
        return index

    @property
    def dim(self) -> int:
        """The length of this index's vectors: the model's, remembered so that opening an index
        needs no model (a base's, when there is one)."""
        key = f"dim:{self.model_id}"
        known = self.store.get_meta(key)
        if known is None:
            known = str(self.base.manifest.dim if self.base is not None else self.embedder.dim)
            if not self.read_only:
                self.store.set_meta(key, known)
        return int(known)

    def _sync_vectors(self, report: IndexReport, run: RunContext) -> None:
        """Make the index hold exactly one vector per stored chunk."""
        index = self.vector_index()
        report.cache_hits += self._rebuilt_from_cache
        self._rebuilt_from_cache = 0
        with self._lock:
            ids = self.store.chunk_ids()
            labels = index.labels()
            self._delete_from_index(sorted(labels - ids))
            missing = self.store.chunk_hashes(ids - labels)
        if not missing:
            return
        cached = self.reader.cached_vectors(self.model_id, missing.values())  # the base's too
        self._add_vectors({i: cached[h] for i, h in missing.items() if h in cached})
        report.cache_hits += sum(1 for h in missing.values() if h in cached)
        self._embed_missing({i: h for i, h in missing.items() if h not in cached}, report, run)

    def _embed_missing(self, to_embed: dict[int, str], report: IndexReport, run: RunContext) -> None:
        """Embed chunks by unique content, longest first so batches pad little."""
        if not to_embed:
            return
        stored = self.store.chunks_by_ids(sorted(to_embed))
        text_by_hash = {s.chunk.content_hash: s.chunk.embed_text for s in stored.values()}
        ordered = sorted(text_by_hash, key=lambda h: len(text_by_hash[h]), reverse=True)
        ids_by_hash: dict[str, list[int]] = {}
        for chunk_id, digest in to_embed.items():
            ids_by_hash.setdefault(digest, []).append(chunk_id)
        run.report(Progress("embedding", chunks_total=len(ordered)))
        for start in range(0, len(ordered), EMBED_BATCH):
            batch = ordered[start : start + EMBED_BATCH]
            with report.timed("embed"):
                vectors = self._embed_in_slices([text_by_hash[h] for h in batch], run, start, len(ordered))
            by_hash = dict(zip(batch, vectors))
            with report.timed("cache"):
                self.store.cache_vectors(self.model_id, by_hash)
            with report.timed("index"):
                self._add_vectors({i: by_hash[h] for h in batch for i in ids_by_hash[h]})
            report.embedded += len(batch)
            self.embedded_by_this_process += len(batch)

    def _embed_in_slices(self, texts: list[str], run: RunContext, done: int, total: int) -> np.ndarray:
        """One model batch at a time, checking for cancellation before each and reporting after."""
        size = self.embedder.batch_size
        parts = []
        for start in range(0, len(texts), size):
            run.check()
            parts.append(self.embedder.embed(texts[start : start + size]))
            run.report(Progress("embedding", chunks_done=done + start + len(parts[-1]), chunks_total=total))
        return np.concatenate(parts)

    def _add_vectors(self, vectors: dict[int, np.ndarray]) -> None:
        if not vectors:
            return
        with self._lock:
            live = self.store.existing_ids(vectors)  # a chunk may have been dropped while we embedded
            labels = [i for i in vectors if i in live]
            if labels:
                self.vector_index().add(labels, np.stack([vectors[i] for i in labels]))
                self._mark_dirty()

    # the store ----------------------------------------------------------------------------
    def _open_store(self, create: bool) -> Store:
        path = self.cache_dir / STORE_NAME
        try:
            return Store(path, create=create)
        except StoreCorrupt as exc:
            self._move_aside(path, exc)
            return Store(path, create=create)

    def _set_store_aside(self, exc: StoreCorrupt) -> None:
        """Replace a store found damaged mid-run by a new, empty one (the files are re-read)."""
        with self._lock:
            self.store.close()
            self._move_aside(self.store.path, exc)
            self.store = Store(self.store.path)
            self._index, self._dirty_since = None, None

    def _move_aside(self, path: Path, exc: StoreCorrupt) -> None:
        """Keep a damaged store next to the new one (`.broken-<time>`) for anyone who wants to look.

        The store is a cache of what can be recomputed from the files, so starting over loses
        only time.
        """
        aside = path.with_name(f"{path.name}.broken-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{path}{suffix}")
            if part.exists():
                part.replace(Path(f"{aside}{suffix}"))
        notice = f"{exc}; set it aside as {aside.name} and rebuilt the index"
        log.warning("%s", notice)
        self.notices.append(notice)


class _Stage:
    """Adds the time of a `with` block to one entry of a dict of seconds."""

    def __init__(self, seconds: dict[str, float], stage: str):
        self._seconds, self._stage = seconds, stage

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc_info) -> None:
        elapsed = time.perf_counter() - self._started
        self._seconds[self._stage] = round(self._seconds.get(self._stage, 0.0) + elapsed, 4)


def vector_key(model_id: str) -> str:
    """The key vectors of `model_id` are cached and indexed under (see Indexer.model_id)."""
    return f"{model_id}#{EMBED_TEXT_FORMAT}" if EMBED_TEXT_FORMAT else model_id


def _diff_chunks(
    old: list[StoredChunk], new: list[Chunk]
) -> tuple[dict[int, Chunk], list[Chunk], list[int]]:
    """Match a file's new chunks to its old ones by content hash.

    Returns (old id -> moved chunk for unchanged content, chunks to add, old ids to drop).
    """
    old_ids_by_hash: dict[str, list[int]] = {}
    for stored in old:
        old_ids_by_hash.setdefault(stored.chunk.content_hash, []).append(stored.id)
    keep: dict[int, Chunk] = {}
    add: list[Chunk] = []
    for chunk in new:
        candidates = old_ids_by_hash.get(chunk.content_hash)
        if candidates:
            keep[candidates.pop(0)] = chunk
        else:
            add.append(chunk)
    drop = [chunk_id for ids in old_ids_by_hash.values() for chunk_id in ids]
    return keep, add, drop


def file_digest(data: bytes) -> str:
    """The content hash of a file's bytes: what a base index and a working copy compare."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
