"""`ragls --tcp HOST:PORT`: the same server over a TCP socket."""

from __future__ import annotations

import asyncio
import socket
import subprocess

import pytest
from lsprotocol import types
from pytest_lsp import make_test_lsp_client

from lsp_session import CAPABILITIES, plain, server_command, server_env

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def connect(client, port: int, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.1)):
        try:
            await client.start_tcp("127.0.0.1", port)
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


async def test_tcp_server_answers_and_exits_cleanly(tmp_path):
    (tmp_path / "workspace").mkdir()
    port = free_port()
    process = subprocess.Popen(
        server_command("--tcp", f"127.0.0.1:{port}"), env=server_env(tmp_path / "cache")
    )
    try:
        client = make_test_lsp_client()
        await connect(client, port)
        await client.initialize_session(
            types.InitializeParams(
                capabilities=CAPABILITIES,
                workspace_folders=[
                    types.WorkspaceFolder(uri=(tmp_path / "workspace").as_uri(), name="workspace")
                ],
            )
        )
        status = plain(await client.protocol.send_request_async("ragls/status", {}))
        assert status["roots"] == [(tmp_path / "workspace").as_uri()]

        await client.shutdown_session()
        assert process.wait(timeout=30) == 0
        await client.stop()
    finally:
        process.kill()
