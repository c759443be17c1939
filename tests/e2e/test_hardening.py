"""A hostile but realistic workspace against the real server over stdio: nothing outside the
workspace, in a secret file or holding a secret reaches a hover or a prompt, and every bad request
is answered with a clear error.

One server indexes the workspace; `tests/ollama_server.py` records every prompt, so each test
can check what left the server. The tests run in file order.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from conftest import SAMPLE_FILES, write_files
from lsp_session import Session, start_session
from lsprotocol import types
from ollama_server import DEFAULT_MODEL, FakeOllama
from pygls.exceptions import JsonRpcException

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

OUTSIDE_MARKER = "OUTSIDE-MARKER-31"
ENV_MARKER = "ENV-MARKER-58"
AWS_KEY = "AKIAZ7QWERTYUIOPASDF"
PRIVATE_KEY = "MIIEowIBAAKCAQEAx1v9Qk3Zr7pLmN0OpQrStUvWxYz"
DEPLOY_SECRET = "9f8e7d6c5b4a3f2e1d0cXq"
PLANTED = "command:ragls.explain?%5B%7B%22textDocument%22%3A%7B%7D%7D%5D"
MAX_FILE_SIZE = 100_000

OUTSIDE = f'''def shell_quote(text):
    """Quote a string for a POSIX shell."""
    return "'" + text.replace("'", "'\\\\''") + "'  # {OUTSIDE_MARKER}"
'''
CONFIG = f'''def cart_tax_settings():
    """Tax rate and storage credentials used when pricing a shopping cart."""
    aws_access_key_id = "{AWS_KEY}"
    key = """-----BEGIN RSA PRIVATE KEY-----
{PRIVATE_KEY}
-----END RSA PRIVATE KEY-----"""
    return {{"tax_rate": 0.2, "key": key, "aws": aws_access_key_id}}
'''
DEPLOY = f"""#!/bin/sh
export API_SECRET={DEPLOY_SECRET}
deploy_cart_service --region eu
"""
ATTACK = f'''def price_with_coupon(total, coupon):
    """Apply a coupon to a cart total. [Explain]({PLANTED}) <{PLANTED}>"""
    return total - coupon.amount
'''
SECRET_FILES = {
    ".env.local.py": f'def leak():\n    return "{ENV_MARKER}"\n',
    "id_rsa_helper.py": f'def helper():\n    return "{ENV_MARKER}"\n',
    ".env.prod.sh": f"export TOKEN={ENV_MARKER}\n",
}


@dataclass
class World:
    root: Path
    outside: Path
    session: Session
    ollama: FakeOllama


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("hardening")
    root, outside = base / "workspace", base / "outside"
    write_files(outside, {"shlex_copy.py": OUTSIDE})
    files = {**SAMPLE_FILES, "config.py": CONFIG, "deploy.sh": DEPLOY, "coupons.py": ATTACK, **SECRET_FILES}
    files["big.py"] = "def big():\n" + "    x = 1\n" * (MAX_FILE_SIZE // 10)
    write_files(root, files)
    os.symlink(outside / "shlex_copy.py", root / "linked.py")
    os.symlink(outside, root / "linked_dir")
    ollama = FakeOllama(reply="It adds an item [1].").start()
    options = {"ollama": {"host": ollama.host, "model": DEFAULT_MODEL}, "maxFileSize": MAX_FILE_SIZE}
    session = await start_session([root], base / "cache", options)
    await session.wait_ready()
    yield World(root, outside, session, ollama)
    await session.stop()
    ollama.stop_listening()


def at(uri: str, line: int = 1, **extra) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": 4}, **extra}


def prompts(world: World) -> str:
    return json.dumps(world.ollama.bodies("/api/chat"), ensure_ascii=False)


async def hover(world: World, uri: str, line: int = 0, character: int = 5):
    return await world.session.client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=character)
        )
    )


async def refused(world: World, method: str, params: dict, match: str) -> JsonRpcException:
    with pytest.raises(JsonRpcException, match=match) as caught:
        await world.session.request(method, params)
    assert caught.value.code == -32602
    return caught.value


def outside_uris(world: World) -> list[str]:
    root_uri = world.root.as_uri()
    return [
        f"{root_uri}/../outside/shlex_copy.py",
        f"{root_uri}/%2e%2e/outside/shlex_copy.py",
        f"{root_uri}/shop/%2E%2E/../outside/shlex_copy.py",
        (world.root / "linked.py").as_uri(),
        (world.root / "linked_dir" / "shlex_copy.py").as_uri(),
    ]


# security -------------------------------------------------------------------------------------
async def test_files_outside_the_workspace_are_refused_before_they_are_read(world):
    for uri in outside_uris(world):
        await refused(world, "ragls/findRelated", at(uri), "outside")
        await refused(world, "ragls/explain", at(uri), "outside")
        assert await hover(world, uri) is None
        with pytest.raises(JsonRpcException, match="outside"):
            await world.session.client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="ragls.explain", arguments=[at(uri)])
            )
    assert OUTSIDE_MARKER not in prompts(world)


async def test_outside_files_stay_refused_when_the_editor_has_them_open(world):
    uri = outside_uris(world)[0]
    world.session.open(world.outside / "shlex_copy.py")  # opened under its own path
    world.session.client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=OUTSIDE)
        )
    )
    await refused(world, "ragls/explain", at(uri), "outside")
    await refused(world, "ragls/explain", at((world.outside / "shlex_copy.py").as_uri()), "outside every workspace folder")
    assert OUTSIDE_MARKER not in prompts(world)


async def test_secret_files_are_never_explained_even_with_unsaved_text(world):
    for name in SECRET_FILES:
        uri = world.session.open(world.root / name, f'def leak():\n    return "{ENV_MARKER}-unsaved"\n')
        await refused(world, "ragls/explain", at(uri), "secret file")
        await refused(world, "ragls/findRelated", at(uri), "secret file")
        assert await hover(world, uri, 0, 5) is None
    assert ENV_MARKER not in prompts(world)


async def test_sources_holding_secrets_are_kept_out_of_prompts_and_the_user_is_told_once(world):
    cart = (world.root / "shop/cart.py").as_uri()
    for question in ("what does it do?", "how is tax applied?"):
        answer = await world.session.request(
            "ragls/explain", at(cart, line=SAMPLE_FILES["shop/cart.py"].split("\n").index("    def total_price(self):"), question=question)
        )
        assert answer["markdown"] == world.ollama.reply
        assert all(source["uri"] != (world.root / "config.py").as_uri() for source in answer["sources"])
    sent = prompts(world)
    assert AWS_KEY not in sent and PRIVATE_KEY not in sent and DEPLOY_SECRET not in sent
    await world.session.wait_for_message("kept config.py (cart_tax_settings) out of the prompt: it holds an AWS access key")
    told = [m for m in world.session.client.messages if "kept config.py" in m.message]
    assert len(told) == 1


async def test_a_secret_in_the_explained_function_itself_is_redacted(world):
    answer = await world.session.request("ragls/explain", at((world.root / "config.py").as_uri(), line=2))
    assert answer["symbol"]["name"] == "cart_tax_settings"
    assert "«redacted»" in answer["symbol"]["preview"] and AWS_KEY not in json.dumps(answer)
    last = json.dumps(world.ollama.bodies("/api/chat")[-1], ensure_ascii=False)
    assert "«redacted»" in last and AWS_KEY not in last and PRIVATE_KEY not in last
    await world.session.wait_for_message("replaced an AWS access key, a private key in the function")


async def test_search_previews_never_show_a_secret(world):
    results = (await world.session.search("cart tax storage credentials settings", limit=20))["results"]
    config = next(result for result in results if result["name"] == "cart_tax_settings")
    assert AWS_KEY not in config["preview"] and "«redacted»" in config["preview"]
    shell = (await world.session.search("deploy the cart service API secret", limit=20))["results"]
    assert all(DEPLOY_SECRET not in result["preview"] for result in shell)


async def test_a_docstring_cannot_plant_a_command_link_in_a_hover(world):
    uri = world.session.open(world.root / "coupons.py")
    shown = (await hover(world, uri, 0, 6)).contents.value
    assert command_links(shown) == ["Explain with ragls"], shown  # only ragls' own link
    assert f"\\[Explain\\]({PLANTED})" in shown and f"\\<{PLANTED}>" in shown
    ours = shown[shown.index("[Explain with ragls](") :]
    assert "coupons.py" in ours and "%22line%22%3A%200" in ours


async def test_an_answer_cannot_plant_a_command_link_in_a_hover_either(world):
    uri = (world.root / "coupons.py").as_uri()
    world.ollama.reply = f"Click [here]({PLANTED}) or <{PLANTED}>; `a[0]` stays code."
    try:
        await world.session.request("ragls/explain", at(uri, line=0))
    finally:
        world.ollama.reply = FakeOllama().reply
    shown = (await hover(world, uri, 0, 6)).contents.value
    assert command_links(shown) in ([], ["Regenerate explanation"]), shown
    assert f"\\[here\\]({PLANTED})" in shown and "`a[0]`" in shown


def command_links(markdown: str) -> list[str]:
    """The titles of the `command:` links a Markdown renderer would make (unescaped brackets)."""
    return re.findall(r"(?<!\\)\[([^\]]*)(?<!\\)\]\(command:", markdown)


# bad requests ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "position", [{"line": -1, "character": 0}, {"line": 2**40, "character": 0}, {"line": 0}, None]
)
async def test_hover_with_an_impossible_position_is_answered_invalid_params(world, position):
    params = {"textDocument": {"uri": (world.root / "shop/cart.py").as_uri()}}
    if position is not None:
        params["position"] = position
    with pytest.raises(JsonRpcException) as caught:
        await asyncio.wait_for(world.session.raw_request("textDocument/hover", params), 10)
    assert caught.value.code == -32602 and "textDocument/hover" in caught.value.message


async def test_lone_surrogates_in_queries_and_documents_are_answered(world):
    found = await world.session.search("add an item to the cart \ud800")
    assert found["results"][0]["name"] == "Cart.add_item"
    text = SAMPLE_FILES["shop/cart.py"].replace("Put an item in the cart.", "Put an item \udc00 in the cart.")
    uri = world.session.open(world.root / "shop/cart.py", text, version=3)
    related = await world.session.request("ragls/findRelated", at(uri, line=12))
    assert related["symbol"]["name"] == "Cart.add_item" and related["results"]
    assert (await hover(world, uri, 11, 9)).contents.value.startswith("**`Cart.add_item`**")


async def test_huge_queries_are_answered_with_a_clear_error(world):
    with pytest.raises(JsonRpcException, match="too long") as caught:
        await world.session.client.workspace_symbol_async(types.WorkspaceSymbolParams(query="parse config " * 20_000))
    assert caught.value.code == -32602
    assert await world.session.client.workspace_symbol_async(types.WorkspaceSymbolParams(query="x" * 200_000)) == []
    await refused(world, "ragls/search", {"query": "cart " * 5000}, "too long")


async def test_files_over_the_size_limit_are_not_parsed_at_request_time(world):
    uri = (world.root / "big.py").as_uri()
    assert await hover(world, uri, 0, 5) is None
    await refused(world, "ragls/findRelated", at(uri, line=0), "maxFileSize")
    world.session.open(world.root / "big.py")
    await refused(world, "ragls/explain", at(uri, line=0), "maxFileSize")


# a broken Ollama --------------------------------------------------------------------------------
@pytest.mark.parametrize("garbage", ["not json at all", '{"model": "x", "unexpected": true}'])
async def test_a_line_that_is_not_ollamas_returns_the_partial_answer(world, garbage):
    world.ollama.garbage_after, world.ollama.garbage = 2, garbage
    try:
        answer = await world.session.request("ragls/explain", at((world.root / "shop/cart.py").as_uri(), line=12, regenerate=True))
    finally:
        world.ollama.garbage_after = None
    assert answer["incomplete"] is True and answer["markdown"] == "".join(world.ollama.tokens()[:2])
    await world.session.wait_for_message("is it Ollama?")


async def test_an_endless_answer_stops_at_the_answer_budget(world):
    world.ollama.endless = True
    try:
        answer = await world.session.request(
            "ragls/explain", at((world.root / "shop/cart.py").as_uri(), line=12, regenerate=True, question="forever?")
        )
    finally:
        world.ollama.endless = False
    assert answer["incomplete"] is True and answer["markdown"].startswith(world.ollama.reply)
    assert world.ollama.bodies("/api/chat")[-1]["options"]["num_predict"] == 1024
    await world.session.wait_for_message("limit of 1024 tokens")
