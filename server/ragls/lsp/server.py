"""The ragls language server: every feature registered on one `RaglsServer`, over stdio or TCP.

Each LSP feature lives in its own module and receives the server to register its handlers on
(lifecycle, documents, requests, hover, symbols, configuration, explain); the server class lives
in lsp/base.py and imports none of them.
"""

from __future__ import annotations

import logging
import sys

from ragls.lsp import configuration, documents, explain, hover, lifecycle, requests, symbols
from ragls.lsp.base import RaglsServer
from ragls.lsp.logs import ExpectedErrorFilter

FEATURES = (lifecycle, documents, requests, hover, symbols, configuration, explain)


def build_server() -> RaglsServer:
    """A server with every ragls feature registered."""
    server = RaglsServer()
    for feature in FEATURES:
        feature.register(server)
    return server


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
