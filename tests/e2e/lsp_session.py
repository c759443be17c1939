"""Driving the real `ragls` server over stdio from the tests (and bench/lsp.py).

A `Session` starts `python -m ragls --stdio` with pytest-lsp's client, performs the handshake
as an editor would (workspace folders, initializationOptions, client capabilities) and offers
small helpers for ragls' own requests. Nothing is mocked: the server runs the real model on the
real files, with its index cache in a folder of the test's choosing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from concurrent.futures import Future
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from ragls.lsp.convert import plain  # custom-request results arrive as named tuples

CAPABILITIES = types.ClientCapabilities(
    window=types.WindowClientCapabilities(work_done_progress=True),
    workspace=types.WorkspaceClientCapabilities(
        configuration=True,
        workspace_folders=True,
        did_change_configuration=types.DidChangeConfigurationClientCapabilities(dynamic_registration=True),
        did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(dynamic_registration=True),
    ),
    text_document=types.TextDocumentClientCapabilities(
        hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
        synchronization=types.TextDocumentSyncClientCapabilities(did_save=True),
    ),
)


def server_env(cache: Path) -> dict[str, str]:
    """The server's environment: a private index cache, offline model, one BLAS thread."""
    return {
        **os.environ,
        "RAGLS_CACHE_DIR": str(cache),
        "OPENBLAS_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }


@dataclass
class Session:
    """One running server and the client talking to it."""

    client: LanguageClient
    folders: list[Path]
    initialize_seconds: float = 0.0
    initialize_result: types.InitializeResult | None = None
    registrations: list[types.Registration] = field(default_factory=list)
    partial_results: dict[str, list[Any]] = field(default_factory=dict)  # token -> values, in order

    async def request(self, method: str, params: Any = None) -> Any:
        """A ragls request; the result as plain dicts and lists."""
        return plain(
            await self.client.protocol.send_request_async(method, params if params is not None else {})
        )

    async def raw_request(self, method: str, params: Any) -> Any:
        """Send `params` exactly as given, even where they do not fit the method's LSP type (the
        client library would refuse to encode them)."""
        protocol = self.client.protocol
        msg_id = str(uuid.uuid4())
        future: Future = Future()
        protocol._request_futures[msg_id] = future
        protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return plain(await asyncio.wrap_future(future))

    async def status(self) -> dict:
        """`ragls/status`."""
        return await self.request("ragls/status", {})

    async def search(self, query: str, limit: int = 10) -> dict:
        """`ragls/search`."""
        return await self.request("ragls/search", {"query": query, "limit": limit})

    async def wait_for(
        self, predicate: Callable[[dict], bool], timeout: float = 120.0, every: float = 0.1
    ) -> dict:
        """Poll `ragls/status` until `predicate(status)`; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            status = await self.status()
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"status never matched in {timeout:.0f}s; last: {status}")
            await asyncio.sleep(every)

    async def wait_ready(self, timeout: float = 180.0) -> dict:
        """Poll until the state is `ready`."""
        return await self.wait_for(lambda status: status["state"] == "ready", timeout)

    async def wait_for_message(self, text: str, timeout: float = 5.0) -> types.ShowMessageParams:
        """The first window/showMessage holding `text`; AssertionError after `timeout` seconds."""
        for _ in range(int(timeout / 0.05)):
            for message in self.client.messages:
                if text in message.message:
                    return message
            await asyncio.sleep(0.05)
        raise AssertionError(f"no window/showMessage with {text!r}: {self.client.messages}")

    def open(self, path: Path, text: str | None = None, version: int = 1) -> str:
        """textDocument/didOpen with the file's text (or `text`); returns the URI."""
        uri = path.as_uri()
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri,
                    language_id="python",
                    version=version,
                    text=path.read_text() if text is None else text,
                )
            )
        )
        return uri

    async def stop(self) -> None:
        """shutdown, exit, and wait for the process to end."""
        await self.client.shutdown_session()
        await self.client.stop()


def record_partial_results(session: Session) -> None:
    """Keep `$/progress` values that are partial results (no `kind`) in `session.partial_results`;
    work-done progress still goes to pytest-lsp's handler (`client.progress_reports`)."""
    features = session.client.protocol.fm.features
    work_done = features[types.PROGRESS]

    def progress(params: types.ProgressParams) -> None:
        value = plain(params.value)
        if isinstance(value, dict) and "kind" not in value:
            session.partial_results.setdefault(str(params.token), []).append(value)
        else:
            work_done(params)

    features[types.PROGRESS] = progress


def read_code_actions_faithfully(client: LanguageClient) -> None:
    """lsprotocol reads every code action that has a `command` as a Command (a CodeAction's
    command is an object, a Command's a string); tell them apart by that type instead."""
    converter = client.protocol._converter

    def structure(value: Any, _: type) -> types.Command | types.CodeAction:
        kind = types.Command if isinstance(value.get("command"), str) else types.CodeAction
        return converter.structure(value, kind)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)


def server_command(*args: str) -> list[str]:
    """`python -m ragls` with these arguments."""
    return [sys.executable, "-m", "ragls", *args]


async def start_session(
    folders: list[Path],
    cache: Path,
    options: dict | None = None,
    args: tuple[str, ...] = ("--stdio",),
    capabilities: types.ClientCapabilities = CAPABILITIES,
    settle_seconds: float = 0.0,
    env: dict[str, str] | None = None,
) -> Session:
    """Start a server, do the handshake, and time `initialize`.

    The time includes the process start and imports, unless `settle_seconds` > 0: then the
    server is given that long to start first and only the request itself is timed.
    """
    config = ClientServerConfig(server_command=server_command(*args), server_env={**server_env(cache), **(env or {})})
    started = time.monotonic()
    client = await config.start()
    if settle_seconds:
        await asyncio.sleep(settle_seconds)
        started = time.monotonic()
    session = Session(client, folders)

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams) -> None:
        session.registrations.extend(params.registrations)

    record_partial_results(session)
    read_code_actions_faithfully(client)
    session.initialize_result = await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            workspace_folders=[types.WorkspaceFolder(uri=f.as_uri(), name=f.name) for f in folders],
            initialization_options=options or {},
        )
    )
    session.initialize_seconds = time.monotonic() - started
    return session
