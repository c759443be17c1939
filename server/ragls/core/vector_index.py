"""A persistent approximate-nearest-neighbour index of chunk vectors, built on hnswlib.

Labels are chunk ids (non-negative ints). The index keeps its own record of which labels are
live, because hnswlib keeps deleted labels in its id list until their slot is reused.

On disk an index is two files in the cache directory: a data file named by generation
(`index-<n>.hnsw`, written by hnswlib) and a manifest `index.json` naming the data file with its
size and blake2b checksum. Replacing `index.json` is the commit point of a save, so a crash at any
moment leaves either the previous or the new index loadable, and `load` verifies the data file
before hnswlib ever reads it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np

from ragls.core.hnsw_file import HnswlibFormatError, check_hnswlib_file, read_hnswlib_header

FORMAT_VERSION = 1
MANIFEST_NAME = "index.json"
SUPPORTED_SPACES = ("cosine", "ip")  # both report distance as 1 - similarity

# Chosen with bench/recall.py on real all-MiniLM-L6-v2 embeddings of stdlib functions.
DEFAULT_M = 32
DEFAULT_EF_CONSTRUCTION = 200
DEFAULT_EF_SEARCH = 256

_DATA_NAME = re.compile(r"^index-(\d+)\.hnsw$")
_TEMP_NAME = re.compile(r"^(index-\d+\.hnsw|index\.json)\.tmp$")
_CHECKSUM_BLOCK = 1 << 20


class IndexLoadError(Exception):
    """An index on disk cannot be used; the caller should build a new one."""


class IndexMismatch(IndexLoadError):
    """The index on disk is intact but made for another model, dimension, space or format."""


class IndexCorrupt(IndexLoadError):
    """The index on disk is missing, truncated, altered or unreadable."""


@dataclass(frozen=True)
class IndexMeta:
    """What an index on disk must match to be reused."""

    model_id: str
    dim: int
    space: str = "cosine"
    format_version: int = FORMAT_VERSION
    # The store whose chunk ids the labels are: a store that was reset (corrupt, deleted) starts
    # its ids again at 1, and an index of the old one would answer with the wrong chunks.
    store_id: str = ""


@dataclass(frozen=True)
class _Params:
    """hnswlib graph parameters, remembered in the manifest."""

    m: int
    ef_construction: int
    ef_search: int


class VectorIndex:
    """Labelled vectors with cosine nearest-neighbour search, saved atomically to a directory.

    All methods are safe to call from several threads.
    """

    def __init__(
        self,
        meta: IndexMeta,
        params: _Params,
        hnsw: hnswlib.Index,
        live: set[int],
        deleted: set[int],
    ) -> None:
        """Wrap a ready hnswlib index; use `create` or `load` instead."""
        self._meta = meta
        self._params = params
        self._hnsw = hnsw
        self._live = live
        self._deleted = deleted  # labels hnswlib still holds in a slot marked deleted
        self._hidden: set[int] = set()  # labels kept out of searches for now (see hide)
        self._lock = threading.RLock()
        self._save_lock = threading.Lock()  # one save at a time, or one could delete another's file

    # ------------------------------------------------------------------------ construction

    @classmethod
    def create(
        cls,
        meta: IndexMeta,
        capacity: int = 1024,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef_search: int = DEFAULT_EF_SEARCH,
    ) -> VectorIndex:
        """A new empty index for vectors described by `meta`."""
        _check_meta(meta)
        params = _Params(m=m, ef_construction=ef_construction, ef_search=ef_search)
        hnsw = hnswlib.Index(space=meta.space, dim=meta.dim)
        hnsw.init_index(
            max_elements=max(1, capacity),
            ef_construction=ef_construction,
            M=m,
            allow_replace_deleted=True,
        )
        hnsw.set_ef(ef_search)
        return cls(meta, params, hnsw, live=set(), deleted=set())

    @classmethod
    def load(cls, directory: Path, meta: IndexMeta) -> VectorIndex:
        """Load the index saved in `directory`.

        Raises IndexMismatch when it was made for other `meta`, and IndexCorrupt when it is
        missing or damaged. The data file's size and checksum are verified before hnswlib reads
        it, so a damaged file never reaches the C++ loader.
        """
        _check_meta(meta)
        directory = Path(directory)
        manifest = _read_manifest(directory)
        _check_manifest_matches(manifest, meta)
        data_path = _verified_data_path(directory, manifest)
        params = _Params(manifest["m"], manifest["ef_construction"], manifest["ef_search"])
        capacity = max(1, manifest["capacity"], manifest["element_count"])
        hnsw = _load_hnsw(data_path, meta, capacity)
        live, deleted = _live_and_deleted(hnsw, manifest)
        hnsw.set_ef(params.ef_search)
        return cls(meta, params, hnsw, live=live, deleted=deleted)

    @classmethod
    def from_hnsw_file(
        cls, path: Path, meta: IndexMeta, ef_search: int = DEFAULT_EF_SEARCH
    ) -> VectorIndex:
        """Adopt an hnswlib data file in which every label is live, such as one written by
        ragls.core.gpu_graph; `save` then makes it a regular index directory.

        M and ef_construction are read from the file. Raises IndexMismatch when the file holds
        vectors of another dimension (hnswlib would read them as garbage), and IndexCorrupt when
        it is unreadable or holds a label twice.
        """
        _check_meta(meta)
        try:
            header = read_hnswlib_header(Path(path))
        except (OSError, HnswlibFormatError) as exc:
            raise IndexCorrupt(f"cannot read hnswlib file {path}: {exc}") from exc
        if header["dim"] != meta.dim:
            raise IndexMismatch(f"hnswlib file {path} has dim {header['dim']}, expected {meta.dim}")
        hnsw = _load_hnsw(Path(path), meta, capacity=1)  # 1: keep the file's own capacity
        labels = hnsw.get_ids_list()
        if len(labels) != hnsw.element_count:  # hnswlib maps a label to one slot only
            raise IndexCorrupt(f"hnswlib file {path} holds a label twice")
        params = _Params(header["m"], header["ef_construction"], ef_search)
        hnsw.set_ef(ef_search)
        return cls(meta, params, hnsw, live=set(labels), deleted=set())

    # ------------------------------------------------------------------------ properties

    @property
    def meta(self) -> IndexMeta:
        """What this index was made for."""
        return self._meta

    @property
    def capacity(self) -> int:
        """Slots allocated in hnswlib (live, deleted and free)."""
        with self._lock:
            return self._hnsw.get_max_elements()

    @property
    def ef_search(self) -> int:
        """The size of the candidate list used by `search`."""
        return self._params.ef_search

    def labels(self) -> set[int]:
        """A copy of the live labels."""
        with self._lock:
            return set(self._live)

    def __len__(self) -> int:
        """The number of live labels."""
        with self._lock:
            return len(self._live)

    def __contains__(self, label: object) -> bool:
        """True when `label` is live."""
        with self._lock:
            return label in self._live

    # ------------------------------------------------------------------------ changes

    def add(self, labels: Sequence[int], vectors: np.ndarray) -> None:
        """Add or replace vectors, row i under labels[i].

        A label given twice keeps its last row. Capacity doubles as needed, and slots of deleted
        labels are reused before new ones are taken.
        """
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        rows = self._latest_row_by_label(labels, matrix)
        if not rows:
            return
        with self._lock:
            revived = [label for label in rows if label in self._deleted]
            updated = [label for label in rows if label in self._live] + revived
            fresh = [label for label in rows if not self._holds(label)]
            vacancies = len(self._deleted) - len(revived)
            self._ensure_capacity(fresh_count=len(fresh), vacancies=vacancies)
            for label in revived:
                # hnswlib refuses to update a deleted label while slot replacement is enabled.
                self._hnsw.unmark_deleted(label)
                self._deleted.discard(label)
            self._add_rows(updated, rows, matrix, replace_deleted=False)
            self._add_rows(fresh, rows, matrix, replace_deleted=True)
            self._live.update(rows)
            self._forget_replaced_labels(fresh_count=len(fresh), vacancies=vacancies)

    def delete(self, labels: Iterable[int]) -> None:
        """Remove labels; labels that are not live are ignored."""
        with self._lock:
            for label in map(int, labels):
                if label in self._live:
                    self._hnsw.mark_deleted(label)
                    self._live.discard(label)
                    self._deleted.add(label)

    def hide(self, labels: Iterable[int]) -> None:
        """Keep live labels out of every search, vectors kept, until `show`; for an index that
        is only read (a base index masks the files the working copy changed)."""
        with self._lock:
            for label in map(int, labels):
                if label in self._live:
                    self._hnsw.mark_deleted(label)
                    self._live.discard(label)
                    self._hidden.add(label)

    def show(self, labels: Iterable[int]) -> None:
        """Bring hidden labels back into searches."""
        with self._lock:
            for label in map(int, labels):
                if label in self._hidden:
                    self._hnsw.unmark_deleted(label)
                    self._hidden.discard(label)
                    self._live.add(label)

    def _latest_row_by_label(self, labels: Sequence[int], vectors: np.ndarray) -> dict[int, int]:
        """Map each label to its last row index, after validating shapes and labels."""
        labels = [int(label) for label in labels]
        if vectors.ndim != 2 or vectors.shape != (len(labels), self._meta.dim):
            raise ValueError(
                f"expected vectors of shape ({len(labels)}, {self._meta.dim}), got {vectors.shape}"
            )
        if any(label < 0 for label in labels):
            raise ValueError("labels must be non-negative")
        if labels and not np.isfinite(vectors).all():
            raise ValueError("vectors must be finite")
        return {label: row for row, label in enumerate(labels)}

    def _ensure_capacity(self, fresh_count: int, vacancies: int) -> None:
        """Grow hnswlib's allocation, doubling, so that `fresh_count` new labels fit."""
        needed = self._hnsw.element_count + max(0, fresh_count - vacancies)
        capacity = self._hnsw.get_max_elements()
        if needed <= capacity:
            return
        grown = max(1, capacity)
        while grown < needed:
            grown *= 2
        self._hnsw.resize_index(grown)

    def _add_rows(
        self, labels: list[int], rows: dict[int, int], matrix: np.ndarray, replace_deleted: bool
    ) -> None:
        """Hand the rows of `labels` to hnswlib in one call."""
        if labels:
            data = matrix[[rows[label] for label in labels]]
            ids = np.asarray(labels, dtype=np.uint64)
            self._hnsw.add_items(data, ids, replace_deleted=replace_deleted)

    def _holds(self, label: int) -> bool:
        """True when hnswlib has a slot for `label`, live or deleted."""
        return label in self._live or label in self._deleted

    def _forget_replaced_labels(self, fresh_count: int, vacancies: int) -> None:
        """Drop deleted labels whose slots hnswlib just gave to new labels."""
        if fresh_count == 0 or vacancies == 0:
            return
        if fresh_count >= vacancies:
            self._deleted.clear()
        else:
            # hnswlib picks which vacant slots to reuse; ask it which labels it still holds.
            self._deleted &= set(self._hnsw.get_ids_list())

    # ------------------------------------------------------------------------ search

    def search(
        self, vector: np.ndarray, k: int, exclude: Collection[int] = ()
    ) -> list[tuple[int, float]]:
        """The k live labels most similar to `vector`, as (label, cosine similarity), best first.

        Labels in `exclude` are never returned, yet k results still come back when that many
        other labels are live.
        """
        query = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self._meta.dim:
            raise ValueError(f"expected a vector of length {self._meta.dim}, got {query.shape[1]}")
        with self._lock:
            excluded = {label for label in exclude if label in self._live}
            wanted = min(k, len(self._live) - len(excluded))
            if wanted <= 0:
                return []
            return self._knn(query, wanted, excluded)

    def _knn(self, query: np.ndarray, k: int, excluded: set[int]) -> list[tuple[int, float]]:
        """hnswlib search, falling back to an exact scan when the graph search finds too few.

        Heavy deletion or filtering can leave fewer than k reachable candidates in hnswlib's
        beam, which hnswlib reports as an error rather than a short answer.
        """
        allowed = (lambda label: label not in excluded) if excluded else None
        try:
            labels, distances = self._hnsw.knn_query(query, k=k, num_threads=1, filter=allowed)
        except RuntimeError:
            return self._exact_search(query, k, excluded)
        return [(int(label), 1.0 - float(d)) for label, d in zip(labels[0], distances[0])]

    def _exact_search(
        self, query: np.ndarray, k: int, excluded: set[int]
    ) -> list[tuple[int, float]]:
        """Brute-force cosine search over every live, non-excluded label."""
        candidates = sorted(self._live - excluded)
        stored = np.asarray(self._hnsw.get_items(candidates), dtype=np.float32)
        similarities = _unit_rows(stored) @ _unit_rows(query)[0]
        best = np.argsort(-similarities, kind="stable")[:k]
        return [(candidates[i], float(similarities[i])) for i in best]

    # ------------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> None:
        """Write the index to `directory` atomically, then remove older generations.

        The data file goes under a new generation name (written to a temp name, fsynced,
        renamed); replacing `index.json` commits it. Other files in the directory are left alone.
        """
        if self._hidden:
            raise ValueError("an index with hidden labels is read-only: it is not saved")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with self._save_lock:
            data_name = f"index-{_next_generation(directory)}.hnsw"
            temp = directory / f"{data_name}.tmp"
            try:
                with self._lock:
                    self._hnsw.save_index(str(temp))
                    manifest = self._manifest(data_name)
                _fsync_file(temp)
                _check_written(temp)
                manifest["data_size"], manifest["data_blake2b"] = _size_and_checksum(temp)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            os.replace(temp, directory / data_name)
            _write_json_atomically(directory / MANIFEST_NAME, manifest)
            _fsync_directory(directory)
            _remove_stale_files(directory, keep=data_name)

    def _manifest(self, data_name: str) -> dict[str, Any]:
        """The manifest of the index as saved now, lacking the data file's size and checksum."""
        return {
            "format_version": self._meta.format_version,
            "model_id": self._meta.model_id,
            "store_id": self._meta.store_id,
            "dim": self._meta.dim,
            "space": self._meta.space,
            "m": self._params.m,
            "ef_construction": self._params.ef_construction,
            "ef_search": self._params.ef_search,
            "count": len(self._live),
            "element_count": self._hnsw.element_count,
            "capacity": self._hnsw.get_max_elements(),
            "deleted": sorted(self._deleted),
            "data_file": data_name,
        }


# ---------------------------------------------------------------------------- helpers: vectors


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


# ---------------------------------------------------------------------------- helpers: meta


def _check_meta(meta: IndexMeta) -> None:
    """Reject meta that hnswlib or cosine similarity cannot work with."""
    if meta.dim <= 0:
        raise ValueError(f"dim must be positive, got {meta.dim}")
    if meta.space not in SUPPORTED_SPACES:
        raise ValueError(f"space must be one of {SUPPORTED_SPACES}, got {meta.space!r}")


# ---------------------------------------------------------------------------- helpers: load

_MANIFEST_TYPES: dict[str, type] = {
    "format_version": int,
    "model_id": str,
    "store_id": str,
    "dim": int,
    "space": str,
    "m": int,
    "ef_construction": int,
    "ef_search": int,
    "count": int,
    "element_count": int,
    "capacity": int,
    "deleted": list,
    "data_file": str,
    "data_size": int,
    "data_blake2b": str,
}


def _read_manifest(directory: Path) -> dict[str, Any]:
    """Parse `index.json`, raising IndexCorrupt when it is missing or malformed."""
    path = directory / MANIFEST_NAME
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise IndexCorrupt(f"no index in {directory}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"unreadable manifest {path}: {exc}") from exc
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise IndexCorrupt(f"unparsable manifest {path}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise IndexCorrupt(f"manifest {path} is not an object")
    if not isinstance(manifest.get("format_version"), int):
        raise IndexCorrupt(f"manifest {path} has no format version")
    return manifest


def _check_manifest_matches(manifest: dict[str, Any], meta: IndexMeta) -> None:
    """Raise IndexMismatch when the index was made for other meta, IndexCorrupt when ill-typed."""
    if manifest["format_version"] != meta.format_version:
        raise IndexMismatch(
            f"index format {manifest['format_version']}, expected {meta.format_version}"
        )
    for key, expected_type in _MANIFEST_TYPES.items():
        value = manifest.get(key)
        if not isinstance(value, expected_type) or isinstance(value, bool):
            raise IndexCorrupt(f"manifest field {key!r} is missing or not {expected_type.__name__}")
    for field in ("model_id", "store_id", "dim", "space"):
        if manifest[field] != getattr(meta, field):
            expected = getattr(meta, field)
            raise IndexMismatch(f"index {field} is {manifest[field]!r}, expected {expected!r}")


def _verified_data_path(directory: Path, manifest: dict[str, Any]) -> Path:
    """The data file named by the manifest, after checking its name, size and checksum."""
    name = manifest["data_file"]
    if not _DATA_NAME.match(name):
        raise IndexCorrupt(f"manifest names an invalid data file {name!r}")
    path = directory / name
    try:
        size, checksum = _size_and_checksum(path)
    except OSError as exc:
        raise IndexCorrupt(f"data file {path} is unreadable: {exc}") from exc
    if size != manifest["data_size"]:
        raise IndexCorrupt(f"data file {path} has {size} bytes, not {manifest['data_size']}")
    if checksum != manifest["data_blake2b"]:
        raise IndexCorrupt(f"data file {path} does not match its checksum")
    return path


def _load_hnsw(path: Path, meta: IndexMeta, capacity: int) -> hnswlib.Index:
    """Have hnswlib read a verified data file, turning its failures into IndexCorrupt."""
    hnsw = hnswlib.Index(space=meta.space, dim=meta.dim)
    try:
        # An explicit capacity: hnswlib would take 0 from the file of an empty index.
        hnsw.load_index(str(path), max_elements=capacity, allow_replace_deleted=True)
    except (RuntimeError, ValueError, MemoryError, OSError) as exc:
        raise IndexCorrupt(f"hnswlib cannot load {path}: {exc}") from exc
    return hnsw


def _live_and_deleted(hnsw: hnswlib.Index, manifest: dict[str, Any]) -> tuple[set[int], set[int]]:
    """Split hnswlib's labels into live and deleted, checking them against the manifest."""
    held = set(hnsw.get_ids_list())
    deleted = {label for label in manifest["deleted"] if isinstance(label, int)}
    if len(deleted) != len(manifest["deleted"]) or not deleted <= held:
        raise IndexCorrupt("manifest lists deleted labels the index does not hold")
    live = held - deleted
    if len(live) != manifest["count"] or hnsw.element_count != manifest["element_count"]:
        raise IndexCorrupt("index counts do not match the manifest")
    return live, deleted


# ---------------------------------------------------------------------------- helpers: files


def _size_and_checksum(path: Path) -> tuple[int, str]:
    """Byte size and blake2b hex digest of a file, read in blocks."""
    digest = hashlib.blake2b()
    size = 0
    with open(path, "rb") as file:
        while block := file.read(_CHECKSUM_BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _check_written(path: Path) -> None:
    """OSError unless hnswlib wrote the whole file: its writer does not report a full disk, it
    leaves the file short."""
    try:
        check_hnswlib_file(path)
    except HnswlibFormatError as exc:
        raise OSError(errno.ENOSPC, f"the vector index could not be written whole (is the disk full?): {exc}") from None


def _fsync_file(path: Path) -> None:
    """Force a file's contents to disk (hnswlib's writer does not)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    """Force renames in a directory to disk, where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some platforms and file systems cannot fsync a directory
    finally:
        os.close(fd)


def _write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temp file, fsync it, and rename it over `path`."""
    temp = path.with_name(f"{path.name}.tmp")
    with open(temp, "w", encoding="utf-8") as file:
        json.dump(payload, file, separators=(",", ":"))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)


def _next_generation(directory: Path) -> int:
    """One more than any generation present, committed or left over from a crash."""
    generations = [0]
    for entry in directory.iterdir():
        name = entry.name.removesuffix(".tmp")
        match = _DATA_NAME.match(name)
        if match:
            generations.append(int(match.group(1)))
    return max(generations) + 1


def _remove_stale_files(directory: Path, keep: str) -> None:
    """Delete older data files and temp files of this index; nothing else in the directory."""
    for entry in directory.iterdir():
        name = entry.name
        stale = (_DATA_NAME.match(name) and name != keep) or _TEMP_NAME.match(name)
        if stale:
            try:
                entry.unlink()
            except FileNotFoundError:
                pass
