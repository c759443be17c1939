"""The embedding backends side by side, in one run on the same texts: torch fp32, ONNX fp32 and
ONNX int8 (core/onnx_embedding.py), each in a process of its own (load time and peak memory are
per process).

Per backend: model load (imports included; the ONNX export is made before, once, and not
counted), chunks/s of the bare model on the chunk texts of a copy of `--files` standard-library
files, then chunks/s of a cold index of that copy through the whole pipeline, where its time
went (parse / embed / cache / index / save, and for ONNX tokenize / model inside embed), and the
peak RSS.

Usage: python bench/backends.py [--files 60] [--threads N] [--out bench/results/backends.json]
Ranking quality per backend: python bench/eval_corpora.py run --backend NAME ...
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "server"))
sys.path.insert(0, str(REPO / "bench"))

BACKENDS = ("torch", "onnx", "onnx-int8")


def one(backend: str, root: Path, cache: Path, threads: int | None) -> dict:
    """Measure one backend in this process."""
    started = time.perf_counter()
    from ragls.core.chunking import chunk_source
    from ragls.core.indexer import Indexer
    from ragls.core.settings import EngineSettings, make_embedder
    from ragls.core.workspace import Workspace

    settings = EngineSettings(device="cpu", backend=backend, cache_dir=str(cache), index_threads=threads)
    embedder = make_embedder(settings)
    embedder.load()
    load_seconds = time.perf_counter() - started

    workspace = Workspace(root)
    texts = list({
        c.content_hash: c.embed_text
        for f in workspace.files()
        for c in chunk_source(f.rel, workspace.read(f), f.language)
    }.values())
    texts.sort(key=len, reverse=True)  # as the indexer orders them
    bare_started = time.perf_counter()
    for start in range(0, len(texts), embedder.batch_size):
        embedder.embed(texts[start : start + embedder.batch_size])
    bare = time.perf_counter() - bare_started
    inside = dict(getattr(embedder, "seconds", {}))

    for value in getattr(embedder, "seconds", {}):
        embedder.seconds[value] = 0.0
    indexer = Indexer(root, settings, embedder=embedder)
    report = indexer.index_all()
    return {
        "backend": backend,
        "load_seconds": round(load_seconds, 2),
        "texts": len(texts),
        "bare_chunks_per_s": round(len(texts) / bare, 1),
        "bare_inside_embed": {k: round(v, 2) for k, v in inside.items()},
        "pipeline_chunks_per_s": round(report.embedded / report.seconds, 1),
        "pipeline_seconds": report.seconds,
        "stages": report.stage_seconds,
        "pipeline_inside_embed": {k: round(v, 2) for k, v in getattr(embedder, "seconds", {}).items()},
        "embedded": report.embedded,
        "peak_rss_mib": peak_rss_mib(),
        "threads": threads or os.cpu_count(),
    }


def peak_rss_mib() -> int:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it does not carry the
    parent's peak over an exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    """Run every backend in a subprocess on the same copy and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "backends.json")
    parser.add_argument("--one", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.root, args.cache, args.threads)))
        return
    from pipeline import copy_subset

    # The export is made once, in a process of its own, and is part of no measure.
    export = "from ragls.core.embedding import resolve_model; from ragls.core.onnx_embedding import ensure_export, models_dir; ensure_export(resolve_model(None), models_dir())"
    subprocess.run([sys.executable, "-c", export], check=True, env={**os.environ, "PYTHONPATH": str(REPO / "server")})
    results = []
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "code"
        copy_subset(root, args.files)
        for backend in BACKENDS:
            command = [sys.executable, __file__, "--one", backend, "--root", str(root), "--cache", str(Path(work) / backend)]
            if args.threads:
                command += ["--threads", str(args.threads)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            results.append(json.loads(output.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), file=sys.stderr)
    torch_rate = results[0]["pipeline_chunks_per_s"]
    print(f"{'backend':10} {'load s':>7} {'bare/s':>8} {'pipeline/s':>11} {'x torch':>8} {'RSS MiB':>8}")
    for result in results:
        print(
            f"{result['backend']:10} {result['load_seconds']:7.2f} {result['bare_chunks_per_s']:8.1f} "
            f"{result['pipeline_chunks_per_s']:11.1f} {result['pipeline_chunks_per_s'] / torch_rate:8.2f} "
            f"{result['peak_rss_mib']:8}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "files": args.files,
                                    "load_average": os.getloadavg(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
