"""The whole engine on real files: real grammars, the real model, real hnswlib and SQLite."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from conftest import SAMPLE_FILES, CountingEmbedder
from ragls.core.embedding import SentenceTransformerEmbedder
from ragls.core.indexer import Indexer
from ragls.core.retrieval import Retriever
from ragls.core.run import IndexCancelled, RunContext
from ragls.core.settings import EngineSettings


def make_indexer(root: Path, cache_dir: Path, embedder, **settings) -> Indexer:
    return Indexer(root, EngineSettings(cache_dir=str(cache_dir), **settings), embedder=embedder)


def names(indexer: Indexer) -> set[str]:
    return {stored.chunk.name for stored in indexer.store.iter_chunks()}


def test_cold_index_embeds_every_chunk_once_and_finds_functions(sample_root, cache_dir, embedder):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    report = indexer.index_all()

    assert report.files == len(SAMPLE_FILES)
    assert {"Cart.add_item", "Cart.total_price", "apply_discount", "fetchJson", "retryWithBackoff",
            "geo.Haversine", "word_frequencies"} <= names(indexer)
    unique_hashes = {s.chunk.content_hash for s in indexer.store.iter_chunks()}
    assert report.embedded == len(unique_hashes) == len(embedder.texts)
    assert len(indexer.vector_index()) == report.chunks
    # the embedded text carries the path and qualified name as context
    assert any(t.startswith("shop/cart.py python method Cart.total_price") for t in embedder.texts)


def test_unchanged_reindex_embeds_nothing_even_in_a_new_process(sample_root, cache_dir, embedder, real_embedder):
    make_indexer(sample_root, cache_dir, embedder).index_all()

    fresh = CountingEmbedder(SentenceTransformerEmbedder(device="cpu"))  # never loaded
    again = make_indexer(sample_root, cache_dir, fresh)
    report = again.index_all()

    assert report.embedded == 0 and fresh.texts == []
    assert report.files_changed == 0
    assert not fresh.inner.loaded, "a no-change re-index must not even load the model"
    assert len(again.vector_index()) == report.chunks > 0


def test_editing_one_function_embeds_only_that_function(sample_root, cache_dir, embedder):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    indexer.index_all()
    before = len(embedder.texts)
    cart = sample_root / "shop/cart.py"
    # Change one body and shift every line below it: moved but unchanged functions keep their vectors.
    cart.write_text(cart.read_text().replace(
        "        self.items.append((name, price, quantity))",
        "        # keep insertion order\n        self.items.append((name, price, max(quantity, 1)))",
    ))

    report = indexer.update_files([cart])

    assert report.embedded == 1
    assert embedder.texts[before:][0].startswith("shop/cart.py python method Cart.add_item")
    total = next(s for s in indexer.store.chunks_of_file("shop/cart.py") if s.chunk.name == "Cart.total_price")
    assert total.chunk.span.start_line == 16  # shifted by the inserted comment line


def test_search_reflects_a_new_function_after_update(sample_root, cache_dir, embedder):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    indexer.index_all()
    retriever = Retriever(indexer)
    discounts = sample_root / "shop/discounts.py"
    discounts.write_text(discounts.read_text() + '''

def convert_celsius_to_fahrenheit(celsius):
    """Temperature conversion."""
    return celsius * 9 / 5 + 32
''')
    indexer.update_files([discounts])

    hits = retriever.search("convert a temperature from celsius to fahrenheit", limit=3)
    assert hits[0].chunk.name == "convert_celsius_to_fahrenheit"


@pytest.mark.parametrize("ranking", ["dense", "lexical", "hybrid"])
def test_each_ranking_finds_the_obvious_function(sample_root, cache_dir, embedder, ranking):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    indexer.index_all()

    hits = Retriever(indexer).search("great circle distance between two coordinates haversine", ranking=ranking)

    assert hits and hits[0].chunk.name == "geo.Haversine"
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_deleted_file_leaves_the_index(sample_root, cache_dir, embedder):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    indexer.index_all()
    go_ids = {s.id for s in indexer.store.chunks_of_file("geo/distance.go")}
    (sample_root / "geo/distance.go").unlink()

    report = indexer.update_files([sample_root / "geo/distance.go"])

    assert report.files_removed == 1 and report.embedded == 0
    assert indexer.store.chunks_of_file("geo/distance.go") == []
    assert not (go_ids & indexer.vector_index().labels())
    hits = Retriever(indexer).search("great circle distance haversine", limit=20)
    assert all(hit.chunk.path != "geo/distance.go" for hit in hits)


def test_full_reindex_notices_deleted_and_new_files(sample_root, cache_dir, embedder):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    indexer.index_all()
    (sample_root / "text/words.rs").unlink()
    (sample_root / "text/greet.rb").write_text("class Greeter\n  def hello(name)\n    \"hi #{name}\"\n  end\nend\n")

    report = indexer.index_all()

    assert report.files_removed == 1 and report.files_changed == 1
    assert "word_frequencies" not in names(indexer)
    assert "Greeter#hello" in names(indexer)


def test_moved_file_reuses_cached_vectors(sample_root, cache_dir, embedder):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    indexer.index_all()
    old, new = sample_root / "shop/discounts.py", sample_root / "billing/discounts.py"
    new.parent.mkdir()
    shutil.move(old, new)

    report = indexer.update_files([old, new])

    assert report.embedded == 0 and report.cache_hits > 0
    assert {s.chunk.path for s in indexer.store.iter_chunks() if s.chunk.name == "apply_discount"} == {
        "billing/discounts.py"
    }


def test_file_that_becomes_binary_is_dropped(sample_root, cache_dir, embedder):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    indexer.index_all()
    (sample_root / "shop/discounts.py").write_bytes(b"\x00\x01\x02binary" * 100)

    indexer.update_files(["shop/discounts.py"])

    assert indexer.store.chunks_of_file("shop/discounts.py") == []


def test_corrupt_index_is_rebuilt_from_cache_without_embedding(sample_root, cache_dir, embedder):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    indexer.index_all()
    indexer.close()
    data_files = list(indexer.cache_dir.glob("index-*.hnsw"))
    assert data_files
    for path in data_files:
        path.write_bytes(path.read_bytes()[:100])  # truncated, as after a crash or a full disk

    reopened = make_indexer(sample_root, cache_dir, CountingEmbedder(embedder.inner))
    hits = Retriever(reopened, ranking="lexical").search("haversine")
    report = reopened.index_all()

    assert hits[0].chunk.name == "geo.Haversine"
    assert report.index_rebuilt and report.embedded == 0 and report.cache_hits == report.chunks
    assert len(reopened.vector_index()) == report.chunks


def test_missing_index_is_rebuilt_from_cache(sample_root, cache_dir, embedder):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    indexer.index_all()
    indexer.close()
    for path in indexer.cache_dir.glob("index*"):
        path.unlink()

    report = make_indexer(sample_root, cache_dir, embedder).index_all()

    assert report.index_rebuilt and report.embedded == 0


def test_model_change_re_embeds_everything(sample_root, cache_dir, embedder, tmp_path):
    first = make_indexer(sample_root, cache_dir, embedder)
    first.index_all()
    unique_hashes = {s.chunk.content_hash for s in first.store.iter_chunks()}
    first.close()
    # The same weights under another path are another model as far as the cache knows.
    other_model = tmp_path / "my-model"
    shutil.copytree(embedder.inner.spec.source, other_model)
    other = CountingEmbedder(SentenceTransformerEmbedder(str(other_model), device="cpu"))

    report = make_indexer(sample_root, cache_dir, other, model=str(other_model)).index_all()

    assert report.index_rebuilt and report.cache_hits == 0
    assert len(other.texts) == report.embedded == len(unique_hashes)


def test_cancelled_run_keeps_what_was_embedded(sample_root, cache_dir, embedder):
    cancel = threading.Event()
    indexer = make_indexer(sample_root, cache_dir, embedder)

    def stop_when_embedding(progress):
        if progress.phase == "embedding":
            cancel.set()

    with pytest.raises(IndexCancelled):
        indexer.index_all(RunContext(cancel, stop_when_embedding))
    report = make_indexer(sample_root, cache_dir, embedder).index_all()

    unique_hashes = {s.chunk.content_hash for s in indexer.store.iter_chunks()}
    assert report.files_changed == 0  # every file was parsed before the cancel
    assert report.embedded == len(unique_hashes)  # nothing was embedded before the first batch


def test_corrupt_store_is_set_aside_and_rebuilt(sample_root, cache_dir, embedder):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    indexer.index_all()
    indexer.close()
    (indexer.cache_dir / "store.sqlite3").write_bytes(b"garbage" * 1000)
    for extra in indexer.cache_dir.glob("store.sqlite3-*"):
        extra.unlink()

    report = make_indexer(sample_root, cache_dir, embedder).index_all()

    assert report.files == len(SAMPLE_FILES) and report.chunks > 0
    assert list(indexer.cache_dir.glob("store.sqlite3.broken-*"))


def test_folder_events_cover_the_files_under_them(sample_root, cache_dir, embedder):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    indexer.index_all()
    shutil.rmtree(sample_root / "shop")
    (sample_root / "lib/new").mkdir(parents=True)
    (sample_root / "lib/new/util.py").write_text("def brand_new_helper():\n    return 42\n")

    report = indexer.update_files([sample_root / "shop", sample_root / "lib"])

    assert report.files_removed == 2 and report.files_changed == 1
    assert not any(s.chunk.path.startswith("shop/") for s in indexer.store.iter_chunks())
    assert "brand_new_helper" in names(indexer)


def test_deferred_saves_write_the_index_only_when_old_enough(sample_root, cache_dir, embedder):
    indexer = make_indexer(sample_root, cache_dir, embedder)
    indexer.index_all()
    manifest = indexer.cache_dir / "index.json"
    saved = manifest.read_text()
    discounts = sample_root / "shop/discounts.py"
    discounts.write_text(discounts.read_text() + "\n\ndef noop_helper():\n    return None\n")

    indexer.update_files([discounts], save=False)
    indexer.save_index(older_than=60)
    assert manifest.read_text() == saved  # the change is seconds old: not written yet

    indexer.save_index()
    assert manifest.read_text() != saved
    reopened = make_indexer(sample_root, cache_dir, CountingEmbedder(embedder.inner))
    assert len(reopened.vector_index()) == reopened.store.chunk_count()


def test_a_rebuild_forced_onto_the_graph_builder_gives_an_index_stock_hnswlib_searches(tmp_path, cache_dir, embedder, caplog):
    """The torch graph builder (ragls.core.gpu_graph), reached through the indexer's own rebuild
    of a lost index, on the CPU: stock hnswlib loads the file and finds what exact search finds."""
    import os

    import hnswlib
    import numpy as np

    from ragls.core.indexer import GraphBuild
    from ragls.core.vector_index import MANIFEST_NAME

    stdlib = Path(os.__file__).parent
    root = tmp_path / "code"
    for package in ("logging", "json", "concurrent"):
        shutil.copytree(stdlib / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    first = make_indexer(root, cache_dir, embedder)
    first.index_all()
    first.close()
    for path in first.cache_dir.glob("index*"):
        path.unlink()

    rebuilt = Indexer(root, EngineSettings(cache_dir=str(cache_dir)), embedder=embedder, graph_build=GraphBuild("cpu", 0))
    with caplog.at_level("INFO", logger="ragls.core.indexer"):
        report = rebuilt.index_all()
    assert "with the graph builder on cpu" in caplog.text
    assert report.index_rebuilt and report.embedded == 0 and report.cache_hits == report.chunks > 300

    manifest = json.loads((rebuilt.cache_dir / MANIFEST_NAME).read_text())
    stock = hnswlib.Index(space="cosine", dim=manifest["dim"])
    stock.load_index(str(rebuilt.cache_dir / manifest["data_file"]))
    stock.set_ef(manifest["ef_search"])
    hashes = rebuilt.store.chunk_hashes()
    cached = rebuilt.store.cached_vectors(rebuilt.model_id, hashes.values())
    labels = np.array(sorted(hashes))
    vectors = np.stack([cached[hashes[i]] for i in labels])
    rng = np.random.default_rng(0)
    queries = vectors[rng.choice(len(vectors), 100, replace=False)] + rng.normal(0, 0.05, (100, vectors.shape[1]))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = labels[np.argsort(-(queries @ vectors.T), axis=1)[:, :10]]
    found, _ = stock.knn_query(queries.astype(np.float32), k=10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.tolist(), exact.tolist())])
    assert recall >= 0.99, recall
    assert stock.element_count == len(labels) == report.chunks


def test_a_document_prompt_re_embeds_everything_and_a_query_prompt_nothing(sample_root, cache_dir, embedder):
    first = make_indexer(sample_root, cache_dir, embedder).index_all()
    query_prompted = CountingEmbedder(SentenceTransformerEmbedder(device="cpu", query_prompt="query: "))
    assert make_indexer(sample_root, cache_dir, query_prompted).index_all().embedded == 0
    document_prompted = CountingEmbedder(SentenceTransformerEmbedder(device="cpu", document_prompt="passage: "))
    report = make_indexer(sample_root, cache_dir, document_prompted).index_all()
    assert report.embedded == first.embedded > 0 and report.index_rebuilt
