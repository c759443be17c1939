"""The setting `baseIndex` over LSP: a bundle as the read-only base of the workspace's index
(nothing embedded for an identical tree), and a bundle that cannot be used reported with
window/showMessage while the server goes on with an index of its own.

The bundle is written by the real `ragls export` in another process, as a CI job would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from lsprotocol import types

from conftest import SAMPLE_FILES, write_files
from lsp_session import start_session
from ragls.core.bundle import STORE
from ragls.core.onnx_embedding import models_dir

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]

QUERY = "Reduce a total by a percentage discount"


def user_cache(home: Path) -> Path:
    """A user cache of its own (bundles unpack there), with the exported model linked in."""
    xdg = home / "xdg"
    (xdg / "ragls").mkdir(parents=True, exist_ok=True)
    (xdg / "ragls" / "models").symlink_to(models_dir(), target_is_directory=True)
    return xdg


@pytest.fixture
def exported(tmp_path):
    """A tree exported by `ragls export` on a "CI" machine, and a developer's copy of it."""
    tree, copy = tmp_path / "ci" / "project", tmp_path / "dev" / "project"
    write_files(tree, SAMPLE_FILES)
    env = {**os.environ, "RAGLS_CACHE_DIR": str(tmp_path / "ci" / "cache"),
           "XDG_CACHE_HOME": str(user_cache(tmp_path / "ci")), "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    bundle = tmp_path / "project.ragls"
    result = subprocess.run([sys.executable, "-m", "ragls", "export", str(tree), "--out", str(bundle)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    shutil.copytree(tree, copy)
    return tmp_path, copy, bundle


async def test_a_base_in_the_workspace_folder_is_used_and_nothing_is_embedded(exported):
    base, copy, bundle = exported
    shutil.copy(bundle, copy / "team.ragls")  # a relative setting names the folder's own file
    session = await start_session([copy], base / "dev" / "cache", {"baseIndex": "team.ragls"},
                                  env={"XDG_CACHE_HOME": str(user_cache(base / "dev"))})
    try:
        status = await session.wait_ready()
        (folder,) = status["folders"]
        assert folder["base"]["file"] == str(copy / "team.ragls") and folder["baseError"] is None
        assert status["embeddedChunks"] == 0 and folder["overlayChunks"] == 0
        assert status["chunks"] == folder["base"]["functions"] > 10
        found = await session.search(QUERY)
        assert found["results"][0]["name"] == "apply_discount"
        assert found["results"][0]["uri"] == (copy / "shop/discounts.py").as_uri()

        # Symbols, hover and related read the base's chunks for the working copy's files.
        symbols = await session.client.workspace_symbol_async(types.WorkspaceSymbolParams(query="parse_coupon"))
        assert [s.name for s in symbols][:1] == ["parse_coupon_code"]
        assert symbols[0].location.uri == (copy / "shop/discounts.py").as_uri()
        cart = copy / "shop/cart.py"
        session.open(cart)
        hover = await session.client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=cart.as_uri()), position=types.Position(line=11, character=10)))
        assert "**`Cart.add_item`**" in hover.contents.value and copy.as_uri() in hover.contents.value
        related = await session.request("ragls/findRelated", {
            "textDocument": {"uri": cart.as_uri()}, "position": {"line": 11, "character": 10}, "limit": 5})
        assert related["symbol"]["name"] == "Cart.add_item" and related["results"]
        assert all(result["uri"].startswith(copy.as_uri()) for result in related["results"])
        assert "Cart.add_item" not in [result["name"] for result in related["results"]]
    finally:
        await session.stop()


async def test_a_tampered_base_is_shown_and_the_server_indexes_on_its_own(exported):
    base, copy, bundle = exported
    tampered = base / "tampered.ragls"
    data = bytearray(bundle.read_bytes())
    with tarfile.open(bundle) as archive:
        data[archive.getmember(STORE).offset_data + 4096] ^= 0xFF
    tampered.write_bytes(bytes(data))
    session = await start_session([copy], base / "dev" / "cache", {"baseIndex": str(tampered)},
                                  env={"XDG_CACHE_HOME": str(user_cache(base / "dev"))})
    try:
        shown = await session.wait_for_message("the base index is not used", timeout=120)
        assert shown.type == types.MessageType.Error and "does not match its checksum" in shown.message
        status = await session.wait_ready()
        (folder,) = status["folders"]
        assert folder["base"] is None and "does not match its checksum" in folder["baseError"]
        assert status["embeddedChunks"] == status["chunks"] > 10  # its own index, complete
        found = await session.search(QUERY)
        assert found["results"][0]["name"] == "apply_discount"
    finally:
        await session.stop()
