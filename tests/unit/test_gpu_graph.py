"""gpu_graph: exact k-NN, the neighbour heuristic, and graphs
built on the CPU that stock hnswlib loads, searches, grows and deletes from."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import hnswlib
import numpy as np
import pytest

from ragls.core import gpu_graph
from ragls.core.gpu_graph import (
    GPU_BUILD_MIN_ELEMENTS,
    GpuUnavailable,
    build_index_file,
    build_vector_index,
    connect_reverse,
    exact_knn,
    repair_reachability,
    select_neighbors,
    should_build_on_gpu,
)
from ragls.core.hnsw_file import read_hnswlib_file, read_hnswlib_header, unit_rows, write_hnswlib_index

from hnsw_helpers import random_vectors, stock_index_file
from ragls.core.vector_index import (
    MANIFEST_NAME,
    IndexCorrupt,
    IndexMeta,
    IndexMismatch,
    VectorIndex,
)

STDLIB = Path("/root/.pyenv/versions/3.11.7/lib/python3.11")
STDLIB_PACKAGES = ("json", "email", "http", "logging", "concurrent", "urllib", "importlib", "xml")
CORPUS_SIZE = 2000
QUERY_COUNT = 200
MAX_TEXT_CHARS = 400  # short texts keep embedding on a small CPU to seconds


def exact_top_labels(corpus: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Brute-force top-k rows by cosine similarity, with numpy."""
    similarities = unit_rows(queries) @ unit_rows(corpus).T
    return np.argsort(-similarities, axis=1, kind="stable")[:, :k]


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each true top-k row that was found."""
    hits = sum(len(set(a) & set(b)) for a, b in zip(found.tolist(), truth.tolist()))
    return hits / truth.size


def reachable_from(links: np.ndarray, start: int) -> np.ndarray:
    """Rows reachable from `start` following links (-1 free), as a bool mask."""
    reached = np.zeros(len(links), bool)
    reached[start] = True
    frontier = [start]
    while frontier:
        following = [int(t) for row in frontier for t in links[row] if t >= 0 and not reached[t]]
        reached[following] = True
        frontier = sorted(set(following))
    return reached


# ---------------------------------------------------------------------------- real embeddings


def stdlib_function_texts(count: int) -> list[str]:
    """Function texts from a fixed set of stdlib packages: "path function name" + the source."""
    texts: list[str] = []
    files = sorted(p for package in STDLIB_PACKAGES for p in (STDLIB / package).rglob("*.py"))
    for path in files:
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                header = f"{path.relative_to(STDLIB).as_posix()} python function {node.name}"
                texts.append(f"{header}\n{body}"[:MAX_TEXT_CHARS])
                if len(texts) == count:
                    return texts
    raise AssertionError(f"only {len(texts)} functions found under {STDLIB}")


@pytest.fixture(scope="session")
def real_vectors(request, tmp_path_factory) -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings of stdlib functions, cached in pytest's cache directory
    when it is enabled (the model is loaded only when the cache misses)."""
    texts = stdlib_function_texts(CORPUS_SIZE + QUERY_COUNT)
    digest = hashlib.blake2b("\0".join(texts).encode(), digest_size=8).hexdigest()
    pytest_cache = getattr(request.config, "cache", None)
    folder = pytest_cache.mkdir("gpu_graph_embeddings") if pytest_cache else tmp_path_factory.mktemp("embeddings")
    cache = folder / f"{digest}.npy"
    if cache.exists():
        return np.load(cache)
    embedder = request.getfixturevalue("real_embedder")
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    np.save(cache, vectors)
    return vectors


# ---------------------------------------------------------------------------- own graphs in hnswlib


def test_built_file_loads_in_stock_hnswlib_with_labels_and_vectors(tmp_path):
    vectors = random_vectors(500, 16)
    labels = np.arange(500) * 3 + 7
    report = build_index_file(tmp_path / "own.bin", vectors, labels, m=8, device="cpu")
    index = hnswlib.Index(space="cosine", dim=16)
    index.load_index(str(tmp_path / "own.bin"))
    assert report["device"] == "cpu" and report["n"] == 500 and report["seconds"]["total"] > 0
    assert sorted(index.get_ids_list()) == labels.tolist()  # it lists a hash map, unordered
    assert np.array_equal(np.asarray(index.get_items(labels.tolist())), unit_rows(vectors))
    found, distances = index.knn_query(vectors[:5], k=1)
    assert found[:, 0].tolist() == labels[:5].tolist()
    np.testing.assert_allclose(distances[:, 0], 0, atol=1e-5)


def test_built_file_round_trips_through_the_reader(tmp_path):
    vectors = random_vectors(400, 8)
    graph = gpu_graph.build_graph(vectors, m=4, device="cpu")
    path = tmp_path / "own.bin"
    write_hnswlib_index(
        path, vectors, np.arange(400), graph.links0, graph.upper_links, graph.levels,
        graph.entry_point, m=4, ef_construction=40,
    )
    parts = read_hnswlib_file(path)
    assert np.array_equal(parts.links0.to_padded(), graph.links0)
    assert len(parts.upper_links) == len(graph.upper_links) == graph.levels.max()
    for decoded, built in zip(parts.upper_links, graph.upper_links):
        assert np.array_equal(decoded.to_padded(), built)
    assert parts.entry_point == graph.entry_point and parts.ef_construction == 40
    stock = hnswlib.Index(space="cosine", dim=8)
    stock.load_index(str(path))
    stock.save_index(str(tmp_path / "resaved.bin"))
    assert (tmp_path / "resaved.bin").read_bytes() == path.read_bytes()


def test_every_element_is_reachable_on_every_level():
    vectors = random_vectors(1500, 8, seed=3)
    graph = gpu_graph.build_graph(vectors, m=4, device="cpu")
    assert graph.levels.max() >= 2
    assert reachable_from(graph.links0, graph.entry_point).all()
    for level, links in enumerate(graph.upper_links, start=1):
        members = np.flatnonzero(graph.levels >= level)
        local = np.searchsorted(members, np.where(links >= 0, links, members[0]))
        local = np.where(links >= 0, local, -1)
        assert set(links[links >= 0].tolist()) <= set(members.tolist())
        entry = int(np.searchsorted(members, graph.entry_point))
        assert reachable_from(local, entry).all()
    assert (graph.links0 >= 0).sum(axis=1).max() <= 8
    assert all(links.shape[1] <= 4 for links in graph.upper_links)


def test_loaded_index_grows_deletes_and_stays_searchable(tmp_path):
    vectors = random_vectors(600, 16, seed=1)
    build_index_file(tmp_path / "own.bin", vectors, np.arange(600), m=8, device="cpu")
    index = hnswlib.Index(space="cosine", dim=16)
    index.load_index(str(tmp_path / "own.bin"), allow_replace_deleted=True)
    index.set_ef(100)
    extra = random_vectors(200, 16, seed=2)
    index.resize_index(800)
    index.add_items(extra, np.arange(1000, 1200))
    found, _ = index.knn_query(extra[:20], k=1)
    assert found[:, 0].tolist() == list(range(1000, 1020))
    for label in range(0, 600, 2):
        index.mark_deleted(label)
    found, _ = index.knn_query(vectors[:50], k=5)
    assert not (set(found.ravel().tolist()) & set(range(0, 600, 2)))
    assert found[1::2, 0].tolist() == list(range(1, 50, 2))
    index.add_items(random_vectors(10, 16, seed=4), np.arange(2000, 2010), replace_deleted=True)
    assert index.get_current_count() == 800


def test_empty_build_loads(tmp_path):
    build_index_file(tmp_path / "empty.bin", np.zeros((0, 8), np.float32), [], m=4, device="cpu")
    index = hnswlib.Index(space="cosine", dim=8)
    index.load_index(str(tmp_path / "empty.bin"), max_elements=10)
    index.add_items(random_vectors(3, 8), [5, 6, 7])
    assert index.knn_query(random_vectors(3, 8)[:1], k=1)[0][0, 0] == 5


# ---------------------------------------------------------------------------- real embeddings


@pytest.mark.slow
def test_exact_knn_equals_brute_force_on_real_embeddings(real_vectors):
    corpus = real_vectors[:CORPUS_SIZE]
    ids, sims = exact_knn(corpus, 10, device="cpu", tile=300, key_tile=700)
    full = unit_rows(corpus) @ unit_rows(corpus).T
    np.fill_diagonal(full, -np.inf)
    truth = np.argsort(-full, axis=1, kind="stable")[:, :10]
    np.testing.assert_allclose(sims, np.take_along_axis(full, truth, axis=1), atol=1e-5)
    # Ids may differ only between ties (the stdlib holds identical functions).
    np.testing.assert_allclose(np.take_along_axis(full, ids, axis=1), sims, atol=1e-5)
    assert all(len(set(row)) == 10 for row in ids.tolist())
    assert not (ids == np.arange(CORPUS_SIZE)[:, None]).any()


def test_exact_knn_with_an_insertion_order_looks_only_at_earlier_rows():
    vectors = unit_rows(random_vectors(300, 8, seed=8))
    order = np.random.default_rng(1).permutation(300)
    rank = np.argsort(order)
    ids, sims = exact_knn(vectors, 5, order=order, tile=64, key_tile=100)
    full = vectors @ vectors.T
    for row in range(300):
        earlier = np.flatnonzero(rank < rank[row])
        best = earlier[np.argsort(-full[row, earlier], kind="stable")[:5]]
        found = ids[row][ids[row] >= 0]
        assert len(found) == min(5, rank[row])
        np.testing.assert_allclose(full[row, found], full[row, best], atol=1e-6)
        assert set(found.tolist()) <= set(earlier.tolist())
        assert np.isneginf(sims[row][ids[row] < 0]).all()


@pytest.mark.slow
def test_reduced_precision_knn_is_rescored_exactly(real_vectors):
    corpus = real_vectors[:500]
    exact_ids, exact_sims = exact_knn(corpus, 10, device="cpu")
    ids, sims = exact_knn(corpus, 10, device="cpu", precision="bf16", key_tile=128)
    np.testing.assert_allclose(sims, exact_sims, atol=1e-5)  # rescored in fp32
    full = unit_rows(corpus) @ unit_rows(corpus).T
    np.testing.assert_allclose(np.take_along_axis(full, ids, axis=1), sims, atol=1e-5)
    assert (ids == exact_ids).mean() > 0.95  # the rest are ties


@pytest.mark.slow
def test_search_quality_on_real_embeddings(tmp_path, real_vectors):
    corpus, queries = real_vectors[:CORPUS_SIZE], real_vectors[CORPUS_SIZE:]
    report = build_index_file(tmp_path / "real.bin", corpus, np.arange(CORPUS_SIZE), device="cpu")
    index = hnswlib.Index(space="cosine", dim=corpus.shape[1])
    index.load_index(str(tmp_path / "real.bin"))
    index.set_ef(256)
    found, _ = index.knn_query(queries, k=10)
    assert recall_at(found, exact_top_labels(corpus, queries, 10)) >= 0.99
    assert report["max_level"] >= 1


# ---------------------------------------------------------------------------- heuristic


def unit_circle(*degrees: float) -> np.ndarray:
    """2-d unit vectors at the given angles."""
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def test_select_neighbors_keeps_only_diverse_candidates():
    # Row 0 at 0 degrees; candidates at 10, 12, 40 and -30 degrees, most similar first.
    vectors = unit_circle(0, 10, 12, -30, 40)
    candidates = np.array([[1, 2, 3, 4]])
    sims = (vectors[candidates[0]] @ vectors[0])[None, :]
    ids, kept_sims = select_neighbors(vectors, candidates, sims, max_links=3)
    # 12 and 40 are closer to 10 than to 0; -30 is closer to 0 than to 10.
    assert ids.tolist() == [[1, 3, -1]]
    np.testing.assert_allclose(kept_sims[0, :2], sims[0, [0, 2]])
    filled, _ = select_neighbors(vectors, candidates, sims, max_links=3, keep_pruned=True)
    assert filled.tolist() == [[1, 3, 2]]
    capped, _ = select_neighbors(vectors, candidates, sims, max_links=1)
    assert capped.tolist() == [[1]]


def test_connect_reverse_adds_back_links_and_prunes_overflow():
    vectors = unit_rows(random_vectors(200, 8, seed=5))
    knn_ids, knn_sims = exact_knn(vectors, 12, normalize=False)
    forward = select_neighbors(vectors, knn_ids, knn_sims, max_links=4)
    ids, sims = connect_reverse(vectors, *forward, max_links=8)
    assert ids.shape == (200, 8)
    degree = np.bincount(np.flatnonzero(forward[0] >= 0) // 4, minlength=200)
    for row in range(200):
        links = set(ids[row][ids[row] >= 0].tolist())
        assert row not in links
        reverse = {int(r) for r in np.flatnonzero((forward[0] == row).any(axis=1))}
        wanted = set(forward[0][row][forward[0][row] >= 0].tolist()) | reverse
        if len(wanted) <= 8:
            assert links == wanted
        else:
            assert links < wanted and len(links) <= 8
        valid = ids[row] >= 0
        expected = vectors[ids[row][valid]] @ vectors[row]
        np.testing.assert_allclose(sims[row][valid], expected, atol=1e-5)
    assert degree.max() <= 4


def test_repair_links_a_cut_off_cluster():
    near = unit_circle(0, 1, 2, 3)
    far = unit_circle(180, 181, 182)
    vectors = np.concatenate([near, far])
    links = np.array([[1, 2], [0, 3], [3, -1], [2, -1], [5, -1], [6, -1], [4, -1]])
    sims = np.where(links >= 0, 0.9, -np.inf).astype(np.float32)
    candidates = np.array([[1, 2, 3, 4], [0, 2, 3, 4], [3, 1, 0, 4], [2, 1, 0, 6],
                           [5, 6, 3, 0], [4, 6, 3, 0], [3, 5, 4, 0]])
    added = repair_reachability(vectors, links, sims, 0, candidates)
    assert added == 1  # one link brings in the whole cycle 4 -> 5 -> 6 -> 4
    assert reachable_from(links, 0).all()
    # 6 goes first (a reached row is its best candidate), linked from 3, which had room.
    assert links[3].tolist() == [2, 6]


# ---------------------------------------------------------------------------- devices and adoption


def test_cuda_build_without_a_gpu_raises_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(GpuUnavailable, match="sees no CUDA device"):
        build_index_file(tmp_path / "x.bin", random_vectors(10, 4), np.arange(10), device="cuda")
    assert not (tmp_path / "x.bin").exists()


def test_should_build_on_gpu_needs_a_gpu_and_enough_vectors():
    import torch

    assert not should_build_on_gpu(10 * GPU_BUILD_MIN_ELEMENTS, "cpu")
    assert should_build_on_gpu(GPU_BUILD_MIN_ELEMENTS, "cuda")
    assert not should_build_on_gpu(GPU_BUILD_MIN_ELEMENTS - 1, "cuda")
    assert should_build_on_gpu(GPU_BUILD_MIN_ELEMENTS, "auto") == torch.cuda.is_available()


def test_build_vector_index_saves_a_directory_vector_index_loads(tmp_path):
    meta = IndexMeta(model_id="test-model", dim=16)
    vectors = random_vectors(300, 16, seed=6)
    labels = np.arange(300) + 50
    built, report = build_vector_index(tmp_path, meta, labels, vectors, m=8, device="cpu")
    assert report["seconds"]["adopt"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index-1.hnsw", "index.json"]
    index = VectorIndex.load(tmp_path, meta)
    assert index.labels() == set(labels.tolist()) == built.labels()
    assert index.search(vectors[7], 1)[0][0] == 57
    index.add([1000], random_vectors(1, 16, seed=7))
    index.delete([57])
    index.save(tmp_path)
    reloaded = VectorIndex.load(tmp_path, meta)
    assert 1000 in reloaded and 57 not in reloaded and len(reloaded) == 300


def test_from_hnsw_file_reads_graph_parameters_and_rejects_another_dimension(tmp_path):
    path, _ = stock_index_file(tmp_path / "stock.bin", count=40, dim=8, m=6)
    index = VectorIndex.from_hnsw_file(path, IndexMeta(model_id="x", dim=8), ef_search=50)
    assert len(index) == 40 and index.ef_search == 50
    index.save(tmp_path / "saved")
    manifest = json.loads((tmp_path / "saved" / MANIFEST_NAME).read_text())
    assert (manifest["m"], manifest["ef_construction"], manifest["count"]) == (6, 20, 40)
    with pytest.raises(IndexMismatch, match="dim 8"):
        VectorIndex.from_hnsw_file(path, IndexMeta(model_id="x", dim=16))


def test_from_hnsw_file_rejects_a_label_held_twice(tmp_path):
    path, _ = stock_index_file(tmp_path / "stock.bin", count=40, dim=8, m=6)
    header = read_hnswlib_header(path)
    raw = bytearray(path.read_bytes())
    second_label = 96 + header["size_data_per_element"] + header["label_offset"]
    raw[second_label : second_label + 8] = (3).to_bytes(8, "little")  # the first element's label
    path.write_bytes(bytes(raw))
    with pytest.raises(IndexCorrupt, match="twice"):
        VectorIndex.from_hnsw_file(path, IndexMeta(model_id="x", dim=8))


def heuristic_one_row(
    vectors: np.ndarray, row: int, candidates: list[int], max_links: int
) -> list[int]:
    """hnswlib's getNeighborsByHeuristic2 for one row, literally: candidates closest first."""
    kept: list[int] = []
    for candidate in candidates:
        if len(kept) == max_links:
            break
        to_row = vectors[candidate] @ vectors[row]
        if all(vectors[candidate] @ vectors[other] <= to_row for other in kept):
            kept.append(candidate)
    return kept


def test_select_neighbors_matches_the_heuristic_applied_row_by_row():
    vectors = unit_rows(random_vectors(400, 6, seed=9))
    knn_ids, knn_sims = exact_knn(vectors, 40, normalize=False)
    knn_ids[::7, 30:] = -1  # some rows with fewer candidates
    knn_sims[::7, 30:] = -np.inf
    ids, _ = select_neighbors(vectors, knn_ids, knn_sims, max_links=8, batch=64)
    for row in range(400):
        candidates = [int(c) for c in knn_ids[row] if c >= 0]
        expected = heuristic_one_row(vectors, row, candidates, 8)
        assert ids[row][ids[row] >= 0].tolist() == expected


def test_build_rejects_bad_input_before_building(tmp_path):
    vectors = random_vectors(4, 8)
    with pytest.raises(ValueError, match="unique"):
        build_index_file(tmp_path / "x.bin", vectors, [1, 2, 2, 3], device="cpu")
    with pytest.raises(ValueError, match="non-negative"):
        build_index_file(tmp_path / "x.bin", vectors, [1, 2, -3, 4], device="cpu")
    with pytest.raises(ValueError, match="finite"):
        build_index_file(tmp_path / "x.bin", vectors * np.nan, [1, 2, 3, 4], device="cpu")
    with pytest.raises(ValueError, match="at least 2"):
        build_index_file(tmp_path / "x.bin", vectors, [1, 2, 3, 4], m=1, device="cpu")
    assert not (tmp_path / "x.bin").exists()


def test_inner_product_space_stores_vectors_as_given(tmp_path):
    vectors = unit_rows(random_vectors(200, 8, seed=10)) * 0.5
    build_index_file(tmp_path / "ip.bin", vectors, np.arange(200), m=4, device="cpu", space="ip")
    index = hnswlib.Index(space="ip", dim=8)
    index.load_index(str(tmp_path / "ip.bin"))
    assert np.array_equal(np.asarray(index.get_items(list(range(200)))), vectors)
    index.set_ef(50)
    found, _ = index.knn_query(vectors[:10] * 2, k=1)
    assert found[:, 0].tolist() == list(range(10))


def test_levels_follow_hnswlib_distribution():
    levels = gpu_graph.assign_levels(200_000, 16, seed=1)
    for level in (1, 2, 3):
        assert np.mean(levels >= level) == pytest.approx(16.0**-level, rel=0.1)
