"""Explanations kept on disk, so that hovers can show them without asking the LLM again.

A small SQLite database in the root's cache folder (`explanations.sqlite3`, next to the
index), keyed by (model, the function's content hash, question). The content hash changes with
the function's text, so an edited function misses the cache; `latest` still finds the older
explanation of a function by its path and name, which is how a hover tells that it is stale.
Each call opens its own connection: callers run on several threads. The cache is a
convenience: when its folder cannot be written (a read-only cache) or its file is damaged,
answers are simply not cached, and nothing fails.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from ragls.core.chunk import Chunk

log = logging.getLogger(__name__)

FILE_NAME = "explanations.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS explanations (
    model TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    question TEXT NOT NULL,
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    markdown TEXT NOT NULL,
    sources TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (model, content_hash, question)
);
CREATE INDEX IF NOT EXISTS explanations_by_name ON explanations (model, path, name, question, created);
"""


@dataclass(frozen=True)
class CachedExplanation:
    """An explanation as it was stored; `sources` are the `Result` objects it cited."""

    markdown: str
    sources: list[dict]
    content_hash: str
    created: float


class ExplanationCache:
    """The explanations of one workspace folder."""

    def __init__(self, folder: Path):
        self.path = folder / FILE_NAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            log.info("explanations are not cached: %s: %s", self.path, exc)

    def get(self, model: str, chunk: Chunk, question: str = "") -> CachedExplanation | None:
        """The explanation of exactly this text of the function, or None."""
        return self._one(
            "WHERE model = ? AND content_hash = ? AND question = ?",
            (model, chunk.content_hash, _normal(question)),
        )

    def latest(self, model: str, chunk: Chunk, question: str = "") -> CachedExplanation | None:
        """The newest explanation of a function of this path and name, whatever its text was."""
        return self._one(
            "WHERE model = ? AND path = ? AND name = ? AND question = ? ORDER BY created DESC LIMIT 1",
            (model, chunk.path, chunk.name, _normal(question)),
        )

    def put(self, model: str, chunk: Chunk, question: str, markdown: str, sources: list[dict]) -> None:
        """Store (or replace) the explanation of this text of the function (if the cache can be
        written)."""
        try:
            self._insert(model, chunk, question, markdown, sources)
        except (OSError, sqlite3.Error) as exc:
            log.info("the explanation of %s is not cached: %s", chunk.name, exc)

    def _insert(self, model: str, chunk: Chunk, question: str, markdown: str, sources: list[dict]) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO explanations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    model,
                    chunk.content_hash,
                    _normal(question),
                    chunk.path,
                    chunk.name,
                    markdown,
                    json.dumps(sources),
                    time.time(),
                ),
            )

    def _one(self, where: str, params: tuple) -> CachedExplanation | None:
        if not self.path.exists():
            return None
        try:
            with closing(self._connect()) as db:
                row = db.execute(
                    f"SELECT markdown, sources, content_hash, created FROM explanations {where}", params
                ).fetchone()
        except sqlite3.Error as exc:
            log.info("cannot read cached explanations: %s: %s", self.path, exc)
            return None
        if row is None:
            return None
        return CachedExplanation(row[0], json.loads(row[1]), row[2], row[3])

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)


def _normal(question: str | None) -> str:
    return " ".join((question or "").split())
