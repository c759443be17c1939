"""The language server end to end: a real `ragls --stdio` process, the real model, real files.

One server indexes a small multi-language workspace once; the tests then run in file order
against it (read-only ones first, then the ones that edit, delete and add files), and the last
one restarts the server on the same cache to show that a warm start embeds nothing.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from conftest import SAMPLE_FILES, write_files
from lsp_session import Session, start_session
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from ragls.core.chunking import chunk_source

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

ORDERS = '''"""Orders of the shop."""


def order_total(lines):
    """Sum the price of every order line."""
    return sum(line.price * line.quantity for line in lines)


def cancel_order(order):
    """Mark an order as cancelled."""
    order.status = "cancelled"
'''

EXTRA_FILES = {
    "shop/orders.py": ORDERS,
    "legacy/fax.py": '''def send_fax_to_printer(number, document):
    """Dial a fax machine and transmit a scanned document."""
    return {"dialed": number, "pages": len(document)}
''',
    "ui/menu.ts": """/** Open the navigation drawer when the hamburger button is clicked. */
export function toggleNavigationDrawer(open: boolean): boolean {
  return !open;
}
""",
}


@dataclass
class World:
    """The shared server and what the fixture saw while it started."""

    root: Path
    cache: Path
    session: Session
    status_at_start: dict
    states_seen: list[str] = field(default_factory=list)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("lsp")
    root, cache = base / "workspace", base / "cache"
    write_files(root, {**SAMPLE_FILES, **EXTRA_FILES})
    session = await start_session([root], cache, {"debounceMs": 400}, args=("--stdio", "-v"))
    status_at_start = await session.status()
    states = [status_at_start["state"]]
    await session.wait_for(
        lambda status: states.append(status["state"]) or status["state"] == "ready", every=0.05
    )
    world = World(root, cache, session, status_at_start, states)
    yield world
    await world.session.stop()


def uri(world: World, rel: str) -> str:
    return (world.root / rel).as_uri()


def names(results: list[dict]) -> list[str]:
    return [result["name"] for result in results]


async def find_related(world: World, rel: str, line: int, character: int = 4, limit: int = 5) -> dict:
    params = {
        "textDocument": {"uri": uri(world, rel)},
        "position": {"line": line, "character": character},
        "limit": limit,
    }
    return await world.session.request("ragls/findRelated", params)


# start-up -------------------------------------------------------------------------------------
async def test_initialize_answers_at_once_without_loading_the_model(world):
    # process start and imports included; the model and torch would take several seconds more
    assert world.session.initialize_seconds < 2.0
    assert world.status_at_start["state"] == "starting"
    assert world.status_at_start["device"] == "", "the model must not be loaded by the handshake"
    assert world.session.initialize_result.capabilities.position_encoding == types.PositionEncodingKind.Utf16


async def test_status_goes_from_starting_through_indexing_to_ready(world):
    seen = [state for i, state in enumerate(world.states_seen) if i == 0 or state != world.states_seen[i - 1]]
    assert seen == ["starting", "indexing", "ready"]
    status = await world.session.status()
    assert status["roots"] == [world.root.as_uri()]
    assert status["files"] == len(SAMPLE_FILES) + len(EXTRA_FILES)
    assert status["embeddedChunks"] == status["chunks"] > 10
    assert status["pendingFiles"] == 0 and status["device"] == "cpu"
    assert status["model"] == "sentence-transformers/all-MiniLM-L6-v2"


async def test_indexing_reports_work_done_progress(world):
    ((token, reports),) = world.session.client.progress_reports.items()
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and "indexing workspace" in reports[0].title
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    assert reports[-1].message.startswith(f"{len(SAMPLE_FILES) + len(EXTRA_FILES)} files")
    middle = reports[1:-1]
    assert any(re.fullmatch(r"\d+/8 files read", report.message) for report in middle)
    assert any(re.fullmatch(r"\d+/\d+ functions embedded", report.message) for report in middle)
    percentages = [report.percentage for report in middle]
    assert percentages == sorted(percentages) and percentages[-1] == 100


async def test_file_watcher_and_configuration_section_are_registered(world):
    by_method = {registration.method: registration for registration in world.session.registrations}
    watcher = by_method[types.WORKSPACE_DID_CHANGE_WATCHED_FILES].register_options
    assert watcher["watchers"] == [{"globPattern": "**/*"}]
    assert by_method[types.WORKSPACE_DID_CHANGE_CONFIGURATION].register_options == {"section": "ragls"}


# queries --------------------------------------------------------------------------------------
async def test_search_finds_the_function_with_lsp_ranges(world):
    answer = await world.session.search("add an item to the shopping cart", limit=3)

    assert answer["partial"] is False
    top = answer["results"][0]
    assert top["name"] == "Cart.add_item" and top["uri"] == uri(world, "shop/cart.py")
    assert top["range"] == {"start": {"line": 11, "character": 4}, "end": {"line": 13, "character": 50}}
    assert top["selectionRange"] == {
        "start": {"line": 11, "character": 8},
        "end": {"line": 11, "character": 16},
    }
    assert top["kind"] == "method" and top["language"] == "python" and 0 < top["score"] <= 1
    assert top["preview"].startswith("def add_item(self, name, price, quantity=1):")


async def test_search_across_languages(world):
    answer = await world.session.search("open the navigation menu drawer", limit=3)
    assert answer["results"][0]["name"] == "toggleNavigationDrawer"
    assert answer["results"][0]["language"] == "typescript"


async def test_search_command_answers_like_the_request(world):
    params = {"query": "great circle distance between two points", "limit": 2}
    by_command = await world.session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ragls.search", arguments=[params])
    )
    assert by_command["results"][0]["name"] == "geo.Haversine"
    assert by_command == await world.session.request("ragls/search", params)


async def test_find_related_at_a_position(world):
    answer = await find_related(world, "shop/discounts.py", line=2)  # inside apply_discount

    assert answer["symbol"]["name"] == "apply_discount"
    assert answer["symbol"]["range"]["start"] == {"line": 0, "character": 0}
    assert "score" not in answer["symbol"]
    assert answer["results"] and "apply_discount" not in names(answer["results"])
    assert all(
        a["score"] >= b["score"] for a, b in zip(answer["results"], answer["results"][1:], strict=False)
    )
    by_command = await world.session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="ragls.findRelated",
            arguments=[
                {
                    "textDocument": {"uri": uri(world, "shop/discounts.py")},
                    "position": {"line": 2, "character": 4},
                    "limit": 5,
                }
            ],
        )
    )
    assert by_command == answer


async def test_find_related_reads_the_unsaved_editor_text(world):
    path = world.root / "legacy/fax.py"
    unsaved = (
        path.read_text()
        + '''

def compute_cart_discount(cart, percent):
    """Apply a percentage discount to the total price of a shopping cart."""
    return cart.total_price() * (100 - percent) / 100
'''
    )
    world.session.open(path, unsaved)
    answer = await find_related(world, "legacy/fax.py", line=6)

    assert answer["symbol"]["name"] == "compute_cart_discount"  # exists only in the editor
    assert {"apply_discount", "Cart.total_price"} & set(names(answer["results"][:3]))


async def test_hover_on_a_function_name_shows_signature_docstring_and_related_links(world):
    path = world.root / "shop/cart.py"
    world.session.open(path)
    hover = await world.session.client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri()),
            position=types.Position(line=11, character=10),
        )
    )

    text = hover.contents.value
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert "**`Cart.add_item`**" in text and "def add_item(self, name, price, quantity=1)" in text
    assert "Put an item in the cart." in text
    links = re.findall(r"\[([^\]]+)\]\((file://[^)#]+)#L(\d+)\)", text)
    assert len(links) == 3 and all(link[1].startswith(world.root.as_uri()) for link in links)
    assert hover.range.start == types.Position(line=11, character=8)


async def test_no_hover_away_from_function_names(world):
    hover = await world.session.client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri(world, "shop/cart.py")),
            position=types.Position(line=13, character=20),  # inside a body
        )
    )
    assert hover is None


async def test_workspace_symbol_by_name_then_by_meaning(world):
    client = world.session.client
    by_name = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="total"))
    assert [symbol.name for symbol in by_name][:2] == ["order_total", "Cart.total_price"]
    assert by_name[0].kind == types.SymbolKind.Function and by_name[0].container_name == "shop/orders.py"

    by_meaning = await client.workspace_symbol_async(
        types.WorkspaceSymbolParams(query="send a document by fax")
    )
    assert by_meaning[0].name == "send_fax_to_printer"
    assert by_meaning[0].location.uri == uri(world, "legacy/fax.py")


# bad requests ---------------------------------------------------------------------------------
def outside_file(world: World) -> Path:
    path = world.root.parent / "elsewhere.py"
    path.write_text("def stray():\n    return 1\n")
    return path


BAD_REQUESTS = [
    ("ragls/search", lambda w: {"query": "   "}, "the query is empty"),
    ("ragls/search", lambda w: {"query": 42}, "'query' must be a string"),
    (
        "ragls/search",
        lambda w: {"query": "cart", "limit": 0},
        "'limit' must be a whole number from 1 to 1000",
    ),
    ("ragls/search", lambda w: [1, 2], "params must be an object"),
    (
        "ragls/findRelated",
        lambda w: {
            "textDocument": {"uri": uri(w, "shop/nothing.py")},
            "position": {"line": 0, "character": 0},
        },
        "unknown document",
    ),
    (
        "ragls/findRelated",
        lambda w: {
            "textDocument": {"uri": uri(w, "shop/cart.py")},
            "position": {"line": 400, "character": 0},
        },
        "line 400 is past the end",
    ),
    (
        "ragls/findRelated",
        lambda w: {"textDocument": {"uri": uri(w, "shop/cart.py")}, "position": {"line": 0, "character": 99}},
        "character 99 is past the end of line 0",
    ),
    (
        "ragls/findRelated",
        lambda w: {
            "textDocument": {"uri": outside_file(w).as_uri()},
            "position": {"line": 0, "character": 0},
        },
        "is outside every workspace folder",
    ),
    (
        "ragls/findRelated",
        lambda w: {"position": {"line": 0, "character": 0}},
        "'textDocument' must be an object",
    ),
    (
        "ragls/findRelated",
        lambda w: {"textDocument": {"uri": "untitled:1"}, "position": {"line": 0, "character": 0}},
        "only file: URIs",
    ),
]


@pytest.mark.parametrize(("method", "make_params", "message"), BAD_REQUESTS)
async def test_bad_params_answer_a_clear_error(world, method, make_params, message):
    with pytest.raises(JsonRpcException) as error:
        await world.session.client.protocol.send_request_async(method, make_params(world))

    assert error.value.code == -32602 and message in error.value.message
    assert (await world.session.status())["state"] == "ready"  # still serving


async def test_bad_command_arguments_answer_a_clear_error(world):
    with pytest.raises(JsonRpcException) as error:
        await world.session.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="ragls.findRelated", arguments=[])
        )
    assert error.value.code == -32602 and "takes one argument" in error.value.message


# changes --------------------------------------------------------------------------------------
async def test_saved_edit_is_searchable_and_embeds_only_changed_functions(world):
    path = world.root / "shop/orders.py"
    before = await world.session.status()
    edited = (
        ORDERS.replace(
            '    order.status = "cancelled"\n', '    order.status = "cancelled"\n    order.refund()\n'
        )
        + '''

def schedule_delivery_slot(order, day):
    """Book a delivery time window for an order on the given day."""
    order.delivery = day
'''
    )
    old_hashes = {c.content_hash for c in chunk_source("shop/orders.py", ORDERS.encode(), "python")}
    changed = [
        c.name
        for c in chunk_source("shop/orders.py", edited.encode(), "python")
        if c.content_hash not in old_hashes
    ]
    assert sorted(changed) == ["cancel_order", "schedule_delivery_slot"]

    path.write_text(edited)
    world.session.client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=path.as_uri()))
    )
    after = await world.session.wait_for(
        lambda status: status["state"] == "ready" and status["embeddedChunks"] > before["embeddedChunks"],
        timeout=60,
    )

    assert after["embeddedChunks"] - before["embeddedChunks"] == len(changed)
    answer = await world.session.search("book a delivery time window", limit=3)
    assert answer["results"][0]["name"] == "schedule_delivery_slot"


async def test_a_burst_of_saves_is_indexed_in_one_update(world):
    session = world.session
    logged = len(session.client.log_messages)
    paths = [world.root / "shop/discounts.py", world.root / "geo/distance.go", world.root / "text/words.rs"]
    for path in paths:
        path.write_text(path.read_text() + "\n")
        session.client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=path.as_uri()))
        )
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    await session.wait_ready(timeout=60)

    updates = [
        m.message
        for m in session.client.log_messages[logged:]
        if re.search(r"updated \d+ files of", m.message)
    ]
    assert len(updates) == 1 and "updated 3 files of" in updates[0], updates


async def test_files_changed_outside_the_editor_are_picked_up_and_deleted_ones_leave(world):
    deleted, created = world.root / "legacy/fax.py", world.root / "legacy/modem.py"
    before = await world.session.wait_ready()
    deleted.unlink()
    created.write_text(
        'def dial_up_modem(number):\n    """Connect to the internet over a telephone line."""\n'
    )
    world.session.client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[
                types.FileEvent(uri=deleted.as_uri(), type=types.FileChangeType.Deleted),
                types.FileEvent(uri=created.as_uri(), type=types.FileChangeType.Created),
            ]
        )
    )
    after = await world.session.wait_for(
        lambda status: status["state"] == "ready" and status["embeddedChunks"] > before["embeddedChunks"],
        timeout=60,
    )

    assert after["files"] == before["files"] and after["embeddedChunks"] == before["embeddedChunks"] + 1
    answer = await world.session.search("send a document by fax", limit=5)
    assert "send_fax_to_printer" not in names(answer["results"])
    answer = await world.session.search("connect to the internet over a telephone line", limit=1)
    assert answer["results"][0]["name"] == "dial_up_modem"


async def test_workspace_folders_can_be_added_and_removed(world):
    extra = world.root.parent / "second"
    greeter = 'class Greeter\n  # Say hello to someone by name.\n  def hello(name)\n    "hello #{name}"\n  end\nend\n'
    write_files(extra, {"lib/greeter.rb": greeter})
    folder = types.WorkspaceFolder(uri=extra.as_uri(), name="second")
    client = world.session.client

    client.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(
            event=types.WorkspaceFoldersChangeEvent(added=[folder], removed=[])
        )
    )
    await world.session.wait_for(
        lambda status: len(status["roots"]) == 2 and status["state"] == "ready", timeout=60
    )
    answer = await world.session.search("greet a person by saying hello", limit=1)
    assert answer["results"][0]["name"] == "Greeter#hello"
    assert answer["results"][0]["uri"] == (extra / "lib/greeter.rb").as_uri()

    client.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(
            event=types.WorkspaceFoldersChangeEvent(added=[], removed=[folder])
        )
    )
    await world.session.wait_for(lambda status: status["roots"] == [world.root.as_uri()], timeout=30)
    answer = await world.session.search("greet a person by saying hello", limit=5)
    assert "Greeter#hello" not in names(answer["results"])


async def test_a_folder_inside_another_is_indexed_once(world):
    before = await world.session.wait_ready()
    nested = world.root / "shop"
    folder = types.WorkspaceFolder(uri=nested.as_uri(), name="shop")
    client = world.session.client

    def change(added, removed):
        client.workspace_did_change_workspace_folders(
            types.DidChangeWorkspaceFoldersParams(
                event=types.WorkspaceFoldersChangeEvent(added=added, removed=removed)
            )
        )

    async def add_item_results() -> list[dict]:
        answer = await world.session.search("put an item in the shopping cart", limit=20)
        return [r for r in answer["results"] if r["name"] == "Cart.add_item"]

    change([folder], [])
    both = await world.session.wait_for(
        lambda status: len(status["roots"]) == 2 and status["state"] == "ready", timeout=60
    )
    # The outer folder left shop/ to its own index: no file or function counts twice.
    assert (both["files"], both["chunks"]) == (before["files"], before["chunks"])
    found = await add_item_results()
    assert [r["uri"] for r in found] == [(nested / "cart.py").as_uri()]

    change([], [folder])
    after = await world.session.wait_for(
        lambda status: status["roots"] == [world.root.as_uri()] and status["state"] == "ready", timeout=60
    )
    # Without the nested folder, the outer one indexes shop/ again.
    assert (after["files"], after["chunks"]) == (before["files"], before["chunks"])
    assert len(await add_item_results()) == 1


async def test_reindex_command_rechecks_every_folder_and_embeds_nothing_new(world):
    before = await world.session.wait_ready()
    answer = await world.session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ragls.reindex")
    )

    assert answer["roots"] == [world.root.as_uri()]
    after = await world.session.wait_ready(timeout=60)
    assert after["embeddedChunks"] == before["embeddedChunks"] and after["files"] == before["files"]


# restart --------------------------------------------------------------------------------------
async def test_warm_restart_uses_the_index_on_disk_and_embeds_nothing(world):
    expected = await world.session.wait_ready()
    await world.session.stop()
    world.session = await start_session([world.root], world.cache, {"debounceMs": 400})

    status = await world.session.wait_ready()

    assert status["embeddedChunks"] == 0
    assert (status["files"], status["chunks"]) == (expected["files"], expected["chunks"])
    answer = await world.session.search("book a delivery time window", limit=1)
    assert answer["results"][0]["name"] == "schedule_delivery_slot" and answer["partial"] is False
