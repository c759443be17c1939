"""`ragls eval`: how often search puts the right function first, measured on the user's own code.

The questions come from the code itself: the first sentence of each function's doc is a query
whose answer is that function. So that the answer cannot be read off the doc, the folder is
copied with every function doc removed (lines kept, so positions stay comparable), the copy is
indexed in a cache of its own, and each query runs through the same search as `ragls/search`,
once per ranking. Docs are found by the chunker (`core.chunking.function_docs`), the one place
that knows where they are.

A query is kept when its sentence has 6 to 40 words, the function is not test code
(`core.roles`) and has at least 3 lines of body, and no other function's doc starts with the
same sentence. The sample is deterministic (`limit`, `seed`).
"""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ragls.core.chunk import Chunk
from ragls.core.chunking import FunctionDoc, chunk_source, function_docs, strip_docs
from ragls.core.retrieval import DEFAULT_RANKING, ranking_names
from ragls.core.roles import IMPLEMENTATION, code_role
from ragls.core.run import Progress
from ragls.core.settings import EngineSettings
from ragls.core.workspace import SkipReason, WalkOptions, Workspace
from ragls.services.engine import Engine
from ragls.services.errors import EngineError
from ragls.services.worker import ERROR, EngineListener

DEFAULT_LIMIT = 300
MIN_WORDS, MAX_WORDS = 6, 40
MIN_BODY_LINES = 3
TOP = 10  # MRR@10, recall@10
SAMPLE_FILE = "queries.json"

_MARKUP = (
    (re.compile(r"\{@\w+\s+([^}]*)\}"), r"\1"),  # {@link Foo} (JSDoc, Javadoc)
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url)
    (re.compile(r"\[`?([^\]`]+)`?\]"), r"\1"),  # [`Foo`] (rustdoc links)
    (re.compile(r"</?[a-zA-Z][^>]*>"), ""),  # <code>, <p>
    (re.compile(r":[a-z]+:`([^`]*)`"), r"\1"),  # :func:`foo` (Sphinx)
    (re.compile(r"[`*]+|(?<!\w)_+|_+(?!\w)"), ""),  # `code`, *emphasis*, _emphasis_
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'`\[]|$)|\n\s*\n")
_TAG_LINE = re.compile(r"^\s*(?:@|:param|:return|:raises|Args:|Returns:|Raises:|Parameters\b|#\s)", re.MULTILINE)


@dataclass(frozen=True)
class EvalQuery:
    """A query and the function that answers it (its name's line in the file, 0-based)."""

    text: str
    path: str
    name: str
    line: int
    language: str


@dataclass
class Scores:
    """How one ranking did on some queries."""

    queries: int = 0
    reciprocal_ranks: float = 0.0
    first: int = 0
    top: int = 0

    def add(self, rank: int | None) -> None:
        """Count one query, answered at `rank` (1-based; None: not in the top TOP)."""
        self.queries += 1
        if rank is not None and rank <= TOP:
            self.reciprocal_ranks += 1 / rank
            self.top += 1
            self.first += rank == 1

    def as_json(self) -> dict:
        """{"mrr@10", "recall@1", "recall@10"} rounded to 4 places."""
        n = max(self.queries, 1)
        return {"mrr@10": round(self.reciprocal_ranks / n, 4), "recall@1": round(self.first / n, 4),
                "recall@10": round(self.top / n, 4)}


@dataclass
class EvalReport:
    """Scores per ranking, overall and per language; `ranks` per query, for paired comparisons."""

    default: str
    rankings: dict[str, Scores] = field(default_factory=dict)
    languages: dict[str, dict[str, Scores]] = field(default_factory=dict)
    ranks: dict[str, list[int | None]] = field(default_factory=dict)
    queries: list[EvalQuery] = field(default_factory=list)

    def as_json(self) -> dict:
        """The `ragls eval --json` shape."""
        return {
            "queries": len(self.queries),
            "default": self.default,
            "rankings": {name: scores.as_json() for name, scores in self.rankings.items()},
            "languages": {
                language: {"queries": next(iter(by.values())).queries, "rankings": {n: s.as_json() for n, s in by.items()}}
                for language, by in sorted(self.languages.items())
            },
        }


def evaluate(
    root: Path,
    settings: EngineSettings,
    work: Path,
    limit: int = DEFAULT_LIMIT,
    seed: int = 0,
    listener: EngineListener | None = None,
    on_query: Callable[[Progress], None] = lambda progress: None,
    rankings: tuple[str, ...] | None = None,
) -> EvalReport:
    """Build (or reuse) the doc-less copy of `root` in `work`, index it there, run the queries."""
    copy, queries = prepare(root, settings, work, limit, seed)
    if not queries:
        raise EngineError(f"no documented function in {root} makes a query (6 to 40 words, not test code)")
    engine = Engine(replace(settings, cache_dir=str(work / "cache")), listener, model_on_demand=True)
    try:
        engine.start([copy], preload_model=False)
        status = engine.wait_until_idle()
        if status.state == ERROR:
            raise EngineError(status.message or "the copy cannot be indexed")
        return _run(engine, queries, rankings or _rankings(), on_query)
    finally:
        engine.close()


def prepare(root: Path, settings: EngineSettings, work: Path, limit: int, seed: int) -> tuple[Path, list[EvalQuery]]:
    """The doc-less copy of `root` under `work` and the sampled queries; a copy built before for
    the same root, limit and seed is reused (`--keep`)."""
    copy, sample = work / "code", work / SAMPLE_FILE
    wanted = {"root": str(root), "limit": limit, "seed": seed}
    if sample.is_file():
        saved = json.loads(sample.read_text())
        if saved.get("for") == wanted and copy.is_dir():
            return copy, [EvalQuery(**query) for query in saved["queries"]]
    shutil.rmtree(copy, ignore_errors=True)
    candidates = _copy_without_docs(root, copy, settings)
    queries = _sample(candidates, limit, seed)
    work.mkdir(parents=True, exist_ok=True)
    sample.write_text(json.dumps({"for": wanted, "queries": [asdict(query) for query in queries]}))
    return copy, queries


def first_sentence(doc: str) -> str:
    """The first sentence of a doc, without markup: what a user might type to find the function."""
    text = _TAG_LINE.split(doc, maxsplit=1)[0]
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    sentence = _SENTENCE_END.split(text.strip(), maxsplit=1)[0]
    return " ".join(sentence.split())


def query_of(doc: FunctionDoc, stripped: Chunk | None) -> EvalQuery | None:
    """The query a documented function makes (see the module doc), or None; `stripped` is the
    function as the doc-less copy has it."""
    chunk = doc.chunk
    text = first_sentence(chunk.docstring)
    if stripped is None or not MIN_WORDS <= len(text.split()) <= MAX_WORDS:
        return None
    if code_role(chunk.path, chunk.name) != IMPLEMENTATION:
        return None
    body = [line for line in stripped.text.splitlines()[1:] if line.strip() and line.strip() != '""']
    if len(body) < MIN_BODY_LINES:
        return None
    return EvalQuery(text, chunk.path, chunk.name, chunk.name_span.start_line, chunk.language)


def _copy_without_docs(root: Path, copy: Path, settings: EngineSettings) -> list[EvalQuery]:
    """Write every indexed file of `root` to `copy` with its function docs removed; the
    queries its docs make."""
    workspace = Workspace(root, WalkOptions(max_file_size=settings.max_file_size, ignore=tuple(settings.ignore)))
    candidates: list[EvalQuery] = []
    for file in workspace.files():
        source = workspace.read(file)
        if isinstance(source, SkipReason):
            continue
        docs = function_docs(file.rel, source, file.language)
        stripped = strip_docs(source, file.language, docs) if docs else source
        target = copy / file.rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(stripped)
        if docs:
            by_name = {(c.name, c.name_span.start_line): c for c in chunk_source(file.rel, stripped, file.language)}
            for doc in docs:
                query = query_of(doc, by_name.get((doc.chunk.name, doc.chunk.name_span.start_line)))
                if query is not None:
                    candidates.append(query)
    return candidates


def _sample(candidates: list[EvalQuery], limit: int, seed: int) -> list[EvalQuery]:
    """Queries whose sentence no other function's doc shares, `limit` of them drawn with `seed`."""
    counts: dict[str, int] = {}
    for query in candidates:
        counts[query.text.lower()] = counts.get(query.text.lower(), 0) + 1
    unique = sorted((q for q in candidates if counts[q.text.lower()] == 1), key=lambda q: (q.path, q.line))
    random.Random(seed).shuffle(unique)
    return unique[:limit]


def _rankings() -> tuple[str, ...]:
    return tuple(dict.fromkeys([*("dense", "lexical", "hybrid"), DEFAULT_RANKING]))


def _run(
    engine: Engine, queries: list[EvalQuery], rankings: tuple[str, ...], on_query: Callable[[Progress], None]
) -> EvalReport:
    report = EvalReport(default=DEFAULT_RANKING, queries=queries)
    for name in rankings:
        if name not in ranking_names():
            raise EngineError(f"unknown ranking {name!r}")
        report.rankings[name], report.ranks[name] = Scores(), []
    for done, query in enumerate(queries, start=1):
        for name in rankings:
            rank = _rank_of(engine, query, name)
            report.rankings[name].add(rank)
            report.languages.setdefault(query.language, {}).setdefault(name, Scores()).add(rank)
            report.ranks[name].append(rank)
        on_query(Progress("searching", chunks_done=done, chunks_total=len(queries)))
    return report


def _rank_of(engine: Engine, query: EvalQuery, ranking: str) -> int | None:
    found = engine.queries.search(query.text, TOP, ranking).results
    for rank, result in enumerate(found, start=1):
        chunk = result.chunk
        if (chunk.path, chunk.name, chunk.name_span.start_line) == (query.path, query.name, query.line):
            return rank
    return None
