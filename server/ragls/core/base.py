"""A bundle (core/bundle.py) as the read-only base of a working copy's index.

The working copy's own index (the overlay) holds only what differs from the base: files that
are new or whose content changed. A file whose content hash is the base's is recorded in the
overlay as `from_base` and has no chunks of its own; its chunks are the base's. A base file the
working copy changed, deleted or never had is hidden: its chunks leave every search (hnswlib
marks them deleted in memory; the bundle is never written).

`LayeredReader` and `LayeredVectors` give the queries one index: the overlay's chunks keep
their ids, the base's come with negative ids, so the two never collide. The overlay wins:
a file is either the base's (visible) or the overlay's, never both.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ragls.core.bundle import INDEX, STORE, check_compatible, read_bundle
from ragls.core.store import LEXICAL_WEIGHTS, FileState, Store, StoredChunk
from ragls.core.vector_index import IndexMeta, VectorIndex

MAX_HIDDEN_OVERFETCH = 5000  # a lexical search over the base reads this many more at most


@dataclass(frozen=True)
class BaseSummary:
    """What status tells of a base index."""

    path: Path
    commit: str | None
    functions: int  # chunks in the bundle
    searched: int  # of which the working copy still has as they are


class BaseIndex:
    """An opened bundle: its manifest, its store and vector index (read-only), and which of its
    files the working copy still has as they are."""

    def __init__(self, path: Path, model_id: str):
        """Open (and on first use unpack and verify) the bundle at `path`; BundleError when it
        cannot be used (another model or backend, another format, damaged, unreadable)."""
        self.path = Path(path)
        self.manifest, folder = read_bundle(self.path)
        check_compatible(self.manifest, model_id, None, source=str(self.path))  # the key holds the model
        self.store = Store(folder / STORE, create=False, read_only=True)
        meta = IndexMeta(model_id=model_id, dim=self.manifest.dim)
        self.vectors = VectorIndex.from_hnsw_file(folder / INDEX, meta)
        self._ids_by_file: dict[str, list[int]] = {}
        self._path_of_id: dict[int, str] = {}
        for chunk_id, path_of_chunk in self.store.chunk_paths():
            self._ids_by_file.setdefault(path_of_chunk, []).append(chunk_id)
            self._path_of_id[chunk_id] = path_of_chunk
        self._visible: set[str] = set(self._ids_by_file)
        self._visible_count = self.manifest.chunks  # chunks of the visible files
        self._lock = threading.Lock()  # guards `_visible`, its count and the hidden labels
        self.set_visible(())

    def file_hash(self, path: str) -> str | None:
        """The content hash the bundle has for a file, or None when it has not the file."""
        entry = self.manifest.files.get(path)
        return entry.content_hash if entry else None

    def set_visible(self, paths: Iterable[str]) -> None:
        """The base files the working copy has as they are: only their chunks are searched."""
        wanted = set(paths) & self._ids_by_file.keys()
        with self._lock:
            hide = self._visible - wanted
            show = wanted - self._visible
            self.vectors.hide(i for path in hide for i in self._ids_by_file[path])
            self.vectors.show(i for path in show for i in self._ids_by_file[path])
            self._visible = wanted
            self._visible_count = sum(len(self._ids_by_file[path]) for path in wanted)

    def set_file_visible(self, path: str, visible: bool) -> None:
        """One file's part of `set_visible` (a save touches one file, not the whole tree)."""
        ids = self._ids_by_file.get(path)
        if ids is None:
            return
        with self._lock:
            if visible and path not in self._visible:
                self.vectors.show(ids)
                self._visible.add(path)
                self._visible_count += len(ids)
            elif not visible and path in self._visible:
                self.vectors.hide(ids)
                self._visible.discard(path)
                self._visible_count -= len(ids)

    def is_visible(self, path: str) -> bool:
        """True when the working copy has this base file as it is."""
        return path in self._visible

    def visible_ids(self, ids: Iterable[int]) -> set[int]:
        """Those of the base's chunk ids that are searched (no SQL: searches ask on every query)."""
        visible, path_of = self._visible, self._path_of_id
        return {chunk_id for chunk_id in ids if path_of.get(chunk_id) in visible}

    def visible_chunks(self) -> int:
        """How many of the base's chunks are searched."""
        return self._visible_count

    def hidden_chunks(self) -> int:
        """How many of the base's chunks are hidden."""
        return self.manifest.chunks - self.visible_chunks()

    def summary(self) -> BaseSummary:
        """The bundle's file and commit, its chunks and how many of them are searched."""
        return BaseSummary(self.path, self.manifest.commit, self.manifest.chunks, self.visible_chunks())

    def close(self) -> None:
        """Close the bundle's store."""
        self.store.close()


def base_file_for(setting: str | None, folder: Path, remembered: Path | None) -> Path | None:
    """The bundle a folder's index should be the overlay of: the setting's (a relative path is
    the folder's own file, and no base when the folder has none), the remembered one when the
    setting is None, none when it is ""."""
    if setting is None:
        return remembered
    if not setting.strip():
        return None
    path = Path(setting).expanduser()
    if path.is_absolute():
        return path
    return folder / path if (folder / path).exists() else None


class LayeredReader:
    """The overlay store and the visible base, read as one store (base ids are negative)."""

    def __init__(self, local: Store, base: BaseIndex):
        self.local = local
        self.base = base

    def lexical_search(
        self, query: str, limit: int, weights: tuple[float, float, float] = LEXICAL_WEIGHTS, name_only: bool = False
    ) -> list[tuple[int, float]]:
        """BM25 over both; the base's hidden chunks left out."""
        own = self.local.lexical_search(query, limit, weights, name_only)
        deeper = limit + min(self.base.hidden_chunks(), MAX_HIDDEN_OVERFETCH)
        base_hits = self.base.store.lexical_search(query, deeper, weights, name_only)
        visible = self.base.visible_ids(chunk_id for chunk_id, _ in base_hits)
        merged = own + [(-chunk_id, score) for chunk_id, score in base_hits if chunk_id in visible]
        return sorted(merged, key=lambda pair: pair[1], reverse=True)[:limit]

    def file_states(self) -> dict[str, FileState]:
        """Every file of the working copy (the base's ones are recorded in the overlay)."""
        return self.local.file_states()

    def chunks_by_ids(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        """The chunks with these ids (negative: the base's)."""
        found = self.local.chunks_by_ids([i for i in ids if i > 0])
        for chunk_id, stored in self.base.store.chunks_by_ids([-i for i in ids if i < 0]).items():
            found[-chunk_id] = StoredChunk(-chunk_id, stored.chunk)
        return found

    def chunks_of_file(self, path: str) -> list[StoredChunk]:
        """A file's chunks in source order: the base's when the working copy has it as it is."""
        if self.base.is_visible(path):
            return [StoredChunk(-s.id, s.chunk) for s in self.base.store.chunks_of_file(path)]
        return self.local.chunks_of_file(path)

    def functions_named(self, text: str, limit: int) -> list[StoredChunk]:
        """Functions whose qualified name contains `text`, best first (see Store.functions_named)."""
        own = self.local.functions_named(text, limit)
        base = [StoredChunk(-s.id, s.chunk) for s in self.base.store.functions_named(text, limit * 4)
                if self.base.is_visible(s.chunk.path)]
        lowered = text.lower()

        def rank(stored: StoredChunk) -> tuple:
            name = stored.chunk.name.lower()
            return (name != lowered, not name.endswith(lowered), len(name), stored.chunk.name)

        return sorted(own + base, key=rank)[:limit]

    def cached_vectors(self, model_id: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors by content hash: the overlay's cache, then the base's."""
        wanted = list(hashes)
        found = self.local.cached_vectors(model_id, wanted)
        missing = [digest for digest in wanted if digest not in found]
        if missing:
            found.update(self.base.store.cached_vectors(model_id, missing))
        return found

    def chunk_count(self) -> int:
        """The overlay's chunks and the visible base chunks."""
        return self.local.chunk_count() + self.base.visible_chunks()


class LayeredVectors:
    """Nearest neighbours over the overlay's vector index and the visible base (negative ids)."""

    def __init__(self, local: VectorIndex, base: BaseIndex):
        self.local = local
        self.base = base

    def search(self, vector: np.ndarray, k: int, exclude: Collection[int] = ()) -> list[tuple[int, float]]:
        """The k most similar chunks of both, as (id, cosine similarity), best first."""
        own = self.local.search(vector, k, exclude=[i for i in exclude if i > 0])
        base = self.base.vectors.search(vector, k, exclude=[-i for i in exclude if i < 0])
        merged = own + [(-label, score) for label, score in base]
        return sorted(merged, key=lambda pair: pair[1], reverse=True)[:k]
