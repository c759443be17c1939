"""The ragls language server: lifecycle, settings, and the services behind every feature.

- `initialize` reads the settings (initializationOptions) and the workspace folders, and
  answers at once: nothing heavy is imported or loaded before the handshake is over.
- `initialized` reports invalid settings (window/showMessage), builds the `Engine` and starts
  it (the model loads in the background, then every folder is indexed), and registers the
  file watcher and the configuration section with clients that allow dynamic registration.
- `shutdown` stops the index worker and saves every index.

Each LSP feature lives in its own module (documents, requests, hover, symbols,
configuration, progress, explain); `build_server` wires them to one `RaglsServer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from cattrs import ClassValidationError, transform_error
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcInvalidParams,
    JsonRpcRequestCancelled,
    JsonRpcServerNotInitialized,
)
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCRequestMessage, LanguageServerProtocol, lsp_method

from ragls import __version__
from ragls.config import Settings, load_settings
from ragls.core.embedding import EmbeddingError
from ragls.core.retrieval import QueryError
from ragls.core.store import StoreError
from ragls.lsp.convert import RequestFailed, file_path, invalid_params, open_text, path_of
from ragls.services.engine import Engine, EngineError, InvalidRequest

if TYPE_CHECKING:
    from ragls.services.explain import Explainer

log = logging.getLogger(__name__)

QUERY_THREADS = 4  # searches, hovers and related lookups running at once
REPEAT_MESSAGE_SECONDS = 30.0  # the same error is not shown again within this time
T = TypeVar("T")


class RaglsProtocol(LanguageServerProtocol):
    """pygls' protocol, with three changes:

    - it always negotiates UTF-16 positions: ragls' spans count UTF-16 units;
    - a request whose params do not fit its LSP type (a negative or missing position) is
      answered with InvalidParams for its id, where pygls would drop it unanswered;
    - `exit` over TCP stops the server instead of raising SystemExit inside asyncio's
      connection callback (which logged a traceback).
    """

    def structure_message(self, data: dict[str, Any]) -> Any:
        """Decode a message; a request with invalid params is answered here, and skipped."""
        if not _is_request(data):
            return super().structure_message(data)
        message_type = self.get_message_type(data["method"]) or JsonRPCRequestMessage
        try:
            return self._converter.structure(data, message_type)
        except (ClassValidationError, TypeError, ValueError) as exc:
            self._send_response(data["id"], error=_invalid_params_error(data["method"], exc))
            return _ANSWERED

    def handle_message(self, message: Any) -> None:
        """Handle a decoded message (not the requests already answered while decoding)."""
        if message is not _ANSWERED:
            super().handle_message(message)

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any):
        """Over stdio, pygls' exit; over TCP, close the connection and stop serving."""
        tcp = getattr(self._server, "_server", None)
        if tcp is None:
            return (yield from super().lsp_exit(*args))
        if self.writer is not None:
            self.writer.close()
        self._server.shutdown()

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        """Hide the client's other position encodings so that pygls keeps LSP's UTF-16 default."""
        general = params.capabilities.general
        if general is not None and general.position_encodings:
            params.capabilities = attrs.evolve(
                params.capabilities, general=attrs.evolve(general, position_encodings=None)
            )
        return (yield from super().lsp_initialize(params))


class RaglsServer(LanguageServer):
    """The language server: its settings, its engine and the thread pool queries run in."""

    def __init__(self) -> None:
        super().__init__(
            "ragls",
            __version__,
            protocol_cls=RaglsProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.settings = Settings()
        self.settings_problems: list[str] = []
        self.folders: list[Path] = []
        self.engine: Engine | None = None
        self.explainer: Explainer | None = None
        self._shown: dict[str, float] = {}  # message -> when it was last shown
        self._told: set[str] = set()  # messages shown once for the server's life
        self.loop: asyncio.AbstractEventLoop | None = None
        self.shut_down = False
        self._tasks: set[asyncio.Task] = set()
        self._queries = ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="ragls-query")

    def require_engine(self) -> Engine:
        """The engine; ServerNotInitialized before `initialized`."""
        if self.engine is None:
            raise JsonRpcServerNotInitialized(message="ragls is not initialized yet")
        return self.engine

    def require_explainer(self) -> Explainer:
        """The LLM service; ServerNotInitialized before `initialized`."""
        self.require_engine()
        assert self.explainer is not None
        return self.explainer

    async def run_query(self, call: Callable[..., T], *args: Any) -> T:
        """Run a blocking engine query in the query pool; its errors become JSON-RPC errors.

        A `$/cancelRequest` cancels the awaiting task: the client gets RequestCancelled at once
        and the query's result, when it comes, is dropped.
        """
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._queries, call, *args)
        except (QueryError, InvalidRequest) as exc:
            raise invalid_params(str(exc)) from None
        except (EngineError, EmbeddingError, StoreError) as exc:
            raise RequestFailed(message=str(exc)) from None

    async def read_document(self, uri: str) -> str:
        """The text of the document a request is about: the editor's text when it is open, else
        the file; InvalidParams for a file ragls must not read (services.engine.read_document)."""
        engine = self.require_engine()
        return await self.run_query(engine.read_document, path_of(uri), open_text(self.workspace, uri))

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine in the background on the event loop, keeping it referenced until done."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def post(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call `callback(*args)` on the event loop, from any thread; dropped once the loop closed."""
        if self.loop is None:
            return
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(callback, *args)

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """window/showMessage (call on the event loop)."""
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def tell_once(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        """window/showMessage, only the first time this server has this message to show."""
        if message not in self._told:
            self._told.add(message)
            self.show_message(message, kind)

    def show_message_once(self, message: str, kind: types.MessageType) -> None:
        """window/showMessage, unless the same message was shown in the last few seconds."""
        now = time.monotonic()
        if now - self._shown.get(message, -REPEAT_MESSAGE_SECONDS) < REPEAT_MESSAGE_SECONDS:
            return
        self._shown[message] = now
        self.show_message(message, kind)

    def start_services(self) -> None:
        """Build and start the engine and the explainer from the settings (on `initialized`)."""
        from ragls.lsp.progress import ClientReporter
        from ragls.services.explain import Explainer  # imports httpx and ollama: after the handshake

        self.engine = Engine(
            self.settings.engine_settings(),
            ClientReporter(self),
            debounce_seconds=self.settings.debounce_ms / 1000,
        )
        self.explainer = Explainer(
            self.engine, self.settings.ollama.host, self.settings.ollama.model, self._queries
        )
        self.engine.start(self.folders)

    def apply_settings(self, raw: Any) -> None:
        """Take new settings from the client: report invalid values, reconfigure the engine."""
        self.settings, problems = load_settings(raw)
        for problem in problems:
            self.show_message(problem)
        if self.engine is not None:
            self.engine.set_debounce(self.settings.debounce_ms / 1000)
            self.engine.reconfigure(self.settings.engine_settings())
        if self.explainer is not None:
            self.explainer.configure(self.settings.ollama.host, self.settings.ollama.model)

    def stop_queries(self) -> None:
        """Drop queued queries (running ones finish in the background)."""
        self._queries.shutdown(wait=False, cancel_futures=True)


def build_server() -> RaglsServer:
    """A server with every ragls feature registered."""
    # The feature modules import this one (for RaglsServer), so they are imported here.
    from ragls.lsp import configuration, documents, explain, hover, requests, symbols

    server = RaglsServer()
    _register_lifecycle(server)
    for feature in (documents, requests, hover, symbols, configuration, explain):
        feature.register(server)
    return server


def _register_lifecycle(server: RaglsServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: RaglsServer, params: types.InitializeParams) -> None:
        ls.settings, ls.settings_problems = load_settings(params.initialization_options)
        ls.folders = _folders_of(params)

    @server.feature(types.INITIALIZED)
    def initialized(ls: RaglsServer, params: types.InitializedParams) -> None:
        from ragls.lsp import configuration, documents

        ls.loop = asyncio.get_running_loop()
        send_log_to_client(ls)
        for problem in ls.settings_problems:
            ls.show_message(problem)
        ls.start_services()
        documents.register_file_watcher(ls)
        configuration.register_for_changes(ls)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: RaglsServer, params: None) -> None:
        ls.shut_down = True
        ls.stop_queries()
        if ls.engine is not None:
            await asyncio.get_running_loop().run_in_executor(None, ls.engine.close)


_ANSWERED = object()  # a request answered while it was decoded (invalid params)


def _is_request(data: Any) -> bool:
    return isinstance(data, dict) and "jsonrpc" in data and "id" in data and isinstance(data.get("method"), str)


def _invalid_params_error(method: str, exc: Exception) -> types.ResponseError:
    details = "; ".join(transform_error(exc, path="params")) if isinstance(exc, ClassValidationError) else str(exc)
    details = details.replace("$.params.", "").replace("$.", "")
    return types.ResponseError(code=JsonRpcInvalidParams.CODE, message=f"invalid params for {method}: {details}")


def _folders_of(params: types.InitializeParams) -> list[Path]:
    """The workspace folders (the root URI or path for clients without folders)."""
    if params.workspace_folders:
        uris = [folder.uri for folder in params.workspace_folders]
    elif params.root_uri:
        uris = [params.root_uri]
    else:
        return [Path(params.root_path)] if params.root_path else []
    folders = []
    for uri in uris:
        path = file_path(uri)
        if path is None:
            log.warning("ignoring workspace folder %s: only file: URIs are indexed", uri)
        else:
            folders.append(path)
    return folders


def send_log_to_client(ls: RaglsServer) -> None:
    """From now on the log goes to the client (window/logMessage) instead of stderr: ragls'
    records at the -v level, and warnings of the libraries (pygls, sentence-transformers).

    Clients show a server's stderr as errors (VS Code's output channel tags each line [error],
    Neovim's lsp.log writes it at ERROR), and the same lines already arrive as log messages at
    their own level. A --log-file keeps receiving everything.
    """
    root = logging.getLogger()
    files = [handler for handler in root.handlers if isinstance(handler, logging.FileHandler)]
    root.handlers[:] = [*files, ClientLogHandler(ls)]


class ClientLogHandler(logging.Handler):
    """Sends log records to the client as window/logMessage, from any thread."""

    LEVELS = (
        (logging.ERROR, types.MessageType.Error),
        (logging.WARNING, types.MessageType.Warning),
        (logging.INFO, types.MessageType.Info),
    )
    # pygls' own complaints about sending: forwarding them would send (and fail) again.
    SENDING = ("Error sending data", "Unable to send data")

    def __init__(self, server: RaglsServer):
        super().__init__()
        self.server = server
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record's message on the event loop (dropped once the loop is closed)."""
        if self.server.shut_down or str(record.msg).startswith(self.SENDING):
            return
        kind = next((kind for level, kind in self.LEVELS if record.levelno >= level), types.MessageType.Log)
        self.server.post(
            self.server.window_log_message, types.LogMessageParams(type=kind, message=self.format(record))
        )


class ExpectedErrorFilter(logging.Filter):
    """Keeps pygls from logging a traceback for every request that answers a clear error, and a
    warning for every `$/cancelRequest` that arrives after its request was answered (a normal
    race: clients cancel what they no longer need, e.g. search-as-you-type)."""

    EXPECTED = (JsonRpcInvalidParams, JsonRpcRequestCancelled, JsonRpcServerNotInitialized, RequestFailed)
    LATE_CANCEL = "Cancel notification for unknown message id"

    def filter(self, record: logging.LogRecord) -> bool:
        """False for records about errors that were answered to the client as intended."""
        if isinstance(record.msg, str) and record.msg.startswith(self.LATE_CANCEL):
            return False
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, self.EXPECTED)


def serve(tcp: tuple[str, int] | None = None) -> int:
    """Run the server over stdio (or TCP) until the client exits; returns the exit status.

    OSError, with the address in its message, when it cannot listen on the TCP address.
    """
    logging.getLogger("pygls.protocol.json_rpc").addFilter(ExpectedErrorFilter())
    server = build_server()
    try:
        if tcp is not None:
            try:
                server.start_tcp(*tcp)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise OSError(exc.errno, f"cannot listen on {tcp[0]}:{tcp[1]}: {reason}") from None
        else:
            stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
            sys.stdout = sys.stderr  # a stray print() must never corrupt the protocol stream
            server.start_io(stdin, stdout)
    except SystemExit:
        pass
    return 0 if server.shut_down else 1
