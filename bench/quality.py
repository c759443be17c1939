"""Search quality of the three rankings (dense, lexical, hybrid) on code nobody here wrote.

    OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python bench/quality.py \
        [--small] [--limit-queries 400] [--work bench/results/quality-work] \
        [--out bench/results/quality.json]

Method
------
1. Corpus. A fixed list of CPython 3.11 standard-library packages and modules is copied into
   `<work>/full/corpus` (`<work>/small/corpus` with --small). In the copy every function's and
   method's docstring is removed with `ast`: the docstring's lines become blank lines (or one
   `pass` where the docstring was the whole body), so line numbers and syntax stay valid. Module
   and class docstrings are kept: they are not queries, and real code has them. A file that `ast`
   cannot parse is copied unchanged.
2. Two query sets, each a seeded sample (seed 0, at most --limit-queries) whose one right answer
   per query is a function, named as ragls names Python chunks: (workspace-relative path,
   `Class.method` / `outer.inner`).
   - `nl` (natural language): each removed docstring's first sentence (of its first paragraph,
     whitespace collapsed). Sentences shorter than five words, boilerplate ("Same as ...",
     "Deprecated ..."), signature lines, grammar rules, doctest text, and sentences shared by
     several functions are left out.
   - `identifier`: a user who half-remembers a name. Every function or method whose own name
     (the last component of its qualified name) is defined once in the whole corpus gives the
     query made of that name's sub-words, lower case, joined by spaces: `_get_chunks` ->
     `get chunks`, `parseHTTPHeader` -> `parse http header`, `formatargvalues` unchanged
     (digits stay with their word: `b64encode`). Dunder methods and names shorter than six
     characters as written are left out, and so is a query that two names give.
3. Index. The copy is indexed by ragls's own `Indexer` into `<work>/<mode>/cache`, with one
   all-MiniLM-L6-v2 embedder on the CPU, exactly as the server would. Both folders stay between
   runs: when the folder already holds exactly the corpus this selection gives (same stdlib
   folder, packages and modules, byte-identical files, from a run that finished indexing),
   nothing is rewritten and ragls finds every file unchanged, so a second run embeds nothing
   and loads the saved vector index. Otherwise the corpus and the cache are deleted and built
   from scratch, so that the numbers never depend on an earlier, different index.
4. Search. Every ranking goes through `Retriever.search` (so its latency is real): the product's
   three, and other hybrid rankings (`VARIANTS`: the one before bench/eval_corpora.py chose the
   current one, and other weights for queries that read like identifiers), registered as
   rankings of the product's own fusion code.
5. Metrics, over the top 10, per query set: MRR@10, recall@1, recall@10, mean latency per query,
   a bootstrap 95% interval of MRR@10, and a paired comparison with dense (MRR difference with
   its paired bootstrap interval, queries ranked better / worse), plus how often the first
   result is a MODULE chunk (code outside functions, which holds the kept class and module
   docstrings).

Biases to keep in mind
----------------------
- Docstrings are written by the function's author and reuse its identifiers ("Return the
  header's charset" for `get_charset`), which favours lexical matching. Real users' queries
  share fewer words with the code, so lexical numbers here are an upper bound.
- The standard library is in the model's training data, probably with its docstrings; dense
  scores may be flattered as well.
- Exactly one right answer per query: a near-duplicate function (an overload in a subclass,
  the sync twin of an async method) counts as a miss though a user would be content with it.
- The first sentence of a docstring is a summary of the function; queries about a detail that
  sits in its body are not represented.
- Identifier queries are made from complete names, sub-words in order; a user's memory of a
  name is often worse (one word of it, a synonym, the wrong order). Only names defined once are
  used, so the set leaves out the generic names (`get`, `run`, `parse`) that are hardest to find
  by name; both make lexical look better than it would in use. Only Python is measured.
- Kept class and module docstrings sit in MODULE chunks, which compete with the answer; they
  often paraphrase a method's docstring, which pulls lexical (and some dense) hits to them.
- Latency is measured on whatever machine runs this, shared or not; the quality numbers are
  deterministic for a given model and corpus, the latencies are not.
"""

from __future__ import annotations

import argparse
import ast
from dataclasses import replace
import inspect
import json
import os
import platform
import random
import re
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "server"))

from ragls.core.embedding import SentenceTransformerEmbedder  # noqa: E402
from ragls.core.indexer import Indexer  # noqa: E402
from ragls.core.run import RunContext, Progress  # noqa: E402
from ragls.core.retrieval import CANDIDATES, FUSIONS, Fusion, Retriever  # noqa: E402
from ragls.core.settings import EngineSettings  # noqa: E402

STDLIB = Path("/root/.pyenv/versions/3.11.7/lib/python3.11")
RESULTS_DIR = REPO / "bench" / "results"
DEFAULT_WORK = RESULTS_DIR / "quality-work"  # corpus and ragls cache, kept between runs
MANIFEST = "selection.json"  # in <work>/<mode>/: what the corpus there was built from
DEFAULT_QUERIES = 400
SEED = 0
TOP = 10  # metrics are computed over the first TOP results
MIN_WORDS = 5
MIN_NAME_LENGTH = 6  # identifier queries: shorter names are left out
BOOTSTRAP_SAMPLES = 2000

# The full corpus: about 3,500 functions. Packages are copied whole (their tests left out).
FULL_PACKAGES = ("json", "email", "http", "logging", "concurrent", "urllib", "importlib", "xml/etree")
FULL_MODULES = (
    "argparse", "shutil", "pathlib", "textwrap", "difflib", "csv", "calendar", "heapq",
    "statistics", "fractions", "tarfile", "zipfile", "configparser", "gettext", "inspect",
    "smtplib", "ftplib", "random", "ipaddress", "bdb",
)
# --small: about 300 functions, to check the pipeline in a minute.
SMALL_PACKAGES = ("json",)
SMALL_MODULES = ("textwrap", "heapq", "csv", "fractions", "statistics", "shutil", "calendar")

# First sentences that say nothing a user would search for.
BOILERPLATE = re.compile(
    r"^(same as|alias (for|of)|deprecated|see |override|overridden|overrides|this method is|"
    r"this function is|for internal use|internal helper|helper (for|function)|todo)",
    re.IGNORECASE,
)

# Signature lines ("fill(text : string) -> string") and grammar rules ("x = a / b").
CODE_LIKE = re.compile(r"^[\w.]+\(.*\)\s*(->|$)|->| = |::=|\*\s*\(|^\(|\[CFWS\]")


# ---------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Query:
    """A docstring sentence and the one function it describes."""

    text: str
    path: str  # workspace-relative, forward slashes
    name: str  # ragls's qualified name: Class.method, outer.inner

    @property
    def expected(self) -> tuple[str, str]:
        """The (path, name) a correct hit has."""
        return (self.path, self.name)


@dataclass
class Corpus:
    """What the copy holds and what its docstrings and names gave."""

    modules: list[str]
    contents: dict[str, bytes] = field(default_factory=dict)  # root-relative path -> bytes to write
    unparsed: list[str] = field(default_factory=list)
    functions: int = 0
    docstrings_removed: int = 0
    candidates: list[Query] = field(default_factory=list)  # docstring sentences
    names: list[tuple[str, str]] = field(default_factory=list)  # (path, qualified name) of every def

    @property
    def files(self) -> int:
        """How many files the copy holds."""
        return len(self.contents)


@dataclass
class Ranked:
    """One ranking's answer to one query: the (path, name) of each result, best first."""

    keys: list[tuple[str, str]]
    kinds: list[str]  # chunk kind of each result: function, method, constructor, module
    seconds: float

    def rank_of(self, expected: tuple[str, str]) -> int | None:
        """1-based rank of the expected function within the first TOP results, or None."""
        for rank, key in enumerate(self.keys[:TOP], start=1):
            if key == expected:
                return rank
        return None


# ---------------------------------------------------------------------------- corpus


def selected_files(stdlib: Path, packages: tuple[str, ...], modules: tuple[str, ...]) -> list[str]:
    """Root-relative paths of the selected sources, sorted; test folders are left out."""
    rels: set[str] = set()
    for package in packages:
        for path in (stdlib / package).rglob("*.py"):
            rel = path.relative_to(stdlib)
            if not {"test", "tests"} & set(rel.parts):
                rels.add(rel.as_posix())
    for module in modules:
        rels.add(f"{module}.py")
    return sorted(rels)


def function_nodes(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(qualified name, node) of every def / async def, nested ones included, in source order.

    Names follow ragls's Python chunker: enclosing classes and functions joined with '.',
    whatever `if`/`try`/`with` blocks lie between them.
    """
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.append((name, child))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def function_docstrings(tree: ast.Module) -> list[tuple[str, ast.Constant]]:
    """(qualified name, docstring node) of every function with a docstring, in source order."""
    found = ((name, _docstring_node(node)) for name, node in function_nodes(tree))
    return [(name, doc) for name, doc in found if doc is not None]


def _docstring_node(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Constant | None:
    first = function.body[0] if function.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        if isinstance(first.value.value, str):
            return first.value
    return None


def strip_docstrings(source: str, tree: ast.Module) -> tuple[str, list[tuple[str, str]]]:
    """The source without function docstrings, and (qualified name, docstring) of each removed.

    Each docstring's lines become blank, except that a docstring that is the whole body leaves a
    `pass` on its first line. ast columns are UTF-8 byte offsets, so lines are edited as bytes.
    """
    lines = source.encode("utf-8").split(b"\n")
    removed: list[tuple[str, str]] = []
    bodies = _bodies_by_docstring(tree)
    for name, doc in function_docstrings(tree):
        first, last = doc.lineno - 1, doc.end_lineno - 1
        head = lines[first][: doc.col_offset]
        tail = lines[last][doc.end_col_offset :]
        sole = len(bodies[id(doc)]) == 1
        shares_line = bool(head.strip() or tail.strip())  # `def f(): "doc"` or `"doc"; x = 1`
        lines[first] = head + b"pass" + tail if sole or shares_line else b""
        for row in range(first + 1, last + 1):
            lines[row] = b""
        removed.append((name, doc.value))
    return b"\n".join(lines).decode("utf-8"), removed


def _bodies_by_docstring(tree: ast.Module) -> dict[int, list[ast.stmt]]:
    """The body of the function each docstring node opens, keyed by the node's id()."""
    bodies: dict[int, list[ast.stmt]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = _docstring_node(node)
            if doc is not None:
                bodies[id(doc)] = node.body
    return bodies


def first_sentence(docstring: str) -> str:
    """The first sentence of a docstring's first paragraph, whitespace collapsed."""
    paragraph = re.split(r"\n\s*\n", inspect.cleandoc(docstring).strip(), maxsplit=1)[0]
    text = " ".join(paragraph.split())
    sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z(`'\"])", text, maxsplit=1)[0]
    return sentence.strip()


def usable_query(sentence: str) -> bool:
    """Whether a sentence is a fair search query: long enough, not boilerplate or doctest."""
    if len(sentence.split()) < MIN_WORDS:
        return False
    if ">>>" in sentence or BOILERPLATE.match(sentence) or CODE_LIKE.search(sentence):
        return False
    return True


def copy_file(source: Path, rel: str, corpus: Corpus) -> None:
    """Add one file to the corpus without function docstrings; record its queries and names."""
    raw = source.read_bytes()
    try:
        text = raw.decode("utf-8")
        tree = ast.parse(text)
    except (SyntaxError, UnicodeDecodeError, ValueError):
        corpus.contents[rel] = raw
        corpus.unparsed.append(rel)
        return
    stripped, removed = strip_docstrings(text, tree)
    try:
        ast.parse(stripped)
    except SyntaxError:  # an odd layout the line edit could not handle: keep the original
        corpus.contents[rel] = raw
        corpus.unparsed.append(rel)
        return
    corpus.contents[rel] = stripped.encode("utf-8")
    names = [name for name, _ in function_nodes(tree)]
    corpus.functions += len(names)
    corpus.names += [(rel, name) for name in names]
    corpus.docstrings_removed += len(removed)
    for name, docstring in removed:
        sentence = first_sentence(docstring)
        if usable_query(sentence):
            corpus.candidates.append(Query(sentence, rel, name))


def build_corpus(stdlib: Path, packages: tuple[str, ...], modules: tuple[str, ...]) -> Corpus:
    """The selection without function docstrings, in memory (`materialize` writes it)."""
    corpus = Corpus(modules=[*(f"{p}/" for p in packages), *(f"{m}.py" for m in modules)])
    for rel in selected_files(stdlib, packages, modules):
        copy_file(stdlib / rel, rel, corpus)
    return corpus


def materialize(corpus: Corpus, selection: dict, mode_dir: Path) -> bool:
    """Make `mode_dir/corpus` hold exactly the corpus; True when it already did (index reused).

    The folder is reused only when its manifest names the same selection, it holds no other
    file and every file is byte-identical. Otherwise the corpus and the ragls cache beside it are
    deleted and the corpus is written anew, so that the index is built from scratch. The
    manifest is written by `record_selection` once indexing has finished, so an interrupted run
    is not mistaken for a complete one.
    """
    corpus_dir, cache_dir, manifest = mode_dir / "corpus", mode_dir / "cache", mode_dir / MANIFEST
    reason = _stale_reason(corpus, selection, corpus_dir, manifest)
    if reason is None:
        return True
    log(f"building the corpus in {corpus_dir}: {reason}")
    manifest.unlink(missing_ok=True)
    for folder in (corpus_dir, cache_dir):
        if folder.exists():
            shutil.rmtree(folder)
    for rel, data in corpus.contents.items():
        dest = corpus_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    return False


def _stale_reason(corpus: Corpus, selection: dict, corpus_dir: Path, manifest: Path) -> str | None:
    """Why the corpus folder cannot be reused as it is, or None when it can."""
    if not manifest.is_file():
        return "no complete earlier run there"
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its manifest is unreadable"
    if recorded != selection:
        return "it was built from a different selection"
    on_disk = {p.relative_to(corpus_dir).as_posix() for p in corpus_dir.rglob("*") if p.is_file()}
    if on_disk != corpus.contents.keys():
        return "it holds other files than this selection gives"
    for rel, data in corpus.contents.items():
        if (corpus_dir / rel).read_bytes() != data:
            return f"{rel} differs from what this selection gives"
    return None


def record_selection(selection: dict, mode_dir: Path) -> None:
    """Mark the corpus folder as complete and built from `selection`."""
    (mode_dir / MANIFEST).write_text(json.dumps(selection, indent=2) + "\n", encoding="utf-8")


def unambiguous(candidates: list[Query]) -> tuple[list[Query], int]:
    """Queries whose sentence describes one function only, and how many were left out."""
    counts = Counter(q.text.lower() for q in candidates)
    kept = [q for q in candidates if counts[q.text.lower()] == 1]
    return kept, len(candidates) - len(kept)


def sample_queries(queries: list[Query], limit: int) -> list[Query]:
    """A seeded sample of at most `limit` queries, in a stable order."""
    ordered = sorted(queries, key=lambda q: (q.path, q.name, q.text))
    if len(ordered) <= limit:
        return ordered
    return random.Random(SEED).sample(ordered, limit)


def spoken_name(name: str) -> str:
    """A name as typed by someone who half-remembers it: its sub-words, lower case, spaced.

    Underscores and case changes separate words (`parseHTTPHeader` -> `parse http header`,
    `_get_chunks` -> `get chunks`); digits stay with their word (`b64encode`); a name in one
    case with no underscore stays whole (`formatargvalues`).
    """
    words: list[str] = []
    for part in name.split("_"):
        words += re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+[0-9]*", part)
    return " ".join(word.lower() for word in words)


def identifier_candidates(names: list[tuple[str, str]]) -> tuple[list[Query], dict[str, int]]:
    """One query per function whose own name is defined once in the corpus, and what was left out.

    Left out: dunder methods (`__init__` among them), names shorter than MIN_NAME_LENGTH as
    written, names defined more than once (property setters, overrides, same-named helpers in
    two modules), and queries that two different names give (`get_foo` and `getFoo`).
    """
    own = Counter(name.rsplit(".", 1)[-1] for _, name in names)
    dropped = Counter()
    queries: list[Query] = []
    for path, name in names:
        last = name.rsplit(".", 1)[-1]
        if last.startswith("__") and last.endswith("__"):
            dropped["dunder"] += 1
        elif len(last) < MIN_NAME_LENGTH:
            dropped["short"] += 1
        elif own[last] > 1:
            dropped["name_defined_more_than_once"] += 1
        elif not spoken_name(last):
            dropped["no_words"] += 1
        else:
            queries.append(Query(spoken_name(last), path, name))
    counts = Counter(q.text for q in queries)
    kept = [q for q in queries if counts[q.text] == 1]
    dropped["query_shared_by_several_names"] = len(queries) - len(kept)
    return kept, dict(dropped)


# ---------------------------------------------------------------------------- index


def index_corpus(
    embedder: SentenceTransformerEmbedder, corpus_dir: Path, cache_dir: Path
) -> tuple[Indexer, dict, float]:
    """Bring the corpus's index up to date; returns the indexer, its report, and seconds."""
    indexer = Indexer(corpus_dir, EngineSettings(cache_dir=str(cache_dir), device="cpu"), embedder=embedder)
    started = time.perf_counter()
    report = indexer.index_all(RunContext(on_progress=_log_progress()))
    return indexer, report.as_dict(), time.perf_counter() - started


def _log_progress() -> Callable[[Progress], None]:
    """A progress callback that prints the embedding phase every 512 chunks."""
    last = [-1]

    def report(progress: Progress) -> None:
        if progress.phase != "embedding" or not progress.chunks_total:
            return
        step = progress.chunks_done // 512
        if step != last[0] or progress.chunks_done == progress.chunks_total:
            last[0] = step
            rate = progress.chunks_done / progress.elapsed if progress.elapsed else 0.0
            log(f"  embedded {progress.chunks_done}/{progress.chunks_total} ({rate:.0f}/s)")

    return report


def indexed_keys(indexer: Indexer) -> tuple[set[tuple[str, str]], Counter]:
    """(path, name) of every chunk, and chunk counts by kind."""
    keys: set[tuple[str, str]] = set()
    kinds: Counter = Counter()
    for stored in indexer.store.iter_chunks():
        keys.add((stored.chunk.path, stored.chunk.name))
        kinds[stored.chunk.kind] += 1
    return keys, kinds


# ---------------------------------------------------------------------------- rankings


def _ratio(weight: float) -> str:
    return f"{weight:g}"


PRODUCT_RANKINGS = ("dense", "lexical", "hybrid")
_PRODUCT = FUSIONS["hybrid"]
PRODUCT_HYBRID = (
    f"{_PRODUCT.method} fusion, dense:lexical {_ratio(_PRODUCT.dense_weight)}:{_ratio(_PRODUCT.lexical_weight)} "
    f"(identifier-like queries {_ratio(_PRODUCT.identifier_dense_weight)}:{_ratio(_PRODUCT.identifier_lexical_weight)}), "
    f"module x{_ratio(_PRODUCT.module_prior)}, tests x{_ratio(_PRODUCT.test_prior)}"
)
# Other hybrid rankings, run through the product's own Retriever (registered as rankings).
BEFORE = Fusion(dense_weight=2.0, lexical_weight=1.0, identifier_dense_weight=2.0, identifier_lexical_weight=1.0,
                module_prior=1.0, test_prior=1.0, method="rrf")
VARIANTS: dict[str, tuple[Fusion, str]] = {
    "rrf-k60-2:1": (BEFORE, "RRF k=60, dense 2:1, no priors (the hybrid ranking before the eval benchmark)"),
    "identifier-lexical-2": (replace(_PRODUCT, identifier_lexical_weight=2.0), "the product with identifier-like queries 1:2"),
    "identifier-dense-2": (replace(_PRODUCT, identifier_dense_weight=2.0), "the product with identifier-like queries 2:1"),
}
DESCRIPTIONS = {
    "dense": "cosine similarity of all-MiniLM-L6-v2 embeddings (hnswlib)",
    "lexical": "BM25 over identifier sub-words (SQLite FTS5)",
    "hybrid": f"the product's hybrid: {PRODUCT_HYBRID}",
    **{name: description for name, (_, description) in VARIANTS.items()},
}


def run_queries(indexer: Indexer, queries: list[Query]) -> dict[str, list[Ranked]]:
    """Every ranking's answer to every query."""
    for name, (fusion, _) in VARIANTS.items():
        FUSIONS[name] = fusion
    retriever = Retriever(indexer)
    retriever.search("warm up the model and the index", TOP, ranking="hybrid")
    results: dict[str, list[Ranked]] = {name: [] for name in (*PRODUCT_RANKINGS, *VARIANTS)}
    for number, query in enumerate(queries, start=1):
        for ranking in results:
            started = time.perf_counter()
            hits = retriever.search(query.text, TOP, ranking=ranking)
            elapsed = time.perf_counter() - started
            keys = [(h.chunk.path, h.chunk.name) for h in hits]
            results[ranking].append(Ranked(keys, [h.chunk.kind for h in hits], elapsed))
        if number % 50 == 0:
            log(f"  {number}/{len(queries)} queries")
    return results


def _describe(
    indexer: Indexer, ids: list[int], cache: dict[int, tuple[str, str, str]]
) -> list[tuple[str, str, str]]:
    """(path, name, kind) of chunk ids, through a cache of what was looked up before."""
    missing = [i for i in ids if i not in cache]
    for chunk_id, stored in indexer.store.chunks_by_ids(missing).items():
        cache[chunk_id] = (stored.chunk.path, stored.chunk.name, stored.chunk.kind)
    return [cache[i] for i in ids if i in cache]


# ---------------------------------------------------------------------------- metrics


def reciprocal_ranks(ranked: list[Ranked], queries: list[Query]) -> list[float]:
    """1/rank of the right answer within the top TOP for each query, 0 when absent."""
    ranks = [r.rank_of(q.expected) for r, q in zip(ranked, queries)]
    return [1.0 / rank if rank else 0.0 for rank in ranks]


def bootstrap_interval(values: list[float], samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """A 95% percentile-bootstrap interval of the mean of `values` (seeded).

    Given per-query differences between two rankings, it is the paired interval of the
    difference of their means.
    """
    rng = random.Random(SEED)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    return means[int(0.025 * samples)], means[int(0.975 * samples) - 1]


def metrics(ranked: list[Ranked], baseline: list[Ranked], queries: list[Query]) -> dict:
    """MRR@10 with its interval, recall@1, recall@10, mean latency, and the paired comparison
    with `baseline` (dense): MRR difference with its interval, queries ranked better / worse."""
    rr = reciprocal_ranks(ranked, queries)
    base = reciprocal_ranks(baseline, queries)
    diff = [a - b for a, b in zip(rr, base)]
    return {
        "mrr@10": statistics.fmean(rr),
        "mrr@10_ci95": list(bootstrap_interval(rr)),
        "recall@1": statistics.fmean(1.0 if x == 1.0 else 0.0 for x in rr),
        "recall@10": statistics.fmean(1.0 if x > 0 else 0.0 for x in rr),
        "latency_ms": 1000 * statistics.fmean(r.seconds for r in ranked),
        "vs_dense_mrr_diff": statistics.fmean(diff),
        "vs_dense_mrr_diff_ci95": list(bootstrap_interval(diff)),
        "vs_dense_better": sum(d > 0 for d in diff),
        "vs_dense_worse": sum(d < 0 for d in diff),
        "top1_module_chunk": statistics.fmean(1.0 if r.kinds[:1] == ["module"] else 0.0 for r in ranked),
    }


def examples(results: dict[str, list[Ranked]], queries: list[Query], count: int = 3) -> dict[str, list[dict]]:
    """Queries where hybrid ranks the answer better than dense (wins) and worse (losses).

    The biggest rank gaps first (absent from the top 10 counts as rank 11), ties by query text.
    """
    rows = []
    for i, query in enumerate(queries):
        dense = results["dense"][i].rank_of(query.expected) or TOP + 1
        hybrid = results["hybrid"][i].rank_of(query.expected) or TOP + 1
        rows.append((dense - hybrid, query.text, i))
    wins = sorted((r for r in rows if r[0] > 0), key=lambda r: (-r[0], r[1]))[:count]
    losses = sorted((r for r in rows if r[0] < 0), key=lambda r: (r[0], r[1]))[:count]
    return {
        "wins": [_example(results, queries[i]) | _ranks(results, queries[i], i) for _, _, i in wins],
        "losses": [_example(results, queries[i]) | _ranks(results, queries[i], i) for _, _, i in losses],
    }


def _example(results: dict[str, list[Ranked]], query: Query) -> dict:
    return {"query": query.text, "expected": f"{query.path}::{query.name}"}


def _ranks(results: dict[str, list[Ranked]], query: Query, i: int) -> dict:
    row = {}
    for ranking in PRODUCT_RANKINGS:
        ranked = results[ranking][i]
        top = ranked.keys[0] if ranked.keys else None
        row[f"{ranking}_first"] = f"{top[0]}::{top[1]}" if top else "(nothing)"
        row[f"{ranking}_rank"] = ranked.rank_of(query.expected)
    return row


# ---------------------------------------------------------------------------- report


def markdown(summary: dict) -> str:
    """The results as a markdown section: the setting, then one table per query set."""
    c, ix, t = summary["corpus"], summary["index"], summary["timing"]
    lines = [
        f"## ragls search quality ({summary['mode']} corpus, {summary['date']})",
        "",
        f"- Command: `{summary['command']}`",
        f"- Corpus: CPython {c['python']} stdlib, {len(c['modules'])} packages/modules "
        f"({', '.join(c['modules'])}); {c['files']} files, {c['functions']} functions, "
        f"{c['function_docstrings_removed']} function docstrings removed (module and class docstrings kept).",
        f"- Index: {ix['chunks']} chunks ({', '.join(f'{k} {v}' for k, v in ix['chunks_by_kind'].items())}); "
        f"corpus folder {'reused' if ix['corpus_reused'] else 'built anew'}; this run embedded "
        f"{ix['embedded']} chunks, took {ix['cache_hits']} vectors from the embedding cache, "
        f"indexing took {t['index_s']:.1f} s.",
        f"- Run time: {t['total_s']:.0f} s in all (model load {t['model_load_s']:.1f} s, indexing "
        f"{t['index_s']:.1f} s, queries "
        + ", ".join(f"{name} {s['timing']['query_s']:.0f} s" for name, s in summary["sets"].items())
        + ").",
        f"- Machine: {summary['machine']['platform']}, {summary['machine']['cores']} cores; "
        f"load average at the end {summary['machine']['load_average_at_end'][0]:.1f}; "
        f"embedder all-MiniLM-L6-v2 on CPU. Latency: mean per query, end to end, noisy on a "
        f"shared machine.",
        "- Rankings: " + "; ".join(
            f"`{name}`: {text}" for name, text in summary["rankings_described"].items()
        ) + ". Every ranking runs through the product's own Retriever.",
    ]
    for name, s in summary["sets"].items():
        lines += ["", *_set_markdown(name, s)]
    return "\n".join(lines)


def _set_markdown(name: str, s: dict) -> list[str]:
    """One query set's section: where its queries came from, its table, its examples."""
    q = s["queries"]
    dropped = ", ".join(f"{count} {why.replace('_', ' ')}" for why, count in q["dropped"].items())
    lines = [
        f"### {s['title']} (`{name}`)",
        "",
        f"{s['description']} {q['used']} queries (seed {SEED}) of {q['eligible']} eligible "
        f"({q['candidates']} candidates; left out: {dropped}).",
        "",
        "| ranking | MRR@10 | MRR@10 95% CI | recall@1 | recall@10 | ΔMRR vs dense (95% CI) "
        "| better/worse than dense | #1 is a module chunk | latency ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ranking, m in s["rankings"].items():
        low, high = m["mrr@10_ci95"]
        d_low, d_high = m["vs_dense_mrr_diff_ci95"]
        lines.append(
            f"| {ranking} | {m['mrr@10']:.3f} | {low:.3f}-{high:.3f} | {m['recall@1']:.3f} | "
            f"{m['recall@10']:.3f} | {m['vs_dense_mrr_diff']:+.3f} ({d_low:+.3f}..{d_high:+.3f}) | "
            f"{m['vs_dense_better']}/{m['vs_dense_worse']} | {m['top1_module_chunk']:.0%} | "
            f"{m['latency_ms']:.1f} |"
        )
    for title, key in (("Hybrid beats dense", "wins"), ("Hybrid loses to dense", "losses")):
        lines += ["", f"#### {title} ({name})", ""]
        for ex in s["examples"][key]:
            lines.append(
                f"- \"{ex['query']}\"\n  - expected `{ex['expected']}`\n"
                f"  - dense #1 `{ex['dense_first']}` (answer at {ex['dense_rank'] or '>10'}); "
                f"lexical #1 `{ex['lexical_first']}` ({ex['lexical_rank'] or '>10'}); "
                f"hybrid #1 `{ex['hybrid_first']}` ({ex['hybrid_rank'] or '>10'})"
            )
        if not s["examples"][key]:
            lines.append("- (none)")
    return lines


def command_line() -> str:
    """How this run was started, with the environment settings that matter for it."""
    env = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_NUM_THREADS", "HF_HUB_OFFLINE") if k in os.environ]
    python = os.path.relpath(sys.executable, Path.cwd()) if sys.executable else "python"
    return " ".join([*env, python, *sys.argv])


def log(message: str) -> None:
    """Progress on stderr, flushed (the full run is watched through a log file)."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="a ~300-function corpus, to check the pipeline")
    parser.add_argument(
        "--limit-queries", type=int, default=DEFAULT_QUERIES, help="queries sampled per set (seed 0)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON output (default bench/results/quality[-small].json)"
    )
    parser.add_argument(
        "--work", type=Path, default=DEFAULT_WORK,
        help="folder for the corpus copy and the ragls cache, kept between runs "
             "(default bench/results/quality-work; <work>/full or <work>/small)",
    )
    parser.add_argument("--stdlib", type=Path, default=STDLIB, help="CPython Lib folder to copy from")
    return parser.parse_args(argv)


QUERY_SETS = {
    "nl": (
        "Natural-language queries",
        "Each query is the first sentence of a function's docstring, removed from the indexed copy.",
    ),
    "identifier": (
        "Identifier queries",
        "Each query is a function's own name as sub-words joined by spaces (`_get_chunks` -> "
        "`get chunks`), for names defined once in the corpus, six characters or longer, not dunder.",
    ),
}


def evaluate(args: argparse.Namespace) -> dict:
    """Build (or reuse), index, query and summarize; returns the summary written as JSON."""
    started = time.perf_counter()
    mode = "small" if args.small else "full"
    packages, modules = (SMALL_PACKAGES, SMALL_MODULES) if args.small else (FULL_PACKAGES, FULL_MODULES)
    selection = {"stdlib": str(args.stdlib.resolve()), "packages": list(packages), "modules": list(modules)}
    corpus = build_corpus(args.stdlib, packages, modules)
    log(f"corpus: {corpus.files} files, {corpus.functions} functions, "
        f"{corpus.docstrings_removed} docstrings removed, {len(corpus.candidates)} usable sentences")
    mode_dir = args.work.resolve() / mode
    reused = materialize(corpus, selection, mode_dir)
    log(f"corpus folder {mode_dir / 'corpus'} {'reused' if reused else 'written'}")

    load_started = time.perf_counter()
    embedder = SentenceTransformerEmbedder(device="cpu")
    embedder.load()
    model_load_s = time.perf_counter() - load_started
    indexer, report, index_s = index_corpus(embedder, mode_dir / "corpus", mode_dir / "cache")
    record_selection(selection, mode_dir)
    log(f"indexed {report['chunks']} chunks in {index_s:.1f} s: {report['embedded']} embedded, "
        f"{report['cache_hits']} from the cache, {report['files_changed']} files (re)parsed")
    keys, kinds = indexed_keys(indexer)

    nl_eligible, ambiguous = unambiguous(corpus.candidates)
    id_eligible, id_dropped = identifier_candidates(corpus.names)
    candidates = {
        "nl": (len(corpus.candidates), nl_eligible, {"sentence_shared_by_several_functions": ambiguous}),
        "identifier": (len(corpus.names), id_eligible, id_dropped),
    }
    sets: dict[str, dict] = {}
    for name, (count, eligible, dropped) in candidates.items():
        found = [q for q in eligible if q.expected in keys]
        not_found = [q for q in eligible if q.expected not in keys]
        for q in not_found[:10]:
            log(f"  {name}: not indexed: {q.path}::{q.name}")
        queries = sample_queries(found, args.limit_queries)
        log(f"{name}: {len(queries)} queries of {len(found)} eligible ({len(not_found)} not indexed)")
        query_started = time.perf_counter()
        results = run_queries(indexer, queries)
        title, description = QUERY_SETS[name]
        sets[name] = {
            "title": title,
            "description": description,
            "queries": {
                "candidates": count,
                "dropped": {**dropped, "expected_chunk_not_indexed": len(not_found)},
                "eligible": len(found),
                "not_found_examples": [f"{q.path}::{q.name}" for q in not_found[:20]],
                "used": len(queries),
                "seed": SEED,
            },
            "rankings": {r: metrics(ranked, results["dense"], queries) for r, ranked in results.items()},
            "timing": {"query_s": time.perf_counter() - query_started},
            "examples": examples(results, queries),
            "per_query": [
                {"query": q.text, "expected": f"{q.path}::{q.name}",
                 **{r: results[r][i].rank_of(q.expected) for r in results}}
                for i, q in enumerate(queries)
            ],
        }
    indexer.close()
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": mode,
        "command": command_line(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": list(os.getloadavg()),
        },
        "corpus": {
            "python": "3.11.7",
            "stdlib": selection["stdlib"],
            "modules": corpus.modules,
            "files": corpus.files,
            "files_copied_unchanged": corpus.unparsed,
            "functions": corpus.functions,
            "function_docstrings_removed": corpus.docstrings_removed,
        },
        "index": {
            "work_dir": str(mode_dir),
            "corpus_reused": reused,
            "chunks": report["chunks"],
            "chunks_by_kind": dict(sorted(kinds.items())),
            "embedded": report["embedded"],
            "cache_hits": report["cache_hits"],
            "files_parsed": report["files_changed"],
            "report": report,
        },
        "settings": {
            "top": TOP, "candidates": CANDIDATES, "product_hybrid": PRODUCT_HYBRID,
            "limit_queries": args.limit_queries, "seed": SEED,
        },
        "rankings_described": DESCRIPTIONS,
        "timing": {
            "model_load_s": model_load_s,
            "index_s": index_s,
            "total_s": time.perf_counter() - started,
        },
        "sets": sets,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the markdown tables, write them and the JSON."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = args.out or RESULTS_DIR / ("quality-small.json" if args.small else "quality.json")
    summary = evaluate(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    report = markdown(summary)
    out.with_suffix(".md").write_text(report + "\n", encoding="utf-8")
    print(report)
    log(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
