"""Search and related-code lookups over an indexed root.

Rankings:
- `dense`: cosine similarity of the query's embedding with the function embeddings (hnswlib).
- `lexical`: BM25 (SQLite FTS5) over identifier sub-words, so `parse config` meets `parseConfig`.
- `hybrid` (the default): weighted reciprocal-rank fusion of the two, the weights depending on
  whether the query reads like prose or like an identifier, then priors: functions before the
  module and window chunks, the implementation before tests and examples (down-weighted, never
  removed: a search for a test still finds it). `Fusion` holds every number of it;
  docs/benchmarks.md has the measurements that chose them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ragls.core.chunk import MODULE, WINDOW, Chunk
from ragls.core.embedding import Embedder
from ragls.core.errors import RaglsError
from ragls.core.indexer import Indexer
from ragls.core.roles import IMPLEMENTATION, code_role
from ragls.core.store import LEXICAL_WEIGHTS

RRF_K = 60  # the usual reciprocal-rank-fusion constant: damps the weight of the very top ranks
CANDIDATES = 50  # how deep each ranking is read before fusion


@dataclass(frozen=True)
class Fusion:
    """How a hybrid ranking combines the dense and lexical rankings, and its priors. The defaults
    are the product's `hybrid`, chosen on bench/eval_corpora.py (docs/benchmarks.md has the
    numbers of every value tried)."""

    # Each ranking's scores min-max scaled over its candidates and summed with these weights
    # (method "scores"); reciprocal-rank fusion ("rrf", constant rrf_k) measured lower.
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    # Queries that read like identifiers (`parseConfig`, `Cart.total`, one word).
    identifier_dense_weight: float = 1.0
    identifier_lexical_weight: float = 1.0
    module_prior: float = 0.5  # score factor of module and window chunks
    test_prior: float = 0.5  # score factor of tests, benchmarks and examples (core.roles)
    per_file: int = 0  # results from one file at most, before the others' (0: no limit)
    rrf_k: int = RRF_K
    candidates: int = CANDIDATES  # how deep each ranking is read
    method: str = "scores"
    lexical_fields: tuple[float, float, float] = LEXICAL_WEIGHTS  # BM25 weights of name, path, body
    name_weight: float = 0.0  # weight of a third ranking: BM25 over the names alone


FUSIONS = {"hybrid": Fusion()}
DEFAULT_RANKING = "hybrid"
RANKINGS = ("dense", "lexical", *FUSIONS)
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
            return self._hits(self.indexer.reader.lexical_search(query, limit))
        if query_vector is None:
            query_vector = self.embed_query(query)
        if ranking == "dense":
            return self._hits(self._dense(query_vector, limit))
        return self._fused(query, query_vector, FUSIONS[ranking], limit)

    def _fused(self, query: str, vector: np.ndarray, fusion: Fusion, limit: int) -> list[Hit]:
        store = self.indexer.reader
        rankings = [self._dense(vector, fusion.candidates), store.lexical_search(query, fusion.candidates, fusion.lexical_fields)]
        if looks_like_identifier(query):
            weights = [fusion.identifier_dense_weight, fusion.identifier_lexical_weight]
        else:
            weights = [fusion.dense_weight, fusion.lexical_weight]
        if fusion.name_weight:
            rankings.append(store.lexical_search(query, fusion.candidates, fusion.lexical_fields, name_only=True))
            weights.append(fusion.name_weight)
        if fusion.method == "scores":
            fused = fuse_scores(rankings, weights)
        else:
            fused = fuse_rankings(rankings, weights=weights, k=fusion.rrf_k)
        hits = self._hits(fused)
        scored = [Hit(hit.id, hit.chunk, hit.score * _prior(hit.chunk, fusion)) for hit in hits]
        scored.sort(key=lambda hit: hit.score, reverse=True)
        return _diverse(scored, fusion.per_file)[:limit]

    def embed_query(self, query: str) -> np.ndarray:
        """The embedding of a query text."""
        return self.embedder.embed([query], as_query=True)[0]

    def related_to(self, chunk: Chunk, limit: int = 10, exclude: set[int] | None = None) -> list[Hit]:
        """The chunks most similar to `chunk`, which may be unsaved text not in the index."""
        check_limit(limit)
        cached = self.indexer.reader.cached_vectors(self.indexer.model_id, [chunk.content_hash])
        vector = cached.get(chunk.content_hash)
        if vector is None:
            vector = self.embedder.embed([chunk.embed_text])[0]
        return self._hits(self._dense(vector, limit, exclude or set()))

    def _dense(self, vector: np.ndarray, limit: int, exclude: set[int] | None = None) -> list[tuple[int, float]]:
        return self.indexer.search_vectors().search(vector, limit, exclude=exclude or ())

    def _hits(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        stored = self.indexer.reader.chunks_by_ids([chunk_id for chunk_id, _ in ranked])
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


def looks_like_identifier(query: str) -> bool:
    """True for a query of one or two words of which one is written like code (`parseConfig`,
    `load_file`, `Cart.total`, `fn()`), or of one word."""
    words = query.split()
    return len(words) == 1 or (len(words) == 2 and any(_CODE_WORD.search(word) for word in words))


_CODE_WORD = re.compile(r"[a-z][A-Z]|_|\.\w|::|#|\(")


def _prior(chunk: Chunk, fusion: Fusion) -> float:
    """How much a chunk's kind and role weigh on its fused score."""
    factor = fusion.module_prior if chunk.kind in (MODULE, WINDOW) else 1.0
    if fusion.test_prior != 1.0 and code_role(chunk.path, chunk.name) != IMPLEMENTATION:
        factor *= fusion.test_prior
    return factor


def _diverse(hits: list[Hit], per_file: int) -> list[Hit]:
    """Hits with at most `per_file` from one file ahead of the rest (0: the order is kept)."""
    if not per_file:
        return hits
    seen: dict[str, int] = {}
    first, rest = [], []
    for hit in hits:
        seen[hit.chunk.path] = seen.get(hit.chunk.path, 0) + 1
        (first if seen[hit.chunk.path] <= per_file else rest).append(hit)
    return first + rest


def fuse_scores(rankings: list[list[tuple[int, float]]], weights: list[float]) -> list[tuple[int, float]]:
    """Each ranking's scores scaled to 0..1 (min-max over its candidates), weighted and summed;
    the result divided by the weights' sum, so it lies in 0..1 too."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        if not ranking:
            continue
        scores = [score for _, score in ranking]
        low, high = min(scores), max(scores)
        for item, score in ranking:
            scaled = (score - low) / (high - low) if high > low else 1.0
            fused[item] = fused.get(item, 0.0) + weight * scaled
    total = sum(weights) or 1.0
    return sorted(((item, score / total) for item, score in fused.items()), key=lambda pair: pair[1], reverse=True)


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


def ranking_names() -> tuple[str, ...]:
    """Every ranking a search may ask for."""
    return ("dense", "lexical", *FUSIONS)


def _check_ranking(ranking: str) -> None:
    if ranking not in ranking_names():
        raise QueryError(f"unknown ranking {ranking!r}: use one of {', '.join(ranking_names())}")

