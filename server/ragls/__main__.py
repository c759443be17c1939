"""The `ragls` command: the language server, and index, search and inspect from the terminal.

    ragls [serve] [--stdio | --tcp HOST:PORT]   run the language server (stdio by default)
    ragls index [PATH]                      index (or bring up to date) a folder
    ragls search QUERY [--root PATH]        natural-language search
    ragls related FILE:LINE                 the function at a line and the code most like it
    ragls status [PATH]                     what is indexed, where, with which model
    ragls explain FILE:LINE [--question Q]  ask the local LLM (Ollama) about a function
    ragls eval [PATH]                       how well search finds this repository's functions
    ragls export [PATH] --out FILE          write the index as a bundle others can use as a base
    ragls merge PART... --out FILE          one bundle from the bundles of a tree's parts

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
from pathlib import Path  # noqa: E402
from typing import NoReturn  # noqa: E402

from ragls import __version__  # noqa: E402
from ragls.core import llm  # noqa: E402  (light: the Ollama client itself is imported on use)
from ragls.core.workspace import DEFAULT_MAX_FILE_SIZE, MAX_FILE_SIZE_LIMIT  # noqa: E402

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
    common.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where the model runs (default: auto)")
    common.add_argument(
        "--backend", choices=("auto", "torch", "onnx", "onnx-int8"),
        help="what runs the model (default: auto = torch on CUDA, else int8 ONNX when onnxruntime is there)",
    )
    common.add_argument("--threads", type=int, help="threads the model uses (default: every core)")
    common.add_argument(
        "--max-file-size",
        type=file_size,
        help=f"bytes (1 to {MAX_FILE_SIZE_LIMIT}); larger files are skipped (default: {DEFAULT_MAX_FILE_SIZE})",
    )
    common.add_argument("--ignore", action="append", default=[], help="extra gitignore-style glob (repeatable)")
    common.add_argument("--query-prompt", help="text before each query (default: the model's own, if any)")
    common.add_argument("--document-prompt", help="text before each function embedded (default: the model's own)")

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

    base = argparse.ArgumentParser(add_help=False)
    choice = base.add_mutually_exclusive_group()
    choice.add_argument("--base", metavar="FILE", help="a bundle (ragls export) to use as the read-only base; remembered")
    choice.add_argument("--no-base", action="store_true", help="stop using the base index")

    index = commands.add_parser("index", parents=[common, base], help="index a folder (incremental)")
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
    explain.add_argument("--ollama-model", help=f"Ollama model (default: {llm.DEFAULT_MODEL})")
    explain.set_defaults(handler=run_explain)

    evaluate = commands.add_parser("eval", parents=[common], help="measure search on this repository's own docs")
    evaluate.add_argument("path", nargs="?", default=".", help="folder to measure (default: .)")
    evaluate.add_argument("--limit", type=int, default=300, help="queries to sample (default: 300)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    evaluate.add_argument("--keep", metavar="DIR", help="keep the doc-less copy and its index in DIR, and reuse them")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(handler=run_eval)

    export = commands.add_parser("export", parents=[common, base], help="write the index as a portable bundle")
    export.add_argument("path", nargs="?", default=".", help="folder to export (default: .)")
    export.add_argument("--out", required=True, metavar="FILE", help="the bundle file to write")
    export.add_argument("--part", action="append", default=[], metavar="DIR",
                        help="export only this subfolder (repeatable); merge the parts with `ragls merge`")
    export.add_argument("--json", action="store_true", help="print the manifest's summary as JSON")
    export.set_defaults(handler=run_export)

    merge = commands.add_parser("merge", help="one bundle from the bundles of several parts")
    merge.add_argument("parts", nargs="+", metavar="PART", help="bundles written by `ragls export --part`")
    merge.add_argument("--out", required=True, metavar="FILE", help="the bundle file to write")
    merge.add_argument("--json", action="store_true", help="print the manifest's summary as JSON")
    merge.set_defaults(handler=run_merge)

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
# Each command is a thin client of services.engine, the engine the language server runs.
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
    listener = _RunListener(ProgressBar())
    with _engine(args, listener) as engine:
        engine.start([root], preload_model=False)
        _require_success(engine.wait_until_idle())
    report = listener.report
    if args.json:
        print(json.dumps({"root": str(root), **report.as_dict()}, indent=2))
    else:
        print(f"indexed {root}: {report.summary()}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """`ragls export`: index the folder (or its `--part` folders), then write it as a bundle."""
    from ragls.progress_bar import ProgressBar

    root = _existing_dir(args.path)
    parts = [_part_of(root, part) for part in args.part]
    out = Path(args.out).expanduser().resolve()
    with _engine(args, _RunListener(ProgressBar()), parts=parts) as engine:
        engine.start([root], preload_model=False)
        _require_success(engine.wait_until_idle())
        manifest = engine.export(root, out, parts)
    return _print_bundle(out, manifest, args.json)


def run_merge(args: argparse.Namespace) -> int:
    """`ragls merge`: one bundle from several parts' bundles."""
    from ragls.core.bundle import merge_bundles

    out = Path(args.out).expanduser().resolve()
    manifest = merge_bundles([Path(part).expanduser() for part in args.parts], out)
    return _print_bundle(out, manifest, args.json)


def _print_bundle(out: Path, manifest, as_json: bool) -> int:
    summary = {"bundle": str(out), "bytes": out.stat().st_size, "files": len(manifest.files),
               "functions": manifest.chunks, "model": manifest.model_id, "commit": manifest.commit,
               "parts": list(manifest.parts)}
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        commit = f" at {manifest.commit[:12]}" if manifest.commit else ""
        print(f"wrote {out}: {manifest.chunks} functions of {len(manifest.files)} files{commit}, "
              f"{summary['bytes'] / 1e6:.1f} MB")
    return 0


def _part_of(root: Path, part: str) -> str:
    """A --part folder as a root-relative path; one line when it is not a folder of the root."""
    from ragls.core.workspace import root_relative

    path = Path(part).expanduser()
    path = path if path.is_absolute() else root / path
    rel = root_relative(root, path)
    if not rel or not path.is_dir():
        raise CliError(f"--part {part}: not a folder inside {root}")
    return rel


def run_search(args: argparse.Namespace) -> int:
    """`ragls search`: the functions that best match a query."""
    root = _existing_dir(args.root) if args.root else _default_root(Path.cwd(), args)
    with _engine(args) as engine:
        _open_index(engine, root)
        outcome = engine.queries.search(args.query, args.limit, args.ranking)
    if args.json:
        print(json.dumps({"results": [found_json(found) for found in outcome.results]}, indent=2))
    else:
        _print_found(outcome.results)
    return 0


def run_related(args: argparse.Namespace) -> int:
    """`ragls related`: the function at FILE:LINE, then the functions most like it."""
    file, line = parse_location(args.location)
    root = _existing_dir(args.root) if args.root else _default_root(file.parent, args)
    with _engine(args) as engine:
        _open_index(engine, root)
        text = engine.read_document(file, None)
        outcome = engine.queries.related(file, text, line - 1, args.limit)
    if outcome.symbol is None:
        raise CliError(f"{file.name}:{line} is not inside a function")
    symbol = outcome.symbol.chunk
    if args.json:
        payload = {"symbol": found_json(outcome.symbol), "results": [found_json(found) for found in outcome.results]}
        print(json.dumps(payload, indent=2))
    else:
        print(f"{symbol.path}:{symbol.span.start_line + 1}  {symbol.name}  (at {symbol.path}:{line})")
        _print_found(outcome.results)
    return 0


def run_explain(args: argparse.Namespace) -> int:
    """`ragls explain`: stream the LLM's answer about the function at FILE:LINE, then its sources."""
    import asyncio

    from ragls.services.explain import Explainer

    file, line = parse_location(args.location)
    root = _existing_dir(args.root) if args.root else _default_root(file.parent, args)
    settings = _settings(args)
    with _engine(args, _RunListener(None)) as engine:
        _open_index(engine, root)
        engine.reindex()  # bring it up to date first
        _require_success(engine.wait_until_idle())
        text = engine.read_document(file, None)
        explainer = Explainer(engine.queries, settings.ollama.host, settings.ollama.model, asyncio.to_thread)
        explanation = asyncio.run(explainer.explain(file, text, line - 1, args.question, _print_delta, args.regenerate))
    print()
    for note in explanation.withheld:
        print(f"ragls: {note}", file=sys.stderr)
    _print_sources(explanation.sources, root)
    if explanation.incomplete:
        raise CliError(f"the answer is incomplete: {explanation.error}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    """`ragls status`: counts, model, device and cache of an indexed folder."""
    from ragls.services.results import status_json

    root = _existing_dir(args.path) if args.path else _default_root(Path.cwd(), args)
    with _engine(args) as engine:
        _open_index(engine, root, refuse_without_base=False)
        status = engine.status()
    if args.json:
        print(json.dumps(status_json(status), indent=2))
        return 0
    for name, value in _status_lines(status):
        print(f"{name:15} {value}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """`ragls eval`: MRR@10, recall@1 and recall@10 of each ranking, on queries made from the
    folder's own function docs (services.evaluation)."""
    import shutil
    import tempfile

    from ragls.progress_bar import ProgressBar
    from ragls.services.evaluation import evaluate

    root = _existing_dir(args.path)
    if not 1 <= args.limit <= 100_000:
        raise CliError(f"--limit must be from 1 to 100000, got {args.limit}")
    work = Path(args.keep).expanduser().resolve() if args.keep else Path(tempfile.mkdtemp(prefix="ragls-eval-"))
    bar = ProgressBar()
    try:
        report = evaluate(root, _settings(args).engine, work, args.limit, args.seed, _RunListener(bar), bar)
    finally:
        bar.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
        return 0
    for line in _eval_lines(report.as_json(), root):
        print(line)
    return 0


def _eval_lines(result: dict, root: Path) -> list[str]:
    languages = ", ".join(f"{name} {entry['queries']}" for name, entry in result["languages"].items())
    lines = [f"{result['queries']} queries from {root} ({languages}); default ranking: {result['default']}", ""]
    lines.append(f"{'ranking':10} {'MRR@10':>7} {'R@1':>6} {'R@10':>6}")
    for name, scores in result["rankings"].items():
        lines.append(f"{name:10} {scores['mrr@10']:7.3f} {scores['recall@1']:6.3f} {scores['recall@10']:6.3f}")
    lines.append("")
    lines.append("MRR@10 per language: " + "  ".join(result["rankings"]))
    for language, entry in result["languages"].items():
        values = "  ".join(f"{entry['rankings'][name]['mrr@10']:.3f}" for name in result["rankings"])
        lines.append(f"  {language:12} ({entry['queries']:4})  {values}")
    return lines


# helpers ----------------------------------------------------------------------------------
class _RunListener:
    """What the CLI shows of an index run: the progress bar, notices on stderr; it keeps the
    report (a failure is the engine's status, raised as one line by `_require_success`)."""

    def __init__(self, bar):
        self.bar = bar
        self.report = None

    def run_started(self, run) -> None:
        """Nothing to show yet."""

    def run_progressed(self, run, progress) -> None:
        """Draw the bar."""
        if self.bar is not None:
            self.bar(progress)

    def run_finished(self, run, report, summary: str) -> None:
        """Close the bar and keep the report."""
        if self.bar is not None:
            self.bar.close()
        self.report = report

    def problem(self, message: str) -> None:
        """Failures come out of the engine's status, once."""

    def notice(self, message: str) -> None:
        """Say it on stderr."""
        print(f"ragls: {message}", file=sys.stderr)


class _engine:
    """`with _engine(args) as engine`: an engine for one command, closed (and saved) after it.
    `parts`: index only these root-relative folders, in an index of their own (ragls export)."""

    def __init__(self, args: argparse.Namespace, listener=None, parts: list[str] | None = None):
        self._args, self._listener, self._parts = args, listener, parts

    def __enter__(self):
        from ragls.services.engine import Engine

        settings = _settings(self._args).engine
        if self._parts:
            settings = _parts_only(settings, self._parts)
        self.engine = Engine(settings, self._listener, model_on_demand=True, strict_base=True)
        return self.engine

    def __exit__(self, *exc_info) -> None:
        self.engine.close()


def _parts_only(settings, parts: list[str]):
    """Settings that index only `parts`, in a cache folder of their own: a part's index must
    not replace the whole tree's index of this machine."""
    import dataclasses
    import hashlib

    from ragls.core.settings import cache_base
    from ragls.core.workspace import patterns_keeping_only

    name = hashlib.blake2b("\0".join(sorted(parts)).encode(), digest_size=6).hexdigest()
    return dataclasses.replace(settings, ignore=(*settings.ignore, *patterns_keeping_only(parts)),
                               cache_dir=str(cache_base(settings) / "parts" / name))


def _open_index(engine, root: Path, refuse_without_base: bool = True) -> None:
    """Open the folder's existing index; a base index it cannot use is one line unless
    `refuse_without_base` is False (status shows the problem instead)."""
    from ragls.core.store import StoreMissing

    try:
        engine.open([root])
    except StoreMissing:
        raise CliError(f"{root} is not indexed yet: run `ragls index {root}` first") from None
    for folder in engine.status().folders if refuse_without_base else ():
        if folder.base_problem:
            raise CliError(folder.base_problem)


def _require_success(status) -> None:
    from ragls.services.worker import ERROR

    if status.state == ERROR:
        raise CliError(status.message or "the index cannot be used")


def _status_lines(status) -> list[tuple[str, object]]:
    lines: list[tuple[str, object]] = []
    for folder in status.folders:
        run = folder.last_run or {}
        device = status.device or run.get("device") or "not loaded yet"
        backend = status.backend or run.get("backend") or "not loaded yet"
        lines += [
            ("root", folder.folder),
            ("files", folder.files),
            ("chunks", folder.chunks),
            ("model", status.model),
            ("device", device),
            ("backend", backend),
            ("index_bytes", folder.index_bytes),
            ("cache_dir", folder.cache_dir),
        ]
        if folder.base is not None:
            commit = f" at {folder.base.commit[:12]}" if folder.base.commit else ""
            lines += [
                ("base", f"{folder.base.path}{commit}: {folder.base.functions} functions, "
                         f"{folder.base.searched} of them as the working copy has them"),
                ("overlay", f"{folder.overlay_chunks} chunks of the working copy's own"),
            ]
        if folder.base_problem:
            lines.append(("base", folder.base_problem))
        if run:
            where = f" on {run['device']}" if run.get("device") else ""
            lines.append(
                ("last index", f"{run['finished']}: {run['embedded']} embedded{where}, "
                 f"{run['cache_hits']} from cache, {run['seconds']}s")
            )
    return lines


def found_json(found) -> dict:
    """A result in the JSON shape of docs/protocol.md, plus the root-relative `path`."""
    from ragls.services.results import result_json

    return {"path": found.chunk.path, **result_json(found.folder, found.chunk, found.score)}


def file_size(text: str) -> int:
    """--max-file-size: a whole number of bytes from 1 to MAX_FILE_SIZE_LIMIT."""
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_FILE_SIZE_LIMIT:
        raise argparse.ArgumentTypeError(f"expected a number of bytes from 1 to {MAX_FILE_SIZE_LIMIT}, got {text!r}")
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


def _settings(args: argparse.Namespace):
    """The settings tree of ragls from the command's options (unset options keep the defaults)."""
    from ragls.config import settings_from_options

    return settings_from_options(
        model=args.model,
        device=args.device,
        cache_dir=args.cache_dir,
        max_file_size=args.max_file_size,
        ignore=args.ignore or None,
        backend=args.backend,
        index_threads=args.threads,
        query_prompt=args.query_prompt,
        document_prompt=args.document_prompt,
        base_index=_base_option(args),
        ollama_host=getattr(args, "ollama_host", None),
        ollama_model=getattr(args, "ollama_model", None),
    )


def _base_option(args: argparse.Namespace) -> str | None:
    """--base FILE (absolute: it is remembered beyond this folder), --no-base "", else None."""
    if getattr(args, "no_base", False):
        return ""
    base = getattr(args, "base", None)
    return str(Path(base).expanduser().resolve()) if base else None


def _default_root(start: Path, args: argparse.Namespace) -> Path:
    from ragls.services.roots import indexed_folder_at_or_above

    return indexed_folder_at_or_above(start, _settings(args).engine)


def _print_found(results) -> None:
    if not results:
        print("no results")
    width = max((len(f"{f.chunk.path}:{f.chunk.span.start_line + 1}") for f in results), default=0)
    for found in results:
        where = f"{found.chunk.path}:{found.chunk.span.start_line + 1}"
        print(f"{where:<{width}}  {found.chunk.name}  {found.score:.3f}")


def _print_delta(delta: str) -> None:
    sys.stdout.write(delta)
    sys.stdout.flush()


def _print_sources(sources: list[dict], root: Path) -> None:
    from urllib.parse import unquote

    from ragls.core.workspace import root_relative

    if not sources:
        print("sources: none")
        return
    print("sources:")
    for number, source in enumerate(sources, start=1):
        path = Path(unquote(source["uri"].removeprefix("file://")))
        where = root_relative(root, path) or str(path)
        print(f"[{number}] {where}:{source['range']['start']['line'] + 1}  {source['name']}")


def _existing_dir(path_text: str) -> Path:
    path = Path(path_text).expanduser()
    if not path.is_dir():
        raise CliError(f"not a folder: {path_text}")
    return path.resolve()


def _is_user_error(exc: Exception) -> bool:
    from ragls.core.errors import RaglsError

    return isinstance(exc, (CliError, RaglsError, OSError))


if __name__ == "__main__":
    sys.exit(main())
