"""SQLite store: the files and chunks of one workspace root, and the embedding cache.

The store is the source of truth for what is indexed. The vector index is derived from it (a
label in the index is a chunk id here), so a lost or broken index is rebuilt from the cached
vectors without running the model again.

Embeddings are cached by (model id, content hash): a function whose content did not change is
never embedded twice, whatever file it moves to.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ragls.core.chunk import MODULE, WINDOW, Chunk, Span
from ragls.core.errors import RaglsError
from ragls.core.terms import STOPWORDS, lexical_terms

SCHEMA_VERSION = 1
# The form of the lexical terms (`chunk_terms`): a store made with another form has its lexical
# index rebuilt from its chunks when it is opened (no file is re-read, nothing re-embedded).
TERMS_VERSION = "2"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    language TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT NOT NULL DEFAULT '',  -- of the file's bytes, as indexed
    from_base INTEGER NOT NULL DEFAULT 0  -- its chunks are the base index's (core/base.py)
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are index labels: never reuse one
    path TEXT NOT NULL,
    language TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_line INTEGER NOT NULL, start_col INTEGER NOT NULL,
    end_line INTEGER NOT NULL, end_col INTEGER NOT NULL,
    name_start_line INTEGER NOT NULL, name_start_col INTEGER NOT NULL,
    name_end_line INTEGER NOT NULL, name_end_col INTEGER NOT NULL,
    signature TEXT NOT NULL,
    docstring TEXT NOT NULL,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_path ON chunks (path, start_line);
CREATE TABLE IF NOT EXISTS embeddings (
    model_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, content_hash)
) WITHOUT ROWID;
"""
# The lexical index: a function's name, its path and its body as separate fields, so that a
# query word found in the name counts more than one found in the body (LEXICAL_WEIGHTS);
# Porter stemming, so that `parsing` meets `parse`.
TERMS_SCHEMA = "CREATE VIRTUAL TABLE IF NOT EXISTS chunk_terms USING fts5 (name, path, body, tokenize = 'porter unicode61')"
LEXICAL_WEIGHTS = (3.0, 1.0, 1.0)  # name, path, body (BM25 column weights)

FILE_COLUMNS = "path, language, size, mtime_ns, content_hash, from_base"
_FILE_DEFAULTS = (("path", ""), ("language", ""), ("size", 0), ("mtime_ns", 0), ("content_hash", "''"), ("from_base", 0))
CHUNK_COLUMNS = (
    "id, path, language, name, kind, start_line, start_col, end_line, end_col, "
    "name_start_line, name_start_col, name_end_line, name_end_col, signature, docstring, text, "
    "content_hash"
)

class StoreError(RaglsError):
    """The store cannot be used; the message says why (and what to do)."""


class StoreCorrupt(StoreError):
    """The store file is damaged or from another version: set it aside and build a new one."""


class StoreReadOnly(StoreError):
    """The store's folder cannot be written: it can be searched but not indexed."""


class StoreMissing(StoreError):
    """There is no store yet (the folder was never indexed) and none was to be created."""


# Words of SQLite's messages for a damaged file (a corrupt page, a broken FTS table, garbage).
_CORRUPTION = ("malformed", "not a database", "vtable constructor failed", "corrupt", "no such table",
               "file is encrypted")


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk with the id it has in the store (and as a label in the vector index)."""

    id: int
    chunk: Chunk


COMPACT_PAGE_SIZE = 8192  # the page size of a compacted store (see Store.compact)
READ_ONLY_MMAP_BYTES = 1 << 30  # a read-only store (a base index) is read through mmap, up to this


@dataclass(frozen=True, slots=True)
class FileState:
    """What the store remembers of a file, to tell whether it changed since it was indexed.

    `from_base`: the file is as the base index has it, so its chunks are the base's, not here.
    """

    path: str
    language: str
    size: int
    mtime_ns: int
    content_hash: str = ""
    from_base: bool = False


def chunk_terms(chunk: Chunk) -> tuple[str, str, str]:
    """What the lexical index holds for a chunk: the terms of its name, its path and its body."""
    return tuple(" ".join(lexical_terms(text)) for text in (chunk.name, chunk.path, chunk.text))


class Store:
    """One SQLite database per workspace root; safe to share between threads.

    Every SQLite failure leaves a method as a StoreError: StoreCorrupt for a damaged file,
    StoreReadOnly for a folder that cannot be written, a plain StoreError otherwise (disk full).
    A store whose folder cannot be written opens read-only (`read_only`): queries work, writes
    raise StoreReadOnly.
    """

    def __init__(self, path: Path, create: bool = True, read_only: bool = False):
        """Open (or create) the store at `path`; `read_only` opens it so even when the folder
        could be written (a base index's store)."""
        self.path = path
        self._lock = threading.RLock()
        if not path.exists() and not create:
            raise StoreMissing(f"there is no ragls index in {path.parent}")
        self.read_only = read_only or _is_read_only(path)
        # A write-ahead log left next to the file means the last writer did not close it
        # (killed, power cut): check the pages once before trusting them.
        unclean = Path(f"{path}-wal").exists()
        connect = self._connect_read_only if self.read_only else self._connect
        self._db = _GuardedConnection(connect(), path)
        # A read-only store of an earlier ragls lacks the newer columns: read their defaults.
        have = {row[1] for row in self._db.execute("PRAGMA table_info(files)")}
        self._file_select = ", ".join(c if c in have else f"{d} AS {c}" for c, d in _FILE_DEFAULTS)
        if unclean:
            self._quick_check()
        self._check_version()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except PermissionError:
            raise StoreReadOnly(f"cache directory is read-only: {self.path.parent}") from None
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            _add_missing_columns(db)
            if not _has_terms_table(db):
                db.execute(TERMS_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self.path) from None
        return db

    def _connect_read_only(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise StoreReadOnly(f"cache directory is read-only and holds no index: {self.path.parent}")
        # `immutable`: a WAL database in a folder nobody can write has no -shm file to share.
        for flags in ("mode=ro", "mode=ro&immutable=1"):
            uri = f"{self.path.resolve().as_uri()}?{flags}"
            try:
                db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
                db.execute("SELECT count(*) FROM chunks").fetchone()
                # Nobody writes it while it is open here: pages straight from the OS's cache.
                db.execute(f"PRAGMA mmap_size={READ_ONLY_MMAP_BYTES}")
                return db
            except sqlite3.DatabaseError as exc:
                error = exc
        raise _translated(error, self.path) from None

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def compact(self) -> None:
        """Shrink the file to its content, in one file with no write-ahead log: the form a
        store takes in a bundle (read by others with mode=ro, no -wal or -shm beside it)."""
        with self._lock:
            self._db.execute("PRAGMA journal_mode=DELETE")
            # A vector (1.5 KB for 384 dimensions) overflows a 4 KB page of a WITHOUT ROWID
            # table into a page of its own; 8 KB pages keep each row whole (a third the size).
            self._db.execute(f"PRAGMA page_size={COMPACT_PAGE_SIZE}")
            self._db.execute("VACUUM")

    def _quick_check(self) -> None:
        with self._lock:
            verdict = self._db.execute("PRAGMA quick_check(1)").fetchone()
        if not verdict or verdict[0] != "ok":
            raise StoreCorrupt(f"the ragls store {self.path} is damaged ({verdict[0] if verdict else 'no answer'})")

    @property
    def store_id(self) -> str:
        """A random id given to this store when it was created: derived data (the vector index)
        records it, so that it is never used with another store whose chunk ids differ."""
        return self.get_meta("store_id") or ""

    def _check_version(self) -> None:
        found = self.get_meta("schema_version")
        if found is not None and found != str(SCHEMA_VERSION):
            raise StoreCorrupt(
                f"the store {self.path} has schema {found}, this ragls needs {SCHEMA_VERSION}"
            )
        self._terms_current = self.get_meta("terms_version") == TERMS_VERSION
        if self.read_only:
            return
        if found is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        if found is None or self.get_meta("store_id") is None:
            self.set_meta("store_id", uuid.uuid4().hex)
        if not self._terms_current:
            self._rebuild_terms()
            self._terms_current = True

    def _rebuild_terms(self) -> None:
        """Recompute the lexical index of every chunk (see TERMS_VERSION)."""
        with self._lock, self._transaction():
            self._db.execute("DROP TABLE IF EXISTS chunk_terms")
            self._db.execute(TERMS_SCHEMA)
            rows = [(stored.id, *chunk_terms(stored.chunk)) for stored in self.iter_chunks()]
            self._db.executemany("INSERT INTO chunk_terms (rowid, name, path, body) VALUES (?, ?, ?, ?)", rows)
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('terms_version', ?)", (TERMS_VERSION,)
            )

    # meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A stored setting, or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Remember a setting."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # files --------------------------------------------------------------------------------
    def file_states(self) -> dict[str, FileState]:
        """Every indexed file by path."""
        with self._lock:
            rows = self._db.execute(f"SELECT {self._file_select} FROM files").fetchall()
        return {row[0]: _file_state(row) for row in rows}

    def file_state(self, path: str) -> FileState | None:
        """One indexed file, or None."""
        with self._lock:
            row = self._db.execute(f"SELECT {self._file_select} FROM files WHERE path = ?", (path,)).fetchone()
        return _file_state(row) if row else None

    def paths_under(self, folder: str) -> list[str]:
        """Indexed files inside a root-relative folder."""
        prefix = folder.rstrip("/") + "/"
        with self._lock:
            rows = self._db.execute(
                "SELECT path FROM files WHERE substr(path, 1, ?) = ? ORDER BY path", (len(prefix), prefix)
            ).fetchall()
        return [row[0] for row in rows]

    def file_count(self) -> int:
        """How many files are indexed."""
        with self._lock:
            return self._db.execute("SELECT count(*) FROM files").fetchone()[0]

    # chunks -------------------------------------------------------------------------------
    def replace_file(
        self, state: FileState, keep: dict[int, Chunk], add: Sequence[Chunk], drop: Iterable[int]
    ) -> list[StoredChunk]:
        """Record a file's new chunks in one transaction and return the added ones with ids.

        `keep` maps ids of unchanged chunks to their new position, `drop` lists ids to delete.
        """
        with self._lock, self._transaction():
            self._delete_chunks(drop)
            for chunk_id, chunk in keep.items():
                self._db.execute(
                    "UPDATE chunks SET path=?, start_line=?, start_col=?, end_line=?, end_col=?, "
                    "name_start_line=?, name_start_col=?, name_end_line=?, name_end_col=? "
                    "WHERE id=?",
                    (chunk.path, *_span_values(chunk.span), *_span_values(chunk.name_span), chunk_id),
                )
            added = [StoredChunk(self._insert_chunk(chunk), chunk) for chunk in add]
            self._db.execute(
                f"INSERT OR REPLACE INTO files ({FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (state.path, state.language, state.size, state.mtime_ns, state.content_hash, int(state.from_base)),
            )
        return added

    def remove_file(self, path: str) -> list[int]:
        """Forget a file and its chunks; returns the ids of the chunks removed."""
        with self._lock, self._transaction():
            ids = [row[0] for row in self._db.execute("SELECT id FROM chunks WHERE path = ?", (path,))]
            self._delete_chunks(ids)
            self._db.execute("DELETE FROM files WHERE path = ?", (path,))
        return ids

    def chunks_of_file(self, path: str) -> list[StoredChunk]:
        """A file's chunks in source order."""
        return self._select_chunks("WHERE path = ? ORDER BY start_line, start_col", (path,))

    def chunks_by_ids(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        """The chunks with these ids (missing ids are left out)."""
        rows = self._rows_in(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE id IN ({{marks}})", ids)
        return {row[0]: _row_to_stored(row) for row in rows}

    def existing_ids(self, ids: Iterable[int]) -> set[int]:
        """Those of `ids` that are chunks now (a chunk may be dropped while it is embedded)."""
        return {row[0] for row in self._rows_in("SELECT id FROM chunks WHERE id IN ({marks})", ids)}

    def chunk_ids(self) -> set[int]:
        """Ids of every chunk."""
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT id FROM chunks")}

    def chunk_hashes(self, ids: Iterable[int] | None = None) -> dict[int, str]:
        """Content hash by chunk id, for all chunks or the given ids."""
        if ids is None:
            with self._lock:
                return dict(self._db.execute("SELECT id, content_hash FROM chunks").fetchall())
        return dict(self._rows_in("SELECT id, content_hash FROM chunks WHERE id IN ({marks})", ids))

    def chunk_paths(self) -> list[tuple[int, str]]:
        """(id, file) of every chunk."""
        with self._lock:
            return [(row[0], row[1]) for row in self._db.execute("SELECT id, path FROM chunks")]

    def chunk_count(self) -> int:
        """How many chunks are indexed."""
        with self._lock:
            return self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def iter_chunks(self) -> Iterator[StoredChunk]:
        """Every chunk, in path order."""
        yield from self._select_chunks("ORDER BY path, start_line", ())

    def lexical_search(
        self, query: str, limit: int, weights: tuple[float, float, float] = LEXICAL_WEIGHTS, name_only: bool = False
    ) -> list[tuple[int, float]]:
        """Chunk ids ranked by BM25 over identifier sub-words; higher score is better.

        `weights` weigh the name, path and body fields; `name_only` matches names alone.
        """
        terms = [term for term in dict.fromkeys(lexical_terms(query)) if term not in STOPWORDS]
        terms = sorted(terms[:MAX_QUERY_TERMS])
        if not terms:
            return []
        match = " OR ".join(f'"{term}"' for term in terms)
        if not self._terms_current:  # a read-only store of an older ragls: one field, unweighted
            weights_sql = ""
        else:
            weights_sql = ", " + ", ".join(str(weight) for weight in weights)
            match = f"name : ({match})" if name_only else match
        with self._lock:
            rows = self._db.execute(
                f"SELECT rowid, bm25(chunk_terms{weights_sql}) AS rank FROM chunk_terms WHERE chunk_terms MATCH ? "
                "ORDER BY rank LIMIT ?",
                (match, limit),
            ).fetchall()
        return [(row[0], -row[1]) for row in rows]

    def functions_named(self, text: str, limit: int) -> list[StoredChunk]:
        """Functions whose qualified name contains `text`, ignoring ASCII case.

        Best first: the exact name, then names ending in `text` (`Cart.total` for `total`), then
        shorter names. Module and window chunks have no name worth matching and are left out.
        No name is longer than MAX_NAME_CHARS, so a longer `text` matches nothing.
        """
        if len(text) > MAX_NAME_CHARS:
            return []
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return self._select_chunks(
            "WHERE name LIKE ? ESCAPE '\\' AND kind NOT IN (?, ?) "
            "ORDER BY lower(name) = lower(?) DESC, name LIKE ? ESCAPE '\\' DESC, "
            "length(name), name LIMIT ?",
            (f"%{escaped}%", MODULE, WINDOW, text, f"%{escaped}", limit),
        )

    # embeddings ---------------------------------------------------------------------------
    def cached_vectors(self, model_id: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached embeddings by content hash, for those of `hashes` that have one."""
        rows = self._rows_in(
            "SELECT content_hash, vector FROM embeddings WHERE model_id = ? AND content_hash IN ({marks})",
            hashes,
            leading=(model_id,),
        )
        return {digest: np.frombuffer(blob, dtype=np.float32) for digest, blob in rows}

    def cache_vectors(self, model_id: str, vectors: dict[str, np.ndarray]) -> None:
        """Remember embeddings by content hash."""
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings (model_id, content_hash, vector) VALUES (?, ?, ?)",
                [
                    (model_id, digest, np.asarray(vector, dtype=np.float32).tobytes())
                    for digest, vector in vectors.items()
                ],
            )

    def cached_vector_count(self, model_id: str) -> int:
        """How many embeddings are cached for a model."""
        with self._lock:
            return self._db.execute(
                "SELECT count(*) FROM embeddings WHERE model_id = ?", (model_id,)
            ).fetchone()[0]

    def prune_vectors(self, model_id: str) -> int:
        """Drop cached embeddings of this model that no chunk uses any more; returns how many."""
        with self._lock, self._transaction():
            cursor = self._db.execute(
                "DELETE FROM embeddings WHERE model_id = ? AND content_hash NOT IN "
                "(SELECT content_hash FROM chunks)",
                (model_id,),
            )
        return cursor.rowcount

    # internals ----------------------------------------------------------------------------
    def _transaction(self):
        return _Transaction(self._db)

    def _rows_in(self, sql: str, values: Iterable, leading: tuple = ()) -> list[tuple]:
        """Rows of `sql`, whose `{marks}` is an IN list of `values`, run in batches of 500
        (SQLite caps the number of parameters of one statement)."""
        wanted = list(dict.fromkeys(values))
        rows: list[tuple] = []
        with self._lock:
            for start in range(0, len(wanted), 500):
                batch = wanted[start : start + 500]
                query = sql.format(marks=",".join("?" * len(batch)))
                rows.extend(self._db.execute(query, (*leading, *batch)).fetchall())
        return rows

    def _insert_chunk(self, chunk: Chunk) -> int:
        cursor = self._db.execute(
            f"INSERT INTO chunks ({CHUNK_COLUMNS}) VALUES (NULL, {','.join('?' * 16)})",
            (
                chunk.path,
                chunk.language,
                chunk.name,
                chunk.kind,
                *_span_values(chunk.span),
                *_span_values(chunk.name_span),
                chunk.signature,
                chunk.docstring,
                chunk.text,
                chunk.content_hash,
            ),
        )
        chunk_id = int(cursor.lastrowid)
        self._db.execute(
            "INSERT INTO chunk_terms (rowid, name, path, body) VALUES (?, ?, ?, ?)", (chunk_id, *chunk_terms(chunk))
        )
        return chunk_id

    def _delete_chunks(self, ids: Iterable[int]) -> None:
        rows = [(chunk_id,) for chunk_id in ids]
        self._db.executemany("DELETE FROM chunks WHERE id = ?", rows)
        self._db.executemany("DELETE FROM chunk_terms WHERE rowid = ?", rows)

    def _select_chunks(self, where: str, params: Sequence) -> list[StoredChunk]:
        with self._lock:
            rows = self._db.execute(f"SELECT {CHUNK_COLUMNS} FROM chunks {where}", params).fetchall()
        return [_row_to_stored(row) for row in rows]


MAX_NAME_CHARS = 500  # longer than any qualified name; SQLite refuses very long LIKE patterns
MAX_QUERY_TERMS = 64  # the first distinct terms of a long query are enough to rank by

class _Transaction:
    """BEGIN/COMMIT around a block, ROLLBACK on error (the connection runs in autocommit)."""

    def __init__(self, db: _GuardedConnection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
            return
        try:
            self._db.execute("ROLLBACK")
        except StoreError:
            pass  # a corrupt or full database may refuse even that; the first error tells why


class _GuardedConnection:
    """A sqlite3 connection whose failures come out as StoreError (see `_translated`)."""

    def __init__(self, db: sqlite3.Connection, path: Path):
        self._connection = db
        self._path = path

    def execute(self, sql: str, params: Sequence = ()) -> _GuardedCursor:
        try:
            return _GuardedCursor(self._connection.execute(sql, params), self._path)
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self._path) from None

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> _GuardedCursor:
        try:
            return _GuardedCursor(self._connection.executemany(sql, rows), self._path)
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self._path) from None

    def close(self) -> None:
        self._connection.close()


class _GuardedCursor:
    """A cursor whose row fetching fails as StoreError too (SQLite reads pages as it steps)."""

    def __init__(self, cursor: sqlite3.Cursor, path: Path):
        self._cursor = cursor
        self._path = path
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid

    def fetchone(self) -> tuple | None:
        try:
            return self._cursor.fetchone()
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self._path) from None

    def fetchall(self) -> list[tuple]:
        try:
            return self._cursor.fetchall()
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self._path) from None

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.fetchall())


def _translated(exc: sqlite3.DatabaseError, path: Path) -> StoreError:
    """The StoreError a user should see for an SQLite failure on the store at `path`."""
    text = str(exc)
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return StoreReadOnly(f"cache directory is read-only: {path.parent}")
    if "disk is full" in lowered or "database or disk is full" in lowered:
        return StoreError(f"the disk is full: cannot write the ragls index in {path.parent}")
    if "disk i/o error" in lowered:
        return StoreError(f"cannot write the ragls index in {path.parent}: disk I/O error (is the disk full?)")
    if any(word in lowered for word in _CORRUPTION):
        return StoreCorrupt(f"the ragls store {path} is damaged ({text})")
    return StoreError(f"the ragls store {path} cannot be used: {text}")


def _is_read_only(path: Path) -> bool:
    """True when the store (or, before it exists, its nearest existing folder) cannot be written."""
    if path.exists():
        return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return not os.access(folder, os.W_OK)


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a store of an earlier ragls up to this schema in place (no re-indexing)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(files)")}
    for column in ("content_hash TEXT NOT NULL DEFAULT ''", "from_base INTEGER NOT NULL DEFAULT 0"):
        if column.split()[0] not in have:
            db.execute(f"ALTER TABLE files ADD COLUMN {column}")


def _file_state(row: Sequence) -> FileState:
    return FileState(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def _has_terms_table(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunk_terms'").fetchone() is not None


def _span_values(span: Span) -> tuple[int, int, int, int]:
    return (span.start_line, span.start_col, span.end_line, span.end_col)


def _row_to_stored(row: Sequence) -> StoredChunk:
    chunk = Chunk(
        path=row[1],
        language=row[2],
        name=row[3],
        kind=row[4],
        span=Span(*row[5:9]),
        name_span=Span(*row[9:13]),
        signature=row[13],
        docstring=row[14],
        text=row[15],
        content_hash=row[16],
    )
    return StoredChunk(row[0], chunk)
