"""Portable index benchmark (docs/benchmarks.md, "Portable index").

    python bench/bundles.py tree TREE [--other OTHER_TREE] [--queries N] --out bench/results/bundles.json
    python bench/bundles.py latency TREE --keep DIR --out FILE   (step 6 again, on a kept run)
    python bench/bundles.py synthetic --functions 100000 --out bench/results/bundles-100k.json

`tree`, every step a real `ragls` process timed from its start (imports included), each
"machine" with an index cache and a user cache of its own (the exported model is linked in,
as on a machine where ragls ran before):
1. CI: `ragls index TREE` cold, then `ragls export` (bundle size per 1,000 functions);
2. warm restart: `ragls index TREE` again (nothing changed);
3. a fresh machine with an identical copy: `ragls index COPY --base BUNDLE` (time to ready,
   chunks embedded), then again (warm, with the base);
4. one changed function in one file: `ragls index COPY` (chunks embedded);
5. with `--other`: another version of the tree on a fresh machine, `--base BUNDLE`;
6. search latency in one process through the services: the CI machine's single local index
   against the fresh machine's base + overlay, the same queries (function names of the tree
   turned into words), p50/p95.

`synthetic`: a bundle of N functions with random unit vectors, then in a fresh process the
first open (unpack and check) and a later open (check only) of it as a base: time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))


class Machine:
    """An index cache and a user cache of its own."""

    def __init__(self, home: Path):
        from ragls.core.onnx_embedding import models_dir

        self.home = home
        self.env = {**os.environ, "RAGLS_CACHE_DIR": str(home / "cache"), "XDG_CACHE_HOME": str(home / "xdg"),
                    "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        (home / "xdg" / "ragls").mkdir(parents=True, exist_ok=True)
        link = home / "xdg" / "ragls" / "models"
        if not link.exists():
            link.symlink_to(models_dir(), target_is_directory=True)

    def run(self, *args: str) -> tuple[float, dict]:
        """Seconds a `ragls ... --json` process took, and what it printed."""
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "ragls", *args, "--json"], capture_output=True, text=True,
                                env=self.env, timeout=7200)
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"ragls {' '.join(args)} failed: {result.stderr[-2000:]}")
        return round(seconds, 2), json.loads(result.stdout)


def run_tree(args: argparse.Namespace) -> dict:
    tree = Path(args.tree).resolve()
    work = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="ragls-bundles-"))
    work.mkdir(parents=True, exist_ok=True)
    ci, dev = Machine(work / "ci"), Machine(work / "dev")
    bundle = work / "tree.ragls"
    out: dict = {"tree": str(tree)}
    out["ci_index_s"], report = ci.run("index", str(tree))
    out["functions"] = report["chunks"]
    out["files"] = report["files"]
    out["export_s"], exported = ci.run("export", str(tree), "--out", str(bundle))
    out["bundle_bytes"] = exported["bytes"]
    out["bytes_per_1k_functions"] = round(exported["bytes"] / exported["functions"] * 1000)
    out["warm_restart_s"], report = ci.run("index", str(tree))
    assert report["embedded"] == 0
    warm = [ci.run("index", str(tree))[0] for _ in range(2)]
    out["warm_restart_s"] = min([out["warm_restart_s"], *warm])

    copy = work / "dev" / tree.name
    shutil.copytree(tree, copy)
    out["fresh_base_s"], report = dev.run("index", str(copy), "--base", str(bundle))
    out["fresh_base_embedded"] = report["embedded"]
    out["warm_with_base_s"] = min(dev.run("index", str(copy))[0] for _ in range(3))
    out["fresh_over_warm"] = round(out["fresh_base_s"] / out["warm_restart_s"], 2)

    changed, functions_changed = change_one_function(copy)
    out["changed_file"] = changed
    _, report = dev.run("index", str(copy))
    out["one_change_embedded"] = report["embedded"]
    out["one_change_functions_changed"] = functions_changed

    if args.other:
        other = Machine(work / "other")
        other_copy = work / "other" / "tree"
        shutil.copytree(Path(args.other).resolve(), other_copy)
        out["other_tree"] = str(Path(args.other).resolve())
        out["other_base_s"], report = other.run("index", str(other_copy), "--base", str(bundle))
        out["other_embedded"], out["other_chunks"], out["other_files"] = report["embedded"], report["chunks"], report["files"]
        out["other_files_changed_vs_base"] = files_differing(tree, other_copy)
        out["other_alone_s"], alone = Machine(work / "alone").run("index", str(other_copy))
        out["other_alone_embedded"] = alone["embedded"]

    out["search"] = search_latency(ci, tree, dev, copy, args.queries)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return out


def run_latency(args: argparse.Namespace) -> dict:
    """Step 6 again on the machines a `tree --keep DIR` run left."""
    tree, work = Path(args.tree).resolve(), Path(args.keep).resolve()
    ci, dev = Machine(work / "ci"), Machine(work / "dev")
    return {"tree": str(tree), "search": search_latency(ci, tree, dev, work / "dev" / tree.name, args.queries)}


def change_one_function(tree: Path) -> tuple[str, int]:
    """Append a statement to the first function of the largest source file; (its path, 1)."""
    from ragls.core.chunking import chunk_source
    from ragls.core.languages import language_for_path

    sources = sorted((p for p in tree.rglob("*") if p.is_file() and language_for_path(p)), key=lambda p: -p.stat().st_size)
    for path in sources:
        rel = path.relative_to(tree).as_posix()
        chunks = [c for c in chunk_source(rel, path.read_bytes(), language_for_path(path)) if c.kind in ("function", "method")]
        if chunks:
            lines = path.read_text().splitlines(keepends=True)
            first = chunks[0]
            line = lines[first.span.start_line]
            lines[first.span.start_line] = line + ("" if line.endswith("\n") else "\n")
            # A comment line inside the function: its text (and only its) changes.
            indent = re.match(r"\s*", lines[first.span.start_line + 1] if first.span.start_line + 1 < len(lines) else "").group(0)
            lines.insert(first.span.start_line + 1, f"{indent}{comment_for(path)} changed for the benchmark\n")
            path.write_text("".join(lines))
            return rel, 1
    raise SystemExit("no function found")


def comment_for(path: Path) -> str:
    return "#" if path.suffix in (".py", ".rb") else "//"


def files_differing(first: Path, second: Path) -> int:
    from ragls.core.indexer import file_digest
    from ragls.core.languages import language_for_path

    def digests(tree: Path) -> dict[str, str]:
        return {p.relative_to(tree).as_posix(): file_digest(p.read_bytes()) for p in tree.rglob("*")
                if p.is_file() and language_for_path(p)}

    one, two = digests(first), digests(second)
    return sum(1 for path in one.keys() | two.keys() if one.get(path) != two.get(path))


def search_latency(ci: Machine, tree: Path, dev: Machine, copy: Path, count: int) -> dict:
    """p50/p95 of the same searches over a single local index and over base + overlay, in one
    process each (through the services, as `ragls search` and the server do)."""
    code = f"""
import json, os, statistics, sys, time
from pathlib import Path
from ragls.config import settings_from_options
from ragls.services.engine import Engine
root = Path(sys.argv[1]); queries = json.loads(sys.argv[2])
engine = Engine(settings_from_options().engine, model_on_demand=True)
engine.open([root])
for query in queries:  # a first pass: the model, SQLite's pages and the OS cache warm for both
    engine.queries.search(query, 10, None)
times = []
for query in queries:
    started = time.perf_counter(); engine.queries.search(query, 10, None); times.append((time.perf_counter() - started) * 1000)
times.sort()
print(json.dumps({{"p50_ms": round(times[len(times) // 2], 2), "p95_ms": round(times[int(len(times) * 0.95) - 1], 2), "n": len(times)}}))
engine.close()
"""
    queries = query_words(tree, count)
    runs: dict[str, list[dict]] = {"single": [], "base_overlay": []}
    for _ in range(ROUNDS):  # alternated, so that a busy moment of the machine hits both
        for name, machine, folder in (("single", ci, tree), ("base_overlay", dev, copy)):
            result = subprocess.run([sys.executable, "-c", code, str(folder), json.dumps(queries)], capture_output=True,
                                    text=True, env=machine.env, timeout=3600)
            if result.returncode != 0:
                raise SystemExit(result.stderr[-2000:])
            runs[name].append(json.loads(result.stdout.strip().splitlines()[-1]))
    summary = {name: {"p50_ms": median([r["p50_ms"] for r in rounds]), "p95_ms": median([r["p95_ms"] for r in rounds]),
                      "p95_each_round": [r["p95_ms"] for r in rounds], "n": rounds[0]["n"]} for name, rounds in runs.items()}
    summary["p95_ratio"] = round(summary["base_overlay"]["p95_ms"] / summary["single"]["p95_ms"], 2)
    return summary


ROUNDS = 5


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def query_words(tree: Path, count: int) -> list[str]:
    """Function names of the tree as words ("parse_header" -> "parse header"), every n-th."""
    names = sorted(set(re.findall(r"(?:def|function|func|fn)\s+([A-Za-z_][A-Za-z0-9_]{5,})",
                                  "\n".join(p.read_text(errors="replace") for p in sorted(tree.rglob("*.*"))[:2000]
                                            if p.is_file() and p.suffix in (".py", ".ts", ".js", ".go", ".rs", ".rb")))))
    step = max(1, len(names) // count)
    words = [" ".join(re.sub(r"([a-z])([A-Z])", r"\1 \2", name).replace("_", " ").lower().split()) for name in names[::step]]
    return words[:count]


def run_synthetic(args: argparse.Namespace) -> dict:
    import numpy as np

    from ragls.core.bundle import BundleContent, write_bundle
    from ragls.core.chunk import Chunk, Span
    from ragls.core.store import FileState

    work = Path(tempfile.mkdtemp(prefix="ragls-bundle-synthetic-"))
    rng = np.random.default_rng(0)
    files, chunks, vectors = {}, {}, {}
    per_file = 20
    for f in range(args.functions // per_file):
        path = f"pkg{f // 100}/mod{f}.py"
        files[path] = FileState(path, "python", 4000, 0, f"{f:032x}")
        file_chunks = []
        for i in range(per_file):
            name = f"handler_{f}_{i}"
            text = f"def {name}(event, context):\n    return process(event, {i})\n"
            chunk = Chunk(path, "python", name, "function", Span(i * 3, 0, i * 3 + 2, 0), Span(i * 3, 4, i * 3, 4 + len(name)),
                          f"def {name}(event, context)", "", text)
            file_chunks.append(chunk)
            vector = rng.standard_normal(384).astype(np.float32)
            vectors[chunk.content_hash] = vector / np.linalg.norm(vector)
        chunks[path] = file_chunks
    bundle = work / "synthetic.ragls"
    started = time.perf_counter()
    manifest = write_bundle(bundle, BundleContent(files, chunks, vectors), "sentence-transformers/all-MiniLM-L6-v2|onnx-int8", 384)
    out = {"functions": manifest.chunks, "write_s": round(time.perf_counter() - started, 1), "bundle_bytes": bundle.stat().st_size}
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "xdg")}
    code = f"""
import json, sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from backends import peak_rss_mib  # VmHWM: ru_maxrss would carry this parent's peak over
started = time.perf_counter()
from ragls.core.base import BaseIndex
imported = time.perf_counter()
base = BaseIndex(sys.argv[1], "sentence-transformers/all-MiniLM-L6-v2|onnx-int8")
base.set_visible(list(base.manifest.files))
opened = time.perf_counter()
import numpy as np
hits = base.vectors.search(np.ones(384, np.float32) / 384 ** 0.5, 10)
print(json.dumps({{"import_s": round(imported - started, 2), "open_s": round(opened - imported, 2),
                   "peak_rss_mib": peak_rss_mib(), "hits": len(hits)}}))
"""
    for name in ("first_open", "later_open"):
        result = subprocess.run([sys.executable, "-c", code, str(bundle)], capture_output=True, text=True, env=env, timeout=3600)
        if result.returncode != 0:
            raise SystemExit(result.stderr[-2000:])
        out[name] = json.loads(result.stdout.strip().splitlines()[-1])
    shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    tree = commands.add_parser("tree")
    tree.add_argument("tree")
    tree.add_argument("--other")
    tree.add_argument("--queries", type=int, default=100)
    tree.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (for `latency`)")
    tree.add_argument("--out", required=True)
    latency = commands.add_parser("latency")
    latency.add_argument("tree")
    latency.add_argument("--keep", metavar="DIR", required=True)
    latency.add_argument("--queries", type=int, default=300)
    latency.add_argument("--out", required=True)
    synthetic = commands.add_parser("synthetic")
    synthetic.add_argument("--functions", type=int, default=100_000)
    synthetic.add_argument("--out", required=True)
    args = parser.parse_args()
    result = {"tree": run_tree, "latency": run_latency, "synthetic": run_synthetic}[args.command](args)
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    result["date"] = time.strftime("%Y-%m-%d")
    result["command"] = " ".join(sys.argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
