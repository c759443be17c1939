"""What users ask of the index, over every workspace folder: search, related code, the function
under a position (hover, explain), symbols by name.

Every query works on text the caller read through `Roots.read_document` (the editor's version of
a file, unsaved edits included), so the CLI and the server answer the same way. Queries block on
SQLite, hnswlib and the model: the server runs them in its thread pool. They answer from what is
indexed so far while the worker runs; until the model is loaded the server's queries do not wait
for it (search falls back to the keyword ranking, hovers list no related code), while the CLI's
load it (`model_on_demand`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ragls.core.chunk import MODULE, WINDOW, Chunk, Span
from ragls.core.chunking import chunk_source
from ragls.core.indexer import Indexer
from ragls.core.languages import language_for_path
from ragls.core.retrieval import check_limit, check_query, enclosing_chunk
from ragls.core.store import StoreCorrupt, StoreError
from ragls.services.errors import EngineError, InvalidRequest
from ragls.services.roots import Root, Roots

HOVER_RELATED = 3  # related functions listed in a hover


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


class Queries:
    """The queries of the engine."""

    def __init__(
        self,
        roots: Roots,
        is_partial: Callable[[], bool],
        model_error: Callable[[], str | None],
        on_damaged: Callable[[Path], None],
        model_on_demand: bool = False,
    ):
        self.roots = roots
        self._is_partial = is_partial
        self._model_error = model_error
        self._on_damaged = on_damaged  # a store found damaged: its folder gets a full run
        self.model_on_demand = model_on_demand

    @property
    def model_ready(self) -> bool:
        """True when queries may use the model without waiting for it to load."""
        return self._model_error() is None and (self.model_on_demand or self.roots.embedder.loaded)

    def search(self, query: str, limit: int = 10, ranking: str | None = None) -> SearchOutcome:
        """The functions of every folder that best match a query, best first."""
        query = check_query(query)
        check_limit(limit)
        self._raise_if_failed()
        opened = self.roots.open_roots()
        if not self.model_ready:
            ranking = "lexical"  # no waiting for the model
        # Every folder shares the one model: embed the query once, not once per folder.
        vector = opened[0].retriever.embed_query(query) if opened and ranking != "lexical" else None
        found = []
        for open_root in opened:
            with self._healing(open_root.root):
                hits = open_root.retriever.search(query, limit, ranking, query_vector=vector)
            found.extend(Found(open_root.root.folder, hit.chunk, hit.score) for hit in hits)
        found.sort(key=lambda item: item.score, reverse=True)
        return SearchOutcome(found[:limit], partial=self._is_partial() or ranking == "lexical")

    def related(self, path: Path, text: str, line: int, limit: int = 10) -> RelatedOutcome:
        """The function enclosing `line` of `text` (the editor's version of `path`), then the
        functions of every folder most like it."""
        check_limit(limit)
        self._raise_if_failed()
        root, chunks = self.chunks_of(path, text)
        symbol = enclosing_chunk(chunks, line)
        if symbol is None:
            return RelatedOutcome(None, [])
        return RelatedOutcome(Found(root.folder, symbol), self.related_to(root, symbol, limit))

    def hover(self, path: Path, text: str, line: int, character: int) -> HoverInfo | None:
        """The function whose name is at a position, and its closest relatives; None elsewhere."""
        root, chunks = self.chunks_of(path, text)
        symbol = next(
            (c for c in chunks if c.kind not in (MODULE, WINDOW) and _touches(c.name_span, line, character)),
            None,
        )
        if symbol is None:
            return None
        ready = self.model_ready
        related = self.related_to(root, symbol, HOVER_RELATED) if ready else []
        return HoverInfo(Found(root.folder, symbol), related, related_pending=not ready)

    def function_at(self, path: Path, text: str, line: int) -> Found:
        """The function (or module/window chunk) enclosing `line` of the editor's `text`;
        InvalidRequest when no chunk holds the line."""
        root, chunks = self.chunks_of(path, text)
        symbol = enclosing_chunk(chunks, line)
        if symbol is None:
            raise InvalidRequest(f"there is no code at line {line + 1} of {path.name} to explain")
        return Found(root.folder, symbol)

    def symbols(self, query: str, limit: int = 50, semantic_limit: int = 20) -> list[Found]:
        """Functions whose name contains `query`; for a query of several words, then the best
        semantic matches that are not already listed."""
        query = query.strip()
        if not query:
            return []
        named = self.named_like(query, limit)
        named.sort(key=lambda found: _name_rank(found.chunk.name, query))
        named = named[:limit]
        if len(query.split()) < 2 or self._model_error() is not None:
            return named
        listed = {_identity(found) for found in named}
        semantic = [
            found
            for found in self.search(query, semantic_limit).results
            if found.chunk.kind not in (MODULE, WINDOW) and _identity(found) not in listed
        ]
        return named + semantic

    # building blocks (also for services.explain) ----------------------------------------
    def chunks_of(self, path: Path, text: str) -> tuple[Root, list[Chunk]]:
        """The root of `path` and the chunks of the editor's `text` of it (checked as every
        request is: see Roots.request_file)."""
        root, rel = self.roots.request_file(path)
        data = text.encode("utf-8", "surrogatepass")
        self.roots.check_size(rel, len(data))
        return root, chunk_source(rel, data, language_for_path(rel))

    def related_to(self, home: Root, symbol: Chunk, limit: int) -> list[Found]:
        """The chunks of every folder most like `symbol` (of `home`), without itself."""
        found: list[Found] = []
        for open_root in self.roots.open_roots():
            exclude = _ids_of_same_function(open_root.indexer, symbol) if open_root.root is home else set()
            with self._healing(open_root.root):
                hits = open_root.retriever.related_to(symbol, limit, exclude=exclude)
            found.extend(Found(open_root.root.folder, hit.chunk, hit.score) for hit in hits)
        found.sort(key=lambda item: item.score, reverse=True)
        return found[:limit]

    def named_like(self, text: str, limit: int) -> list[Found]:
        """Functions of every folder whose qualified name contains `text` (store order)."""
        return [
            Found(open_root.root.folder, stored.chunk)
            for open_root in self.roots.open_roots()
            for stored in open_root.indexer.reader.functions_named(text, limit)
        ]

    def named_exactly(self, name: str) -> list[Found]:
        """Functions whose short name is `name` (`add_item` finds `Cart.add_item`)."""
        return [found for found in self.named_like(name, 10) if short_name(found.chunk.name) == name]

    def _raise_if_failed(self) -> None:
        error = self._model_error()
        if error is not None:
            raise EngineError(f"ragls cannot answer: {error}")

    def _healing(self, root: Root) -> _Healing:
        return _Healing(root, self._on_damaged)


class _Healing:
    """Around a query on one folder: a damaged store queues the folder's rebuild and is answered
    as a clear error."""

    def __init__(self, root: Root, on_damaged: Callable[[Path], None]):
        self._root = root
        self._on_damaged = on_damaged

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, StoreCorrupt):
            self._on_damaged(self._root.folder)
            raise StoreError(f"{error}; ragls is rebuilding the index of {self._root.folder}") from None
        return False


def short_name(qualified: str) -> str:
    """`add_item` for `Cart.add_item` (also `Type::fn`, `Mod::Class#method`)."""
    return re.split(r"\.|::|#", qualified)[-1]


def _ids_of_same_function(indexer: Indexer, symbol: Chunk) -> set[int]:
    """The stored versions of the function itself, which must not count as related to it."""
    stored = indexer.reader.chunks_of_file(symbol.path)
    return {s.id for s in stored if s.chunk.name == symbol.name and s.chunk.kind == symbol.kind}


def _touches(span: Span, line: int, character: int) -> bool:
    """True when a position is inside the span or just after its last character."""
    after_start = (line, character) >= (span.start_line, span.start_col)
    before_end = (line, character) <= (span.end_line, span.end_col)
    return after_start and before_end


def _name_rank(name: str, query: str) -> tuple[bool, bool, int, str]:
    lowered, wanted = name.lower(), query.lower()
    return (lowered != wanted, not lowered.endswith(wanted), len(name), name)


def _identity(found: Found) -> tuple[Path, str, Span]:
    return found.folder, found.chunk.path, found.chunk.span
