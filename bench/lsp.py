"""The language server's latencies, measured over stdio the way an editor sees them.

The code base is a copy of `--files` modules of the Python standard library of the interpreter
running this script (spread evenly over the sorted list), indexed from scratch in a temporary
cache. The server is the real `python -m ragls --stdio`, driven by the same client as the
end-to-end tests (tests/e2e/lsp_session.py).

Measured, in order:
1. `initialize` -> response: sent at process start (imports included), and sent to a server
   that has had 3 s to start (the request alone);
2. `initialized` -> state `ready`, cold (model load + full index), while polling `ragls/status`
   every 100 ms: the p50/p95/max status latency while indexing shows whether the event loop
   stays responsive;
3. `ragls/search` and `ragls/findRelated` latency p50/p95 over `--queries` requests (queries
   made of function names' words; positions inside functions);
4. `didSave` -> a search that returns the new function (the 300 ms debounce included), 5 times;
5. a warm restart: `initialized` -> `ready` with nothing changed, and the chunks it embedded.

Usage: python bench/lsp.py [--files N | --chunks N] [--queries N] [--out bench/results/lsp.json]
Prints a markdown table and writes it next to the JSON (lsp.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from lsprotocol import types  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from lsp_session import Session, start_session  # noqa: E402

from ragls.core.chunk import MODULE, WINDOW  # noqa: E402
from ragls.core.chunking import chunk_source  # noqa: E402
from ragls.core.terms import split_identifier  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
DEBOUNCE_MS = 300
SAVES = 5


def copy_corpus(target: Path, count: int) -> list[Path]:
    """Copy `count` standard-library modules, spread over the sorted list, into `target`."""
    modules = sorted(STDLIB.glob("*.py"))
    step = max(1, len(modules) // count)
    target.mkdir(parents=True)
    copies = []
    for source in modules[::step][:count]:
        copies.append(target / source.name)
        shutil.copyfile(source, copies[-1])
    return copies


def copy_chunks(target: Path, chunks: int) -> list[Path]:
    """Copy standard-library files (packages too, in walk order, tests left out) into `target`
    until they hold at least `chunks` chunks."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pipeline import stdlib_workspace

    workspace, copies, held = stdlib_workspace(), [], 0
    for file in workspace.files():
        data = workspace.read(file)
        if not isinstance(data, bytes) or file.language != "python":
            continue
        destination = target / file.rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
        copies.append(destination)
        held += len(chunk_source(file.rel, data, "python"))
        if held >= chunks:
            break
    return copies


def functions_of(files: list[Path], root: Path) -> list:
    """Every function chunk of the corpus (module and window chunks left out)."""
    chunks = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        chunks.extend(
            c for c in chunk_source(rel, path.read_bytes(), "python") if c.kind not in (MODULE, WINDOW)
        )
    return chunks


def percentiles(samples: list[float]) -> dict:
    """p50, p95 and max in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "n": len(ordered),
    }


async def timed(call) -> tuple[float, object]:
    started = time.monotonic()
    answer = await call
    return time.monotonic() - started, answer


async def until_ready(session: Session) -> tuple[float, list[float], dict]:
    """Seconds until `ready`, and the latency of every status request made while indexing."""
    started = time.monotonic()
    indexing_latencies = []
    while True:
        latency, status = await timed(session.status())
        if status["state"] == "indexing":
            indexing_latencies.append(latency)
        if status["state"] in ("ready", "error"):
            return time.monotonic() - started, indexing_latencies, status
        await asyncio.sleep(0.1)


async def search_latencies(session: Session, chunks: list, count: int) -> list[float]:
    rng = random.Random(0)
    latencies = []
    for chunk in rng.sample(chunks, min(count, len(chunks))):
        query = " ".join(split_identifier(chunk.name.split(".")[-1])) or chunk.name
        latency, _ = await timed(session.search(query, limit=10))
        latencies.append(latency)
    return latencies


async def related_latencies(session: Session, root: Path, chunks: list, count: int) -> list[float]:
    rng = random.Random(1)
    latencies = []
    for chunk in rng.sample(chunks, min(count, len(chunks))):
        params = {
            "textDocument": {"uri": (root / chunk.path).as_uri()},
            "position": {"line": chunk.name_span.start_line, "character": chunk.name_span.start_col},
            "limit": 10,
        }
        latency, _ = await timed(session.request("ragls/findRelated", params))
        latencies.append(latency)
    return latencies


async def save_to_fresh_search(session: Session, path: Path) -> list[float]:
    """Append a new function, send didSave, poll search until it is the top result."""
    latencies = []
    for attempt in range(SAVES):
        name = f"reticulate_splines_{attempt}"
        path.write_text(
            path.read_text()
            + f'\n\ndef {name}(count):\n    """Reticulate {attempt} splines for the landscape generator."""\n'
            f"    return [spline * {attempt} for spline in range(count)]\n"
        )
        started = time.monotonic()
        session.client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=path.as_uri()))
        )
        while True:
            answer = await session.search(
                f"reticulate {attempt} splines for the landscape generator", limit=1
            )
            if answer["results"] and answer["results"][0]["name"] == name:
                break
            await asyncio.sleep(0.02)
        latencies.append(time.monotonic() - started)
    return latencies


async def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="ragls-bench-lsp-"))
    root, cache = work / "workspace", work / "cache"
    files = copy_chunks(root / "stdlib", args.chunks) if args.chunks else copy_corpus(root / "stdlib", args.files)
    chunks = functions_of(files, root)
    options = {"debounceMs": DEBOUNCE_MS}
    results: dict = {"files": len(files), "functions": len(chunks)}
    try:
        session = await start_session([root], cache, options)
        results["initialize_at_spawn_s"] = round(session.initialize_seconds, 3)
        cold_seconds, status_latencies, status = await until_ready(session)
        results["cold_ready_s"] = round(cold_seconds, 1)
        results["cold_chunks"], results["cold_embedded"] = status["chunks"], status["embeddedChunks"]
        results["device"], results["backend"] = status["device"], status.get("backend", "")
        results["status_while_indexing"] = percentiles(status_latencies)
        results["search"] = percentiles(await search_latencies(session, chunks, args.queries))
        results["find_related"] = percentiles(await related_latencies(session, root, chunks, args.queries))
        results["save_to_fresh_search"] = percentiles(await save_to_fresh_search(session, files[0]))
        await session.stop()

        session = await start_session([root], cache, options, settle_seconds=3.0)
        results["initialize_settled_s"] = round(session.initialize_seconds, 3)
        warm_seconds, _, status = await until_ready(session)
        results["warm_ready_s"] = round(warm_seconds, 1)
        results["warm_embedded"] = status["embeddedChunks"]
        await session.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def markdown(results: dict, machine: str) -> str:
    def row(name: str, value: str) -> str:
        return f"| {name} | {value} |"

    def spread(key: str) -> str:
        p = results[key]
        return f"p50 {p['p50_ms']} ms, p95 {p['p95_ms']} ms, max {p['max_ms']} ms (n={p['n']})"

    lines = [
        f"LSP path, {results['files']} standard-library modules ({results['functions']} functions), {machine}",
        "",
        "| measure | result |",
        "|---|---|",
        row("`initialize` -> response, sent at process start", f"{results['initialize_at_spawn_s']} s"),
        row("`initialize` -> response, server already started", f"{results['initialize_settled_s']} s"),
        row(
            "`initialized` -> `ready`, cold (model load + full index)",
            f"{results['cold_ready_s']} s ({results['cold_embedded']} chunks embedded)",
        ),
        row(
            "`initialized` -> `ready`, warm (nothing changed)",
            f"{results['warm_ready_s']} s ({results['warm_embedded']} chunks embedded)",
        ),
        row("`ragls/status` while cold indexing", spread("status_while_indexing")),
        row("`ragls/search`", spread("search")),
        row("`ragls/findRelated`", spread("find_related")),
        row(
            f"`didSave` -> fresh search (debounce {DEBOUNCE_MS} ms included)", spread("save_to_fresh_search")
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20, help="standard-library modules to index")
    parser.add_argument("--chunks", type=int, help="instead of --files: copy files until they hold this many chunks")
    parser.add_argument("--queries", type=int, default=30, help="search and findRelated requests each")
    parser.add_argument("--out", default="bench/results/lsp.json")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, model on {results['device']}"
    results["machine"] = machine
    table = markdown(results, machine)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
