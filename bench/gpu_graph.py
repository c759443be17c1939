"""Compare HNSW graphs built with ragls.core.gpu_graph (exact k-NN in torch, on a GPU or the CPU)
with hnswlib's own insertion, on the same real code embeddings.

For each corpus size: build time (with the torch builder's stages), recall@10 against exact
brute-force search for code and natural-language queries, and single-query latency of the index
as stock hnswlib loads it. Corpora up to --real rows are real all-MiniLM-L6-v2 embeddings of
CPython stdlib functions (bench/recall.py's corpus and cache); larger ones are those vectors tiled
with noise, as in bench/recall.py --tiled.

    OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1 python bench/gpu_graph.py --sizes 10000,100000
    OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1 python bench/gpu_graph.py --device cuda \\
        --sizes 100000,1000000

The first run embeds the corpus on the CPU (minutes); bench/results/ caches it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import hnswlib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recall  # noqa: E402  (bench/recall.py: corpus, cache, metrics)

from ragls.core import gpu_graph  # noqa: E402
from ragls.core.hnsw_file import read_hnswlib_header  # noqa: E402

K = recall.K
STAGES = ("knn", "select", "reverse", "repair")


def corpus_of_size(real: np.ndarray, size: int, noise: float) -> np.ndarray:
    """The first `size` real vectors, or all of them tiled with noise up to `size`."""
    if size <= len(real):
        return recall.normalized(real[:size]).astype(np.float32)
    return recall.tiled_corpus(real, size, noise)


def exact_truth(corpus: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Brute-force top-k labels, a block of queries at a time to bound memory."""
    return np.concatenate(
        [recall.exact_top_k(corpus, queries[i : i + 256], k) for i in range(0, len(queries), 256)]
    )


def build_with_torch(
    corpus: np.ndarray, path: Path, m: int, ef_construction: int, device: str
) -> tuple[float, dict[str, float]]:
    """Build with gpu_graph into `path`: total seconds, and seconds per stage over all levels."""
    report = gpu_graph.build_index_file(
        path, corpus, np.arange(len(corpus)), m=m, ef_construction=ef_construction, device=device
    )
    stages = {stage: 0.0 for stage in STAGES}
    for key, seconds in report["seconds"].items():
        stage = key.rsplit("_", 1)[-1]
        if stage in stages:
            stages[stage] += seconds
    stages["write"] = report["seconds"]["write"]
    stages["repaired"] = report["repaired_links"]
    return report["seconds"]["total"], stages


def build_with_hnswlib(
    corpus: np.ndarray, path: Path, m: int, ef_construction: int, threads: int
) -> float:
    """Build with hnswlib's add_items on `threads` CPU threads into `path`; seconds."""
    started = time.perf_counter()
    index = hnswlib.Index(space="cosine", dim=corpus.shape[1])
    index.init_index(max_elements=len(corpus), M=m, ef_construction=ef_construction)
    index.add_items(corpus, np.arange(len(corpus)), num_threads=threads)
    seconds = time.perf_counter() - started
    index.save_index(str(path))
    return seconds


def mean_degree(path: Path) -> float:
    """Mean number of level-0 links per element, from the file."""
    header = read_hnswlib_header(path)
    record = header["size_data_per_element"]
    raw = np.memmap(path, np.uint8, "r", offset=96, shape=(header["element_count"], record))
    return float(raw[:, :2].copy().view("<u2").mean())


def measure(
    path: Path, dim: int, query_sets: dict[str, np.ndarray], truths: dict[str, np.ndarray],
    ef_values: tuple[int, ...],
) -> list[dict[str, object]]:
    """Recall@K per query set and latency, per ef, of the file as stock hnswlib loads it."""
    index = hnswlib.Index(space="cosine", dim=dim)
    index.load_index(str(path))
    rows = []
    for ef in ef_values:
        index.set_ef(ef)
        row: dict[str, object] = {"ef_s": ef}
        for name, queries in query_sets.items():
            row[f"recall@{K} {name}"] = recall.recall_at_k(index, queries, truths[name], K)
        row["p50_ms"], row["p95_ms"] = recall.latency_ms(index, query_sets["code"], K)
        rows.append(row)
    return rows


def run_size(
    real: np.ndarray, size: int, args: argparse.Namespace, query_sets: dict[str, np.ndarray]
) -> list[dict[str, object]]:
    """Both builders at one corpus size; one table row per builder and ef."""
    corpus = corpus_of_size(real, size, args.noise)
    truths = {name: exact_truth(corpus, queries, K) for name, queries in query_sets.items()}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        builders = [("torch", Path(scratch) / "torch.bin")]
        if not args.skip_hnswlib:
            builders.append(("hnswlib", Path(scratch) / "hnswlib.bin"))
        for builder, path in builders:
            if builder == "torch":
                build_s, stages = build_with_torch(
                    corpus, path, args.m, args.ef_construction, args.device
                )
                where = gpu_graph.resolve_device(args.device)
            else:
                build_s = build_with_hnswlib(
                    corpus, path, args.m, args.ef_construction, args.threads
                )
                stages, where = {}, f"cpu x{args.threads}"
            print(f"N={size} {builder}: built in {build_s:.1f} s {stages}", file=sys.stderr)
            head = {
                "N": size, "builder": builder, "device": where, "build_s": build_s,
                **{stage: stages.get(stage, "") for stage in (*STAGES, "write")},
                "degree0": mean_degree(path),
            }
            for row in measure(path, corpus.shape[1], query_sets, truths, args.ef_search):
                rows.append({**head, **row})
                print(recall.format_row(rows[-1]), file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and print a markdown table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=recall.parse_ints, default=(10_000, 100_000))
    parser.add_argument("--real", type=int, default=10_000, help="real vectors before tiling")
    parser.add_argument("--queries", type=int, default=1000, help="held-out queries per set")
    parser.add_argument("--noise", type=float, default=0.3, help="noise norm per tiled copy")
    parser.add_argument("--device", default="auto", help="torch builder's device: auto, cpu, cuda")
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef-search", type=recall.parse_ints, default=(64, 128, 256))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="hnswlib add_items threads")
    parser.add_argument("--skip-hnswlib", action="store_true", help="only the torch builder")
    parser.add_argument("--stdlib", type=Path, default=recall.DEFAULT_STDLIB)
    args = parser.parse_args(argv)

    real, code_queries, nl_queries = recall.load_embeddings(args.stdlib, args.real, args.queries)
    query_sets = {"code": code_queries, "nl": nl_queries}
    started = time.perf_counter()
    import torch  # imported up front so that no build pays for it

    print(f"torch {torch.__version__} imported in {time.perf_counter() - started:.1f} s; "
          f"device {gpu_graph.resolve_device(args.device)}; {os.cpu_count()} CPUs", file=sys.stderr)
    rows = [row for size in args.sizes for row in run_size(real, size, args, query_sets)]
    recall.print_table(
        f"gpu_graph vs hnswlib, M={args.m}, ef_construction={args.ef_construction}, k={K} "
        f"(real vectors up to {args.real}, then tiled with noise {args.noise})",
        rows,
    )


if __name__ == "__main__":
    main()
