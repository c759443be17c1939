"""Search and related-code lookups over an indexed root.

Rankings:
- `dense`: cosine similarity of the query's embedding with the function embeddings (hnswlib).
- `lexical`: BM25 (SQLite FTS5) over identifier sub-words, so `parse config` meets `parseConfig`.
- `hybrid`: reciprocal-rank fusion of the two. docs/benchmarks.md has the measurements that
  chose the default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ragls.core.chunk import MODULE, WINDOW, Chunk
from ragls.core.embedding import Embedder
from ragls.core.errors import RaglsError
from ragls.core.indexer import Indexer

RANKINGS = ("dense", "lexical", "hybrid")
DEFAULT_RANKING = "hybrid"
RRF_K = 60  # the usual reciprocal-rank-fusion constant: damps the weight of the very top ranks
# Dense counts twice as much as lexical in the fusion: with equal weights, any chunk that both
# rankings place in the middle beat dense's confident first answer (docs/benchmarks.md).
DENSE_WEIGHT = 2.0
LEXICAL_WEIGHT = 1.0
CANDIDATES = 50  # how deep each ranking is read before fusion
# A pasted function is a fine query; a pasted file is not (the model reads 256 word pieces).
MAX_QUERY_CHARS = 10_000


class QueryError(RaglsError, ValueError):
    """A query that cannot be answered: empty text, unknown ranking, bad limit."""


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk found by a query, with its score (higher is better).

    Scores are cosine similarity for `dense`, BM25 for `lexical`, and for `hybrid` the fused
    reciprocal-rank score scaled to 0..1 (1 = first in both rankings).
    """

    id: int
    chunk: Chunk
    score: float


class Retriever:
    """Answers search and related queries from an `Indexer`'s store and vector index.

    Queries are embedded with `embedder` (the indexer's own by default; the services pass their
    shared model, whose queries go before index work).
    """

    def __init__(self, indexer: Indexer, ranking: str = DEFAULT_RANKING, embedder: Embedder | None = None):
        _check_ranking(ranking)
        self.indexer = indexer
        self.ranking = ranking
        self.embedder = embedder or indexer.embedder

    def search(
        self,
        query: str,
        limit: int = 10,
        ranking: str | None = None,
        query_vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """The chunks that best match a natural-language or identifier query.

        `query_vector` is the query's embedding when the caller has it already (one query
        searched in several folders that share a model is embedded once).
        """
        query = check_query(query)
        check_limit(limit)
        ranking = ranking or self.ranking
        _check_ranking(ranking)
        if ranking == "lexical":
            return self._hits(self.indexer.store.lexical_search(query, limit))
        if query_vector is None:
            query_vector = self.embed_query(query)
        dense = self._dense(query_vector, limit if ranking == "dense" else CANDIDATES)
        if ranking == "dense":
            return self._hits(dense)
        lexical = self.indexer.store.lexical_search(query, CANDIDATES)
        fused = fuse_rankings([dense, lexical], weights=[DENSE_WEIGHT, LEXICAL_WEIGHT])
        return self._hits(fused[:limit])

    def embed_query(self, query: str) -> np.ndarray:
        """The embedding of a query text."""
        return self.embedder.embed([query])[0]

    def related_to(self, chunk: Chunk, limit: int = 10, exclude: set[int] | None = None) -> list[Hit]:
        """The chunks most similar to `chunk`, which may be unsaved text not in the index."""
        check_limit(limit)
        cached = self.indexer.store.cached_vectors(self.indexer.model_id, [chunk.content_hash])
        vector = cached.get(chunk.content_hash)
        if vector is None:
            vector = self.embedder.embed([chunk.embed_text])[0]
        return self._hits(self._dense(vector, limit, exclude or set()))

    def _dense(self, vector: np.ndarray, limit: int, exclude: set[int] | None = None) -> list[tuple[int, float]]:
        return self.indexer.vector_index().search(vector, limit, exclude=exclude or ())

    def _hits(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        stored = self.indexer.store.chunks_by_ids([chunk_id for chunk_id, _ in ranked])
        return [Hit(i, stored[i].chunk, float(score)) for i, score in ranked if i in stored]


def fuse_rankings(
    rankings: list[list[tuple[int, float]]], weights: list[float] | None = None, k: int = RRF_K
) -> list[tuple[int, float]]:
    """Weighted reciprocal-rank fusion: each id scores the sum of weight/(k + rank).

    The fused score is divided by its maximum (first in every ranking), so it lies in 0..1.
    """
    weights = weights or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (item, _) in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    best_possible = sum(weights) / (k + 1)
    ordered = sorted(fused.items(), key=lambda pair: pair[1], reverse=True)
    return [(item, score / best_possible) for item, score in ordered]


def enclosing_chunk(chunks: list[Chunk], line: int) -> Chunk | None:
    """The innermost function of `chunks` containing 0-based `line`.

    Falls back to the module or window chunk holding that line when no function does.
    """
    containing = [chunk for chunk in chunks if chunk.span.contains_line(line)]
    functions = [chunk for chunk in containing if chunk.kind not in (MODULE, WINDOW)]
    candidates = functions or containing
    if not candidates:
        return None
    return min(candidates, key=lambda chunk: chunk.span.end_line - chunk.span.start_line)


def check_query(query: str) -> str:
    """The query without surrounding blanks; QueryError when nothing is left, or too much."""
    query = query.strip()
    if not query:
        raise QueryError("the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is too long ({len(query):,} characters; at most {MAX_QUERY_CHARS:,})")
    return query


def check_limit(limit: int) -> None:
    """QueryError unless `limit` is a whole number from 1 to 1000."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        raise QueryError(f"limit must be a whole number from 1 to 1000, got {limit!r}")


def _check_ranking(ranking: str) -> None:
    if ranking not in RANKINGS:
        raise QueryError(f"unknown ranking {ranking!r}: use one of {', '.join(RANKINGS)}")

