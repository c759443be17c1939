"""The server stays responsive while it indexes a large tree, and indexes open files first.

The workspace is a copy of 150 modules of Python's standard library (several thousand
functions: minutes of embedding on a CPU) plus one file the editor opens at once. The tests
run while the first index run is still going; the server is shut down in the middle of it.
"""

from __future__ import annotations

import asyncio
import shutil
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp_session import Session, start_session

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

STDLIB_FILES = 150
OPENED = '''def calibrate_flux_capacitor(gigawatts):
    """Tune the flux capacitor of the time machine to the given power."""
    if gigawatts < 1.21:
        raise ValueError("not enough power to travel in time")
    return {"flux": gigawatts / 1.21}
'''
DRAFT = '''def calibrate_flux_capacitor_again(power):
    """Tune the flux capacitor of the time machine to the given power."""
    if power < 1.21:
        raise ValueError("not enough power to travel in time")
    return {"flux": power / 1.21}
'''


@dataclass
class Busy:
    root: Path
    session: Session


def copy_stdlib(target: Path, count: int) -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for source in sorted(stdlib.glob("*.py"))[:count]:
        shutil.copyfile(source, target / source.name)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def busy(tmp_path_factory):
    base = tmp_path_factory.mktemp("busy")
    root = base / "workspace"
    (root / "stdlib").mkdir(parents=True)
    (root / "zz_open").mkdir()
    copy_stdlib(root / "stdlib", STDLIB_FILES)
    (root / "zz_open/flux.py").write_text(OPENED)  # last in walk order

    session = await start_session([root], base / "cache")
    session.open(root / "zz_open/flux.py")  # arrives while the model loads, before the first run
    await session.wait_for(lambda status: status["state"] == "indexing", timeout=120)
    yield Busy(root, session)
    await session.stop()


async def test_status_answers_within_a_second_all_through_indexing(busy):
    latencies, states = [], []
    for _ in range(15):
        started = time.monotonic()
        status = await busy.session.status()
        latencies.append(time.monotonic() - started)
        states.append(status["state"])
        await asyncio.sleep(0.3)

    assert set(states) == {"indexing"}
    assert max(latencies) < 1.0, latencies
    assert status["chunks"] > status["embeddedChunks"], "the run should still be going"


async def test_open_documents_are_indexed_before_the_rest(busy):
    await busy.session.wait_for(
        lambda status: status["embeddedChunks"] > 0 and status["chunks"] > 200, timeout=60
    )
    draft = busy.root / "zz_open/draft.py"  # an unsaved editor buffer
    busy.session.open(draft, DRAFT)

    answer = await busy.session.request(
        "ragls/findRelated",
        {"textDocument": {"uri": draft.as_uri()}, "position": {"line": 1, "character": 4}, "limit": 1},
    )
    status = await busy.session.status()

    # findRelated ranks by embedding only: the opened file is already embedded, although the
    # walk meets it last and thousands of standard-library functions are still waiting.
    assert answer["results"][0]["name"] == "calibrate_flux_capacitor"
    assert status["state"] == "indexing" and status["chunks"] - status["embeddedChunks"] > 100


async def test_search_answers_from_what_is_indexed_so_far_and_says_it_is_partial(busy):
    started = time.monotonic()
    answer = await busy.session.search("tune the flux capacitor of the time machine", limit=3)

    assert time.monotonic() - started < 5.0
    assert answer["partial"] is True
    assert answer["results"][0]["name"] == "calibrate_flux_capacitor"


async def test_hover_answers_promptly_during_indexing(busy):
    started = time.monotonic()
    hover = await busy.session.client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=(busy.root / "zz_open/flux.py").as_uri()),
            position=types.Position(line=0, character=8),
        )
    )

    assert time.monotonic() - started < 5.0
    assert "**`calibrate_flux_capacitor`**" in hover.contents.value
    assert "Tune the flux capacitor of the time machine" in hover.contents.value


async def test_cancel_request_is_honoured(busy):
    draft = busy.root / "zz_open/draft.py"
    busy.session.open(draft, DRAFT.replace("again", "once_more"), version=2)
    protocol = busy.session.client.protocol
    params = {"textDocument": {"uri": draft.as_uri()}, "position": {"line": 1, "character": 4}}

    pending = protocol.send_request("ragls/findRelated", params, msg_id="find-to-cancel")  # sent now
    protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="find-to-cancel"))

    with pytest.raises(JsonRpcException) as error:
        await asyncio.wait_for(asyncio.wrap_future(pending), timeout=10)
    assert error.value.code == -32800  # RequestCancelled
    assert (await busy.session.status())["state"] == "indexing"
