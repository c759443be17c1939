"""The `ragls` command: the language server, and index, search and inspect from the terminal.

    ragls [serve] [--stdio | --tcp HOST:PORT]   run the language server (stdio by default)
    ragls index [PATH]                      index (or bring up to date) a folder
    ragls search QUERY [--root PATH]        natural-language search
    ragls related FILE:LINE                 the function at a line and the code most like it
    ragls status [PATH]                     what is indexed, where, with which model
    ragls explain FILE:LINE [--question Q]  ask the local LLM (Ollama) about a function

User mistakes print one line on stderr and exit with status 2; nothing prints a traceback
unless -vv asks for one.
"""

from __future__ import annotations

import os

# numpy's BLAS threads fight torch's for the cores; set before anything imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import errno  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import NoReturn  # noqa: E402

from ragls import __version__  # noqa: E402

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A mistake the user can fix; printed as one line."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.log_file)
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        print("ragls: interrupted (what was embedded so far is cached)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into a message
        if args.verbose >= 2 or not _is_user_error(exc):
            logging.getLogger("ragls").exception("command failed")
        print(f"ragls: error: {error_line(exc)}", file=sys.stderr)
        return EXIT_USAGE if _is_user_error(exc) else 1


def error_line(exc: Exception) -> str:
    """What went wrong, on one line."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f": {exc.filename}" if exc.filename else ""
        return f"the disk is full{where} (what was indexed so far is kept)"
    if isinstance(exc, OSError) and exc.strerror and not str(exc).startswith("cannot"):
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


def _logging_options(before_command: bool) -> argparse.ArgumentParser:
    """-v and --log-file. After a command they have no defaults, so that the command does not
    reset what was given before it (`ragls -v serve`)."""
    parent = argparse.ArgumentParser(add_help=False)
    unset = {} if before_command else {"default": argparse.SUPPRESS}
    parent.add_argument("-v", "--verbose", action="count", help="-v info, -vv debug", **({"default": 0} | unset))
    parent.add_argument("--log-file", help="write the log to this file instead of stderr", **unset)
    return parent


def _server_options(before_command: bool) -> argparse.ArgumentParser:
    """The language server's options: logging, --stdio, --tcp."""
    parent = argparse.ArgumentParser(add_help=False, parents=[_logging_options(before_command)])
    unset = {} if before_command else {"default": argparse.SUPPRESS}
    parent.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)", **unset)
    parent.add_argument("--tcp", metavar="HOST:PORT", help="listen for one LSP client on a TCP port instead", **unset)
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per job."""
    common = argparse.ArgumentParser(add_help=False, parents=[_logging_options(before_command=False)])
    common.add_argument("--cache-dir", help="base folder of the index caches (default: XDG cache)")
    common.add_argument("--model", help="sentence-transformers model name or local path")
    common.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    common.add_argument(
        "--max-file-size", type=file_size, default=1_000_000, help="bytes (1 to 1000000000); larger files are skipped"
    )
    common.add_argument("--ignore", action="append", default=[], help="extra gitignore-style glob (repeatable)")

    parser = argparse.ArgumentParser(
        prog="ragls",
        parents=[_server_options(before_command=True)],
        description="ragls: ask about your code base. With no command, runs the language server.",
    )
    parser.add_argument("--version", action="version", version=f"ragls {__version__}")
    parser.set_defaults(handler=run_serve)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser(
        "serve", parents=[_server_options(before_command=False)], help="run the language server (stdio or TCP)"
    )
    serve.set_defaults(handler=run_serve)

    index = commands.add_parser("index", parents=[common], help="index a folder (incremental)")
    index.add_argument("path", nargs="?", default=".", help="folder to index (default: .)")
    index.add_argument("--json", action="store_true", help="print the report as JSON")
    index.set_defaults(handler=run_index)

    search = commands.add_parser("search", parents=[common], help="natural-language search")
    search.add_argument("query")
    search.add_argument("--root", help="indexed folder (default: found from the current folder)")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--ranking", choices=("hybrid", "dense", "lexical"), default=None)
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=run_search)

    related = commands.add_parser("related", parents=[common], help="code related to FILE:LINE")
    related.add_argument("location", metavar="FILE:LINE", help="1-based line, as editors show it")
    related.add_argument("--root", help="indexed folder (default: found from FILE)")
    related.add_argument("--limit", type=int, default=10)
    related.add_argument("--json", action="store_true")
    related.set_defaults(handler=run_related)

    explain = commands.add_parser("explain", parents=[common], help="ask the local LLM about FILE:LINE")
    explain.add_argument("location", metavar="FILE:LINE", help="1-based line, as editors show it")
    explain.add_argument("--question", help="what to ask (default: explain the function)")
    explain.add_argument("--root", help="indexed folder (default: found from FILE)")
    explain.add_argument("--regenerate", action="store_true", help="ask again even if an answer is cached")
    explain.add_argument("--ollama-host", help="Ollama server (default: $OLLAMA_HOST, else http://127.0.0.1:11434)")
    explain.add_argument("--ollama-model", help="Ollama model (default: qwen2.5-coder:7b)")
    explain.set_defaults(handler=run_explain)

    status = commands.add_parser("status", parents=[common], help="what is indexed")
    status.add_argument("path", nargs="?", default=None, help="indexed folder (default: found from .)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=run_status)
    return parser


def configure_logging(verbose: int, log_file: str | None) -> None:
    """Warnings by default, more with -v/-vv; to a file when asked."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("ragls").setLevel(level)


# commands ---------------------------------------------------------------------------------
def run_serve(args: argparse.Namespace) -> NoReturn:
    """`ragls [serve]`: the language server, over stdio (logs go to stderr or --log-file) or TCP;
    the process ends with the server's exit status."""
    from ragls.lsp.server import serve

    tcp = parse_address(args.tcp) if args.tcp else None
    if tcp is None and sys.stdin.isatty():
        hint = "ragls: language server waiting for an LSP client on stdin (ragls --help lists the commands)"
        print(hint, file=sys.stderr)
    code = serve(tcp=tcp)
    # Everything is saved by now (the engine closes on shutdown). Leave without interpreter
    # finalization: an index worker still inside torch (loading the model when the client quit)
    # made C++ destructors abort the process at exit ("terminate called without an active
    # exception", SIGABRT) instead of exiting with `code`.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__):
        try:
            stream.flush()
        except (ValueError, OSError):  # pygls closes stdout on `exit`: nothing is left to flush
            pass
    os._exit(code)


def run_index(args: argparse.Namespace) -> int:
    """`ragls index`: bring the index of a folder up to date, with a progress bar."""
    from ragls.progress_bar import ProgressBar

    root = _existing_dir(args.path)
    indexer = _open_indexer(root, args)
    bar = ProgressBar()
    try:
        report = indexer.index_all(progress=bar)
        _remember_last_run(indexer, report)
    finally:
        bar.close()
        indexer.close()
    for notice in report.notices:
        print(f"ragls: {notice}", file=sys.stderr)
    if args.json:
        print(json.dumps({"root": str(indexer.root), **report.as_dict()}, indent=2))
        return 0
    rate = f", {report.embedded / report.seconds:.1f} chunks/s" if report.embedded and report.seconds else ""
    print(
        f"indexed {indexer.root}: {report.files} files, {report.chunks} chunks "
        f"({report.files_changed} files changed, {report.files_removed} removed; "
        f"{report.embedded} chunks embedded, {report.cache_hits} from cache{rate}) "
        f"in {report.seconds:.1f}s"
    )
    return 0


def run_search(args: argparse.Namespace) -> int:
    """`ragls search`: the functions that best match a query."""
    from ragls.core.retrieval import Retriever

    root = _existing_dir(args.root) if args.root else find_indexed_root(Path.cwd(), args)
    indexer = _open_indexed(root, args)
    retriever = Retriever(indexer)
    hits = retriever.search(args.query, limit=args.limit, ranking=args.ranking)
    if args.json:
        print(json.dumps({"results": [hit_json(indexer.root, hit.chunk, hit.score) for hit in hits]}, indent=2))
    else:
        _print_hits(hits)
    return 0


def run_related(args: argparse.Namespace) -> int:
    """`ragls related`: the function at FILE:LINE, then the functions most like it."""
    from ragls.core.retrieval import Retriever

    file, line = parse_location(args.location)
    root = _existing_dir(args.root) if args.root else find_indexed_root(file.parent, args)
    rel = _relative_to_root(file, root)
    indexer = _open_indexed(root, args)
    symbol, hits = Retriever(indexer).related(rel, line - 1, limit=args.limit)
    if symbol is None:
        raise CliError(f"{rel}:{line} is not inside an indexed function (is the file indexed?)")
    if args.json:
        payload = {
            "symbol": hit_json(indexer.root, symbol.chunk, None),
            "results": [hit_json(indexer.root, hit.chunk, hit.score) for hit in hits],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(f"{symbol.chunk.path}:{symbol.chunk.span.start_line + 1}  {symbol.chunk.name}  (at {rel}:{line})")
        _print_hits(hits)
    return 0


def run_explain(args: argparse.Namespace) -> int:
    """`ragls explain`: stream the LLM's answer about the function at FILE:LINE, then its sources."""
    import asyncio

    file, line = parse_location(args.location)
    root = _existing_dir(args.root) if args.root else find_indexed_root(file.parent, args)
    _relative_to_root(file, root)
    _require_index(root, args)
    explanation = asyncio.run(_explain(file, root, line - 1, args))
    print()
    for note in explanation.withheld:
        print(f"ragls: {note}", file=sys.stderr)
    _print_sources(explanation.sources, root)
    if explanation.incomplete:
        raise CliError(f"the answer is incomplete: {explanation.error}")
    return 0


async def _explain(file: Path, root: Path, line: int, args: argparse.Namespace):
    """Bring the folder's index up to date, then stream the answer to stdout."""
    import asyncio

    from ragls.core.llm import DEFAULT_MODEL, default_host
    from ragls.services.engine import ERROR, READY, Engine
    from ragls.services.explain import Explainer

    engine = Engine(_settings(args))
    engine.start([root])
    try:
        while (status := engine.status()).state not in (READY, ERROR):
            await asyncio.sleep(0.05)
        if status.state == ERROR:
            raise CliError(status.message or "the index cannot be used")
        explainer = Explainer(engine, args.ollama_host or default_host(), args.ollama_model or DEFAULT_MODEL)
        text = file.read_bytes().decode("utf-8", errors="replace")
        return await explainer.explain(file, text, line, args.question, _print_delta, args.regenerate)
    finally:
        engine.close()


def _print_delta(delta: str) -> None:
    sys.stdout.write(delta)
    sys.stdout.flush()


def _print_sources(sources: list[dict], root: Path) -> None:
    from urllib.parse import unquote

    if not sources:
        print("sources: none")
        return
    print("sources:")
    for number, source in enumerate(sources, start=1):
        path = Path(unquote(source["uri"].removeprefix("file://")))
        where = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        print(f"[{number}] {where}:{source['range']['start']['line'] + 1}  {source['name']}")


def _require_index(root: Path, args: argparse.Namespace) -> None:
    from ragls.core.settings import cache_base
    from ragls.core.workspace import workspace_id

    if not (cache_base(_settings(args)) / workspace_id(root) / "store.sqlite3").exists():
        raise CliError(f"{root} is not indexed yet: run `ragls index {root}` first")


def run_status(args: argparse.Namespace) -> int:
    """`ragls status`: counts, model, device and cache of an indexed folder."""
    root = _existing_dir(args.path) if args.path else find_indexed_root(Path.cwd(), args)
    indexer = _open_indexed(root, args)
    status = indexer.status()
    last_run = indexer.store.get_meta("last_run")
    status["last_run"] = json.loads(last_run) if last_run else None
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    for key in ("root", "files", "chunks", "model", "device", "index_bytes", "cached_vectors", "cache_dir"):
        print(f"{key:15} {status[key]}")
    if status["last_run"]:
        run = status["last_run"]
        print(
            f"{'last index':15} {run['finished']}: {run['embedded']} embedded"
            f"{' on ' + run['device'] if run.get('device') else ''}, "
            f"{run['cache_hits']} cache hits, {run['seconds']}s"
        )
    return 0


# helpers ----------------------------------------------------------------------------------
def hit_json(root: Path, chunk, score: float | None) -> dict:
    """A result in the JSON shape of docs/protocol.md, plus the root-relative `path`."""
    from ragls.services.results import result_json

    return {"path": chunk.path, **result_json(root, chunk, score)}


def file_size(text: str) -> int:
    """--max-file-size: a whole number of bytes from 1 to 1000000000."""
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= 1_000_000_000:
        raise argparse.ArgumentTypeError(f"expected a number of bytes from 1 to 1000000000, got {text!r}")
    return int(text)


_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes "²", which int() refuses


def parse_address(text: str) -> tuple[str, int]:
    """Split `HOST:PORT` for --tcp."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not _DIGITS.fullmatch(port) or not 0 < int(port) < 65536:
        raise CliError(f"expected HOST:PORT with a port from 1 to 65535, got {text!r}")
    return host, int(port)


def parse_location(text: str) -> tuple[Path, int]:
    """Split `FILE:LINE` (1-based line) and check that the file exists."""
    path_text, sep, line_text = text.rpartition(":")
    if not sep or not _DIGITS.fullmatch(line_text) or int(line_text) < 1:
        raise CliError(f"expected FILE:LINE with a line number from 1, got {text!r}")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise CliError(f"no such file: {path_text}")
    return path.resolve(), int(line_text)


def find_indexed_root(start: Path, args: argparse.Namespace) -> Path:
    """The nearest folder at or above `start` that has an index; else the git root; else start."""
    from ragls.core.settings import cache_base
    from ragls.core.workspace import workspace_id

    start = start.resolve()
    base = cache_base(_settings(args))
    for folder in (start, *start.parents):
        if (base / workspace_id(folder) / "store.sqlite3").exists():
            return folder
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _print_hits(hits) -> None:
    if not hits:
        print("no results")
    width = max((len(f"{h.chunk.path}:{h.chunk.span.start_line + 1}") for h in hits), default=0)
    for hit in hits:
        where = f"{hit.chunk.path}:{hit.chunk.span.start_line + 1}"
        print(f"{where:<{width}}  {hit.chunk.name}  {hit.score:.3f}")


def _settings(args: argparse.Namespace):
    from ragls.core.settings import EngineSettings

    return EngineSettings(
        model=args.model or EngineSettings.model,
        device=args.device,
        cache_dir=args.cache_dir,
        max_file_size=args.max_file_size,
        ignore=tuple(args.ignore),
    )


def _open_indexer(root: Path, args: argparse.Namespace, create: bool = True):
    from ragls.core.indexer import Indexer

    return Indexer(root, _settings(args), create=create)


def _open_indexed(root: Path, args: argparse.Namespace):
    """The index of a folder that was indexed before (nothing is created for one that was not)."""
    from ragls.core.store import StoreMissing

    try:
        return _open_indexer(root, args, create=False)
    except StoreMissing:
        raise CliError(f"{root} is not indexed yet: run `ragls index {root}` first") from None


def _remember_last_run(indexer, report) -> None:
    # A run with nothing to embed never loads the model: keep the device of the last run that did.
    previous = json.loads(indexer.store.get_meta("last_run") or "{}")
    device = indexer.embedder.device if getattr(indexer.embedder, "loaded", False) else previous.get("device")
    indexer.store.set_meta(
        "last_run",
        json.dumps({**report.as_dict(), "device": device, "finished": time.strftime("%Y-%m-%d %H:%M:%S")}),
    )


def _existing_dir(path_text: str) -> Path:
    path = Path(path_text).expanduser()
    if not path.is_dir():
        raise CliError(f"not a folder: {path_text}")
    return path.resolve()


def _relative_to_root(file: Path, root: Path) -> str:
    try:
        return file.relative_to(root.resolve()).as_posix()
    except ValueError:
        raise CliError(f"{file} is outside the indexed folder {root}") from None


def _is_user_error(exc: Exception) -> bool:
    from ragls.core.embedding import EmbeddingError
    from ragls.core.llm import LLMError
    from ragls.core.retrieval import QueryError
    from ragls.core.store import StoreError
    from ragls.services.engine import EngineError

    user_errors = (CliError, QueryError, EmbeddingError, StoreError, OSError, LLMError, EngineError)
    return isinstance(exc, user_errors)


if __name__ == "__main__":
    sys.exit(main())
