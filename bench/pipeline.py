"""Throughput and latency of the indexing pipeline on a real code base nobody here wrote.

The code base is the Python standard library of the interpreter running this script (the
`lib/python3.X` folder, without site-packages): it is on every machine of this kind.

Measured, in order:
1. parse + chunk of the whole library: files/s and functions/s (no model involved);
2. a cold index of a copy of a subset (`--files`) with a preloaded model: pipeline chunks/s,
   against the bare model's `encode` on exactly the same chunk texts (the ratio says how much the
   pipeline around the model costs; goal >= 0.9);
3. a warm re-index with nothing changed, in a fresh Indexer whose model is never loaded;
4. edit one function, then `update_files` + a search that finds the new text: the latency a user
   sees between saving and fresh results;
5. search latency p50/p95 per ranking, over queries made of function names' words;
6. peak RSS of the process.

Usage: python bench/pipeline.py [--files N] [--out bench/results/pipeline.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from ragls.core.chunking import chunk_source  # noqa: E402
from ragls.core.embedding import SentenceTransformerEmbedder  # noqa: E402
from ragls.core.indexer import Indexer  # noqa: E402
from ragls.core.run import RunContext  # noqa: E402
from ragls.core.retrieval import RANKINGS, Retriever  # noqa: E402
from ragls.core.settings import EngineSettings  # noqa: E402
from ragls.core.workspace import Workspace  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
EXCLUDE = ("site-packages/", "test/", "idlelib/idle_test/", "lib2to3/tests/")


def stdlib_workspace(root: Path = STDLIB) -> Workspace:
    """The standard library as ragls walks it, without installed packages and CPython's tests."""
    from ragls.core.workspace import WalkOptions

    return Workspace(root, WalkOptions(ignore=EXCLUDE))


def measure_chunking() -> dict:
    """Parse and chunk every file of the standard library; files/s and functions/s."""
    workspace = stdlib_workspace()
    files = list(workspace.files())
    sources = [(f, workspace.read(f)) for f in files]
    sources = [(f, data) for f, data in sources if isinstance(data, bytes)]
    started = time.perf_counter()
    chunks = [c for f, data in sources for c in chunk_source(f.rel, data, f.language)]
    seconds = time.perf_counter() - started
    functions = sum(1 for c in chunks if c.kind in ("function", "method", "constructor"))
    return {
        "files": len(sources),
        "bytes": sum(len(data) for _, data in sources),
        "chunks": len(chunks),
        "functions": functions,
        "seconds": round(seconds, 3),
        "files_per_s": round(len(sources) / seconds, 1),
        "functions_per_s": round(functions / seconds, 1),
    }


def copy_subset(target: Path, file_count: int) -> list[str]:
    """Copy the first `file_count` standard-library files (walk order) into `target`."""
    files = list(stdlib_workspace().files())[:file_count]
    for file in files:
        destination = target / file.rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file.path, destination)
    return [file.rel for file in files]


def measure_cold_index(root: Path, cache: Path, embedder) -> tuple[Indexer, dict]:
    """Index `root` from nothing with a model that is already loaded."""
    indexer = Indexer(root, EngineSettings(cache_dir=str(cache)), embedder=embedder)
    phases: dict[str, float] = {}

    def note_phase(progress) -> None:
        phases.setdefault(progress.phase, time.perf_counter())

    started, cpu_started = time.perf_counter(), time.process_time()
    report = indexer.index_all(RunContext(on_progress=note_phase))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    embed_seconds = phases.get("saving", time.perf_counter()) - phases.get("embedding", started)
    return indexer, {
        "files": report.files,
        "chunks": report.chunks,
        "embedded": report.embedded,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "embedding_phase_seconds": round(embed_seconds, 2),
        "pipeline_chunks_per_s": round(report.embedded / seconds, 2),
        "pipeline_chunks_per_cpu_s": round(report.embedded / cpu_seconds, 2),
        "stage_seconds": report.stage_seconds,  # parse / embed / cache / index / save
    }


def measure_bare_encode(indexer: Indexer, embedder) -> dict:
    """The model alone on exactly the texts the pipeline embedded (one per unique content)."""
    texts = list({s.chunk.content_hash: s.chunk.embed_text for s in indexer.store.iter_chunks()}.values())
    started, cpu_started = time.perf_counter(), time.process_time()
    embedder.embed(texts)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "texts": len(texts),
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "chunks_per_s": round(len(texts) / seconds, 2),
        "chunks_per_cpu_s": round(len(texts) / cpu_seconds, 2),
    }


def measure_warm_reindex(root: Path, cache: Path) -> dict:
    """A fresh Indexer (new model object, never loaded) over an unchanged tree."""
    embedder = SentenceTransformerEmbedder(device="cpu")
    started = time.perf_counter()
    indexer = Indexer(root, EngineSettings(cache_dir=str(cache)), embedder=embedder)
    report = indexer.index_all()
    seconds = time.perf_counter() - started
    indexer.close()
    return {"seconds": round(seconds, 3), "embedded": report.embedded, "model_loaded": embedder.loaded}


def measure_edit_to_results(root: Path, indexer: Indexer) -> dict:
    """Append a distinctive function to a file, then time update_files + the search that finds it."""
    retriever = Retriever(indexer)
    target = next(s.chunk.path for s in indexer.store.iter_chunks() if s.chunk.language == "python")
    path = root / target
    path.write_text(
        path.read_text(encoding="utf-8", errors="replace")
        + "\n\ndef ragls_benchmark_marker_rotate_matrix(matrix):\n"
        "    return [list(row) for row in zip(*matrix[::-1])]\n",
        encoding="utf-8",
    )
    started = time.perf_counter()
    report = indexer.update_files([path])
    updated = time.perf_counter()
    hits = retriever.search("rotate a matrix by ninety degrees", limit=10)
    finished = time.perf_counter()
    found = any(hit.chunk.name == "ragls_benchmark_marker_rotate_matrix" for hit in hits)
    return {
        "file": target,
        "embedded": report.embedded,
        "update_seconds": round(updated - started, 3),
        "update_and_search_seconds": round(finished - started, 3),
        "found_in_top_10": found,
    }


def measure_search_latency(indexer: Indexer, count: int = 60) -> dict:
    """p50/p95 of each ranking over queries built from function names' words."""
    from ragls.core.terms import split_identifier

    names = [s.chunk.name for s in indexer.store.iter_chunks() if s.chunk.kind in ("function", "method")]
    step = max(1, len(names) // count)
    queries = [" ".join(split_identifier(name.split(".")[-1])) for name in names[::step]][:count]
    retriever = Retriever(indexer)
    results = {}
    for ranking in RANKINGS:
        retriever.search(queries[0], ranking=ranking)  # warm-up
        timings = []
        for query in queries:
            started = time.perf_counter()
            retriever.search(query, limit=10, ranking=ranking)
            timings.append((time.perf_counter() - started) * 1000)
        results[ranking] = {
            "queries": len(queries),
            "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(statistics.quantiles(timings, n=20)[-1], 2),
        }
    return results


def main() -> int:
    """Run every measurement and print/write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=120, help="files of the subset that is embedded")
    parser.add_argument("--out", default="bench/results/pipeline.json")
    args = parser.parse_args()

    results: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "load_average_at_start": os.getloadavg(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "command": "python " + " ".join(sys.argv),
        "code_base": f"CPython {platform.python_version()} standard library ({STDLIB})",
    }
    results["chunking"] = measure_chunking()
    print("chunking:", results["chunking"], flush=True)
    embedder = SentenceTransformerEmbedder(device="cpu")
    started = time.perf_counter()
    embedder.load()
    results["model_load_seconds"] = round(time.perf_counter() - started, 2)
    with tempfile.TemporaryDirectory() as temp:
        root, cache = Path(temp) / "code", Path(temp) / "cache"
        copy_subset(root, args.files)
        indexer, results["cold_index"] = measure_cold_index(root, cache, embedder)
        print("cold index:", results["cold_index"], flush=True)
        results["bare_encode"] = measure_bare_encode(indexer, embedder)
        results["pipeline_to_encode_ratio"] = round(
            results["cold_index"]["pipeline_chunks_per_s"] / results["bare_encode"]["chunks_per_s"], 3
        )
        # CPU time counts the work done, not time spent waiting for a busy machine's cores.
        results["pipeline_to_encode_cpu_ratio"] = round(
            results["cold_index"]["pipeline_chunks_per_cpu_s"] / results["bare_encode"]["chunks_per_cpu_s"], 3
        )
        print(
            "bare encode:", results["bare_encode"], "ratio", results["pipeline_to_encode_ratio"],
            "cpu ratio", results["pipeline_to_encode_cpu_ratio"], flush=True,
        )
        indexer.close()
        results["warm_reindex"] = measure_warm_reindex(root, cache)
        print("warm re-index:", results["warm_reindex"], flush=True)
        indexer = Indexer(root, EngineSettings(cache_dir=str(cache)), embedder=embedder)
        results["edit_to_results"] = measure_edit_to_results(root, indexer)
        print("edit -> results:", results["edit_to_results"], flush=True)
        results["search_latency"] = measure_search_latency(indexer)
        print("search latency:", results["search_latency"], flush=True)
        indexer.close()
    results["load_average_at_end"] = os.getloadavg()
    results["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print("peak RSS MiB:", results["peak_rss_mib"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
