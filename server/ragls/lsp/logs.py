"""The server's log, once a client is connected: to the client, never to stderr."""

from __future__ import annotations

import logging

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcRequestCancelled, JsonRpcServerNotInitialized

from ragls.lsp.base import RaglsServer
from ragls.lsp.convert import RequestFailed


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
