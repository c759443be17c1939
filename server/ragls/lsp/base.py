"""The ragls language server class: its state, the one thread pool for blocking work, the one
table from errors to JSON-RPC answers, and messages to the user. It imports no feature module:
features (lsp/*.py) receive the server and register their handlers on it (lsp/server.py wires
them), as in pygls' own examples.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import attrs
from cattrs import ClassValidationError, transform_error
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcServerNotInitialized
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCRequestMessage, LanguageServerProtocol, lsp_method

from ragls import __version__
from ragls.config import Settings
from ragls.core.errors import RaglsError
from ragls.core.retrieval import QueryError
from ragls.lsp.convert import RequestFailed, invalid_params, open_text, path_of
from ragls.services.engine import Engine
from ragls.services.errors import InvalidRequest
from ragls.services.explain import Explainer

log = logging.getLogger(__name__)

QUERY_THREADS = 4  # searches, hovers and related lookups running at once
REPEAT_MESSAGE_SECONDS = 30.0  # the same error is not shown again within this time
T = TypeVar("T")

# What each error of ragls is answered as: InvalidParams (the request must change) or
# RequestFailed (the server cannot answer now: no model, a damaged index, Ollama down, ...).
# The one place that maps them.
INVALID_PARAMS = (QueryError, InvalidRequest)
REQUEST_FAILED = (RaglsError,)


def json_rpc_error(exc: Exception) -> JsonRpcException | None:
    """The JSON-RPC error a services error is answered with, or None for other exceptions."""
    if isinstance(exc, INVALID_PARAMS):
        return invalid_params(str(exc))
    if isinstance(exc, REQUEST_FAILED):
        return RequestFailed(message=str(exc))
    return None


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
    """The language server: its settings, its services and the thread pool blocking work runs in."""

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
        self.on_initialized: list[Callable[[RaglsServer], None]] = []  # features' start-up steps
        self._shown: dict[str, float] = {}  # message -> when it was last shown
        self._told: set[str] = set()  # messages shown once for the server's life
        self.loop: asyncio.AbstractEventLoop | None = None
        self.shut_down = False
        self._tasks: set[asyncio.Task] = set()
        self._pool = ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="ragls-query")

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

    async def in_pool(self, call: Callable[..., T], *args: Any) -> T:
        """Run blocking work (SQLite, hnswlib, the model) in the server's one thread pool.

        A `$/cancelRequest` cancels the awaiting task: the client gets RequestCancelled at once
        and the result, when it comes, is dropped.
        """
        return await asyncio.get_running_loop().run_in_executor(self._pool, call, *args)

    async def run_query(self, call: Callable[..., T], *args: Any) -> T:
        """`in_pool`, with the services' errors answered as JSON-RPC errors."""
        with answering_errors():
            return await self.in_pool(call, *args)

    async def read_document(self, uri: str) -> str:
        """The text of the document a request is about: the editor's text when it is open, else
        the file; InvalidParams for a file ragls must not read (services.roots.read_document)."""
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

    def register_in_background(self, registration: types.Registration) -> None:
        """client/registerCapability without waiting for the answer: a client that never answers
        must not hold up anything; a refusal is only logged."""

        async def register_now() -> None:
            try:
                await self.client_register_capability_async(types.RegistrationParams(registrations=[registration]))
            except Exception as exc:  # the client may not support it after all
                log.info("the client did not register %s: %s", registration.method, exc)

        self.spawn(register_now())

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

    def stop_pool(self) -> None:
        """Drop queued blocking work (running calls finish in the background)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def answering_errors() -> Iterator[None]:
    """Around a handler's work: services errors leave as their JSON-RPC error (json_rpc_error)."""
    try:
        yield
    except (*INVALID_PARAMS, *REQUEST_FAILED) as exc:
        raise json_rpc_error(exc) from None


_ANSWERED = object()  # a request answered while it was decoded (invalid params)


def _is_request(data: Any) -> bool:
    return isinstance(data, dict) and "jsonrpc" in data and "id" in data and isinstance(data.get("method"), str)


def _invalid_params_error(method: str, exc: Exception) -> types.ResponseError:
    details = "; ".join(transform_error(exc, path="params")) if isinstance(exc, ClassValidationError) else str(exc)
    details = details.replace("$.params.", "").replace("$.", "")
    return types.ResponseError(code=JsonRpcInvalidParams.CODE, message=f"invalid params for {method}: {details}")
