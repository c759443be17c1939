"""The services the server and the CLI share, on real files with the real model: related code
from the editor's text, and the one status shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SAMPLE_FILES
from ragls.core.settings import EngineSettings
from ragls.services.engine import Engine
from ragls.services.errors import OutsideRootsError
from ragls.services.worker import READY


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from conftest import write_files

    base = tmp_path_factory.mktemp("services")
    root = base / "workspace"
    write_files(root, SAMPLE_FILES)
    engine = Engine(EngineSettings(cache_dir=str(base / "cache"), device="cpu"), model_on_demand=True)
    engine.start([root], preload_model=False)
    assert engine.wait_until_idle().state == READY
    yield engine, root
    engine.close()


def related_at(engine: Engine, path: Path, line: int, limit: int = 5):
    return engine.queries.related(path, engine.read_document(path, None), line, limit)


def test_related_returns_the_function_at_the_line_and_excludes_it(engine):
    engine, root = engine
    outcome = related_at(engine, root / "shop/cart.py", 18)  # inside Cart.total_price
    assert outcome.symbol is not None and outcome.symbol.chunk.name == "Cart.total_price"
    assert len(outcome.results) == 5
    assert all(found.chunk.name != "Cart.total_price" for found in outcome.results)


def test_related_works_on_unsaved_text(engine):
    engine, root = engine
    text = SAMPLE_FILES["shop/cart.py"] + "\n\ndef empty_the_cart(cart):\n    cart.items.clear()\n"
    lines = text.split("\n")
    outcome = engine.queries.related(root / "shop/cart.py", text, len(lines) - 2, 3)
    assert outcome.symbol.chunk.name == "empty_the_cart" and len(outcome.results) == 3


def test_related_outside_any_chunk_or_any_folder(engine):
    engine, root = engine
    assert related_at(engine, root / "shop/cart.py", 500).symbol is None
    with pytest.raises(OutsideRootsError):
        related_at(engine, root.parent / "elsewhere.py", 1)


def test_status_counts_every_folder_with_its_last_run(engine):
    engine, root = engine
    status = engine.status()
    assert status.state == READY and status.roots == [root]
    (folder,) = status.folders
    assert folder.files == status.files == len(SAMPLE_FILES) and folder.chunks == status.chunks > 10
    assert folder.last_run["embedded"] == status.embedded_chunks and folder.last_run["device"] == "cpu"
    assert folder.index_bytes > 0 and folder.cache_dir.is_dir()
