"""Settings end to end: invalid values are reported and replaced, a model that cannot load puts
the server in the `error` state (it keeps answering), and a configuration change fixes it.

The server runs as `ragls serve --stdio -vv --log-file FILE`, so this also checks that the log
goes to the file and never into the protocol stream.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from conftest import SAMPLE_FILES, write_files
from lsp_session import start_session

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

INVALID = {
    "model": "no-such-org/no-such-model",
    "maxFileSize": "huge",
    "device": "tpu",
    "ollama": {"host": 5},
    "bogus": True,
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def configured(tmp_path_factory):
    base = tmp_path_factory.mktemp("settings")
    root, log_file = base / "workspace", base / "server.log"
    write_files(
        root,
        {"shop/cart.py": SAMPLE_FILES["shop/cart.py"], "geo/distance.go": SAMPLE_FILES["geo/distance.go"]},
    )
    session = await start_session(
        [root], base / "cache", INVALID, args=("serve", "--stdio", "-vv", "--log-file", str(log_file))
    )
    yield session, log_file
    await session.stop()


def shown(session, kind: types.MessageType) -> list[str]:
    return [message.message for message in session.client.messages if message.type == kind]


async def test_invalid_settings_are_shown_and_replaced_by_defaults(configured):
    session, _ = configured
    status = await session.status()  # answered: the server runs with the defaults

    warnings = shown(session, types.MessageType.Warning)
    assert any('ragls.maxFileSize: expected a whole number, got the string "huge"' in m for m in warnings)
    assert any("ragls.device: expected one of auto, cpu, cuda" in m for m in warnings)
    assert any("ragls.ollama.host: expected a string, got the number 5" in m for m in warnings)
    assert any("ragls.bogus: ragls has no such setting" in m for m in warnings)
    assert status["model"] == "no-such-org/no-such-model"


async def test_a_model_that_cannot_load_is_an_error_state_not_a_crash(configured):
    session, _ = configured
    status = await session.wait_for(lambda status: status["state"] == "error", timeout=120)

    assert "cannot load embedding model 'no-such-org/no-such-model'" in status["message"]
    assert any("cannot load embedding model" in m for m in shown(session, types.MessageType.Error))
    with pytest.raises(JsonRpcException) as error:
        await session.search("shopping cart")
    assert error.value.code == -32803 and "cannot load embedding model" in error.value.message


async def test_configuration_change_is_pulled_and_applied(configured):
    session, _ = configured
    session.client.set_configuration({"ollama": {"host": "ftp://nowhere"}}, section="ragls")
    session.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))

    status = await session.wait_ready(timeout=180)  # default model now: loads, then indexes

    assert status["model"] == "sentence-transformers/all-MiniLM-L6-v2" and status["files"] == 2
    assert any(
        "ragls.ollama.host: expected an http:// or https:// URL" in m
        for m in shown(session, types.MessageType.Warning)
    )
    answer = await session.search("great circle distance", limit=1)
    assert answer["results"][0]["name"] == "geo.Haversine"


async def test_log_goes_to_the_log_file(configured):
    _, log_file = configured
    log = Path(log_file).read_text()
    assert "INFO ragls.services.worker: indexed" in log and "cannot load embedding model" in log
