"""`ragls --tcp HOST:PORT`: the same server over a TCP socket."""

from __future__ import annotations

import asyncio
import json
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
        server_command("--tcp", f"127.0.0.1:{port}"), env=server_env(tmp_path / "cache"), stderr=subprocess.PIPE
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
        stderr = process.stderr.read().decode()
        assert "Traceback" not in stderr and "SystemExit" not in stderr, stderr
    finally:
        process.kill()


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def read_message(stream) -> dict:
    length = 0
    while (line := stream.readline().strip()) :
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return json.loads(stream.read(length))


def answer_to(stream, msg_id: int) -> dict:
    while "id" not in (message := read_message(stream)) or message["id"] != msg_id:
        pass
    return message


async def test_stdio_shutdown_and_exit_end_with_status_0_and_a_quiet_stderr(tmp_path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "a.py").write_text("def answer():\n    return 42\n")
    process = subprocess.Popen(
        server_command("--stdio"), env=server_env(tmp_path / "cache"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        send = lambda message: (process.stdin.write(frame(message)), process.stdin.flush())  # noqa: E731
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"capabilities": {}, "workspaceFolders": [{"uri": workspace.as_uri(), "name": "w"}]}})
        answer_to(process.stdout, 1)
        send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        # a request pygls cannot decode: its deserialisation error used to reach stderr
        send({"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover",
              "params": {"textDocument": {"uri": (workspace / "a.py").as_uri()}, "position": {"line": -1}}})
        assert answer_to(process.stdout, 2)["error"]["code"] == -32602
        for msg_id in range(3, 400):
            send({"jsonrpc": "2.0", "id": msg_id, "method": "ragls/status", "params": {}})
            if answer_to(process.stdout, msg_id)["result"]["state"] == "ready":
                break
        send({"jsonrpc": "2.0", "id": 999, "method": "shutdown"})
        answer_to(process.stdout, 999)
        send({"jsonrpc": "2.0", "method": "exit"})
        assert process.wait(timeout=30) == 0
        assert process.stderr.read().decode() == ""
    finally:
        process.kill()
