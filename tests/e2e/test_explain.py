"""Explaining code with the LLM, end to end: the real server over stdio, the real embedding
model and files, and `tests/ollama_server.py` standing in for Ollama over real HTTP.

One server indexes a small workspace; the tests run in file order (the last one stops the
stand-in Ollama for good).
"""

from __future__ import annotations

import asyncio
import json
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

MARKER = "MARKER-SECRET-77"
UNSAVED = "# UNSAVED-EDIT-42"
CHECKOUT = '''from shop.cart import Cart


def checkout_basket(cart, products):
    """Add every product to the cart and return the total."""
    for name, price in products:
        cart.add_item(name, price)
    return cart.total_price()
'''
CART = SAMPLE_FILES["shop/cart.py"]
EDITED_CART = CART.replace("self.items.append((name, price, quantity))", f"self.items.append((name, price, quantity))  {UNSAVED}")
ADD_ITEM_LINE = CART.split("\n").index("    def add_item(self, name, price, quantity=1):")


@dataclass
class World:
    root: Path
    session: Session
    ollama: FakeOllama
    cart_uri: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("explain")
    root = base / "workspace"
    write_files(root, {**SAMPLE_FILES, "shop/checkout.py": CHECKOUT, ".env": f"API_KEY={MARKER}\n", "secrets.pem": f"{MARKER}\n"})
    ollama = FakeOllama(reply="`add_item` appends a (name, price, quantity) tuple [1]; `checkout_basket` calls it [2].").start()
    options = {"ollama": {"host": ollama.host, "model": DEFAULT_MODEL}}
    session = await start_session([root], base / "cache", options)
    await session.wait_ready()
    cart_uri = session.open(root / "shop/cart.py", EDITED_CART)
    yield World(root, session, ollama, cart_uri)
    await session.stop()
    ollama.stop_listening()


def at_add_item(world: World, **extra) -> dict:
    return {"textDocument": {"uri": world.cart_uri}, "position": {"line": ADD_ITEM_LINE, "character": 10}, **extra}


def chat_prompts(world: World) -> list[str]:
    return [json.dumps(body) for body in world.ollama.bodies("/api/chat")]


async def explain(world: World, **extra) -> dict:
    return await world.session.request("ragls/explain", at_add_item(world, **extra))


async def hover_text(world: World) -> str:
    hover = await world.session.client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=world.cart_uri),
            position=types.Position(line=ADD_ITEM_LINE, character=10),
        )
    )
    return hover.contents.value


async def test_explain_streams_the_answer_in_order_with_its_sources(world):
    answer = await explain(world, partialResultToken="explain-1", regenerate=True)
    deltas = [value["delta"] for value in world.session.partial_results["explain-1"]]
    assert deltas == world.ollama.tokens() and len(deltas) > 5
    assert "".join(deltas) == answer["markdown"] == world.ollama.reply
    assert answer["model"] == DEFAULT_MODEL and "incomplete" not in answer
    assert answer["symbol"]["name"] == "Cart.add_item"
    names = [source["name"] for source in answer["sources"]]
    assert "checkout_basket" in names and "Cart.total_price" in names
    assert all(source["uri"].startswith("file://") and "range" in source for source in answer["sources"])


async def test_the_prompt_has_the_unsaved_text_the_related_code_and_no_secrets(world):
    (body,) = world.ollama.bodies("/api/chat")
    prompt = body["messages"][-1]["content"]
    assert UNSAVED in prompt and "shop/cart.py" in prompt and "class `Cart`" in prompt
    assert "cart.add_item(name, price)" in prompt, "the caller's code is in the prompt"
    answer_sources = (await explain(world))["sources"]  # served from the cache: no new chat
    for number, source in enumerate(answer_sources, start=1):
        assert f"[{number}] `{source['name']}`" in prompt
    assert len(world.ollama.bodies("/api/chat")) == 1
    assert body["options"]["num_ctx"] == 8192 and body["stream"] is True
    assert all(MARKER not in json.dumps(request.body) for request in world.ollama.requests)


async def test_code_actions_on_a_function_run_the_ragls_commands(world):
    actions = await code_actions(world, ADD_ITEM_LINE)
    titles = [action.title for action in actions]
    assert titles == [
        "ragls: Explain this function",
        "ragls: Ask about this function…",
        "ragls: Find related code",
        "ragls: Regenerate explanation",
    ]
    commands = [action.command.command for action in actions]
    assert commands == ["ragls.explain", "ragls.ask", "ragls.findRelated", "ragls.explain"]
    assert actions[0].command.arguments[0]["textDocument"]["uri"] == world.cart_uri
    assert actions[3].command.arguments[0]["regenerate"] is True
    assert not await code_actions(world, 0), "no actions on the module docstring"
    answer = await world.session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=actions[0].command.command, arguments=actions[0].command.arguments)
    )
    assert answer["markdown"] == world.ollama.reply and answer["cached"] is True
    with pytest.raises(JsonRpcException, match="needs a 'question'"):
        await world.session.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="ragls.ask", arguments=actions[1].command.arguments)
        )


def as_shown(markdown: str) -> str:
    """The LLM's Markdown as a hover shows it: no link can form ([1] is written \\[1\\])."""
    return markdown.replace("[", "\\[").replace("]", "\\]")


async def test_hover_shows_the_cached_explanation_until_the_function_changes(world):
    text = await hover_text(world)
    assert "**`Cart.add_item`**" in text and as_shown(world.ollama.reply) in text and "cached" in text
    world.session.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=world.cart_uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=EDITED_CART.replace("quantity))", "quantity, 0))"))],
        )
    )
    text = await hover_text(world)
    assert as_shown(world.ollama.reply) not in text and "out of date" in text and "command:ragls.explain" in text
    assert len(world.ollama.bodies("/api/chat")) == 1, "a hover never asks the LLM by default"


async def test_hover_explain_always_generates_and_off_adds_nothing(world):
    chats = len(world.ollama.bodies("/api/chat"))
    await change_settings(world, "always")
    text = await hover_until(world, lambda text: as_shown(world.ollama.reply) in text)
    assert "**`Cart.add_item`**" in text and len(world.ollama.bodies("/api/chat")) == chats + 1
    await change_settings(world, "off")
    text = await hover_until(world, lambda text: "ragls.explain" not in text and "Explanation" not in text)
    assert "**`Cart.add_item`**" in text
    await change_settings(world, "cached")
    await hover_until(world, lambda text: as_shown(world.ollama.reply) in text)


async def test_cancel_closes_the_ollama_stream_and_stops_the_deltas(world):
    world.ollama.reply, world.ollama.token_delay = " ".join(f"w{i}" for i in range(400)), 0.03
    try:
        protocol = world.session.client.protocol
        future = protocol.send_request(
            "ragls/explain", at_add_item(world, partialResultToken="cancel-1", regenerate=True), msg_id="cancel-me"
        )
        while len(world.session.partial_results.get("cancel-1", [])) < 5:
            await asyncio.sleep(0.02)
        protocol.notify("$/cancelRequest", types.CancelParams(id="cancel-me"))
        with pytest.raises(JsonRpcException) as caught:
            await asyncio.wrap_future(future)
        assert caught.value.code == -32800
        arrived = len(world.session.partial_results["cancel-1"])
        for _ in range(100):
            if world.ollama.closed_streams:
                break
            await asyncio.sleep(0.05)
        assert world.ollama.closed_streams == ["/api/chat"]
        await asyncio.sleep(0.5)
        assert len(world.session.partial_results["cancel-1"]) == arrived < 400
    finally:
        world.ollama.reply, world.ollama.token_delay = FakeOllama().reply, 0.0


async def test_mid_stream_error_returns_the_partial_text_marked_incomplete(world):
    world.ollama.fail_after = 4
    try:
        answer = await explain(world, regenerate=True, question="what if the price is negative?")
    finally:
        world.ollama.fail_after = None
    assert answer["incomplete"] is True
    assert answer["markdown"] == "".join(world.ollama.tokens()[:4])
    assert world.ollama.bodies("/api/chat")[-1]["messages"][-1]["content"].endswith("what if the price is negative?")
    await world.session.wait_for_message("incomplete")


async def test_missing_model_is_a_clear_error_naming_the_model_and_pull(world):
    context = world.ollama.models.pop(DEFAULT_MODEL)
    try:
        with pytest.raises(JsonRpcException) as caught:
            await explain(world, regenerate=True)
    finally:
        world.ollama.models[DEFAULT_MODEL] = context
    assert caught.value.code == -32803
    assert f"ollama pull {DEFAULT_MODEL}" in caught.value.message and "ragls.pullModel" in caught.value.message
    await world.session.wait_for_message(f"ollama pull {DEFAULT_MODEL}")


async def test_pull_model_reports_progress(world):
    before = set(world.session.client.progress_reports)
    answer = await world.session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ragls.pullModel", arguments=[{"model": "tinyllama:1b"}])
    )
    assert answer == {"model": "tinyllama:1b", "status": "success"}
    (token,) = set(world.session.client.progress_reports) - before
    reports = world.session.client.progress_reports[token]
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and "tinyllama:1b" in reports[0].title
    messages = [report.message for report in reports[1:-1]]
    assert messages[0] == "pulling manifest" and messages[-1] == "success"
    assert [report.percentage for report in reports[1:-1] if report.percentage is not None] == [0, 50, 100]
    assert isinstance(reports[-1], types.WorkDoneProgressEnd) and reports[-1].message == "tinyllama:1b: success"
    assert "tinyllama:1b" in world.ollama.models


async def test_ollama_down_is_a_clear_error_shown_once(world):
    host = world.ollama.host
    world.ollama.stop_listening()
    for _ in range(2):
        with pytest.raises(JsonRpcException) as caught:
            await explain(world, regenerate=True)
        assert caught.value.code == -32803
        assert f"cannot reach Ollama at {host}" in caught.value.message and "ollama serve" in caught.value.message
    await world.session.wait_for_message("cannot reach Ollama")
    await asyncio.sleep(0.3)
    shown = [m for m in world.session.client.messages if "cannot reach Ollama" in m.message]
    assert len(shown) == 1 and shown[0].type == types.MessageType.Error


async def change_settings(world: World, hover_explain: str) -> None:
    """New settings through workspace/didChangeConfiguration (the server then pulls them)."""
    settings = {"ollama": {"host": world.ollama.host, "model": DEFAULT_MODEL}, "hover": {"explain": hover_explain}}
    world.session.client.set_configuration(settings, section="ragls")
    world.session.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))


async def hover_until(world: World, wanted, timeout: float = 10.0) -> str:
    """The hover text once `wanted(text)` (the server pulls new settings in the background)."""
    for _ in range(int(timeout / 0.1)):
        text = await hover_text(world)
        if wanted(text):
            return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"the hover never matched; last: {text!r}")


async def code_actions(world: World, line: int) -> list[types.CodeAction]:
    position = types.Position(line=line, character=0)
    return await world.session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=world.cart_uri),
            range=types.Range(start=position, end=position),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
