"""VectorIndex: search correctness against brute force, label bookkeeping, and safe persistence."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ragls.core.vector_index import (
    MANIFEST_NAME,
    IndexCorrupt,
    IndexLoadError,
    IndexMeta,
    IndexMismatch,
    VectorIndex,
)

DIM = 32
META = IndexMeta(model_id="test-model", dim=DIM)
SAVER_PATH = Path(__file__).with_name("vector_index_saver.py")


def unit_vectors(count: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    """Random rows of unit length."""
    rows = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def filled_index(count: int, seed: int = 0, **options: int) -> tuple[VectorIndex, np.ndarray]:
    """An index holding `count` random vectors under labels 0..count-1."""
    vectors = unit_vectors(count, seed)
    index = VectorIndex.create(META, **options)
    index.add(list(range(count)), vectors)
    return index, vectors


def exact_neighbours(
    vectors: np.ndarray, labels: list[int], query: np.ndarray, k: int
) -> list[int]:
    """Brute-force top-k labels by cosine similarity."""
    similarities = vectors @ (query / np.linalg.norm(query))
    return [labels[i] for i in np.argsort(-similarities)[:k]]


def data_file(directory: Path) -> Path:
    """The data file the manifest points at."""
    return directory / json.loads((directory / MANIFEST_NAME).read_text())["data_file"]


def load_saver_module():
    """The crash-test child module, for its step arithmetic."""
    spec = importlib.util.spec_from_file_location("vector_index_saver", SAVER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------- search


def test_search_matches_brute_force_on_small_random_data():
    index, vectors = filled_index(500)
    queries = unit_vectors(50, seed=1)
    hits = 0
    for query in queries:
        found = [label for label, _ in index.search(query, 10)]
        hits += len(set(found) & set(exact_neighbours(vectors, list(range(500)), query, 10)))
    assert hits / (50 * 10) >= 0.99


def test_every_vector_finds_itself_first_with_similarity_one():
    index, vectors = filled_index(300)
    for label in range(0, 300, 7):
        best_label, similarity = index.search(vectors[label], 1)[0]
        assert best_label == label
        assert similarity == pytest.approx(1.0, abs=1e-5)


def test_results_are_ordered_best_first_with_cosine_similarities():
    index, vectors = filled_index(200)
    query = unit_vectors(1, seed=5)[0] * 3.0  # unnormalized on purpose: cosine ignores length
    results = index.search(query, 20)
    similarities = [similarity for _, similarity in results]
    assert similarities == sorted(similarities, reverse=True)
    for label, similarity in results:
        assert similarity == pytest.approx(float(vectors[label] @ (query / 3.0)), abs=1e-5)


def test_empty_index_returns_no_results():
    index = VectorIndex.create(META)
    assert index.search(unit_vectors(1)[0], 5) == []
    assert len(index) == 0 and index.labels() == set()


def test_k_larger_than_count_returns_every_live_label():
    index, vectors = filled_index(7)
    index.delete([3])
    assert {label for label, _ in index.search(vectors[0], 50)} == {0, 1, 2, 4, 5, 6}


def test_exclude_is_never_returned_and_k_results_still_come_back():
    index, vectors = filled_index(200)
    nearest = [label for label, _ in index.search(vectors[0], 30)]
    excluded = set(nearest[:20])
    results = index.search(vectors[0], 10, exclude=excluded)
    assert len(results) == 10
    assert not excluded & {label for label, _ in results}


def test_exclude_of_almost_everything_returns_what_is_left():
    index, vectors = filled_index(50)
    results = index.search(vectors[0], 10, exclude=set(range(47)) | {999})
    assert sorted(label for label, _ in results) == [47, 48, 49]


class GraphSearchFindingTooFew:
    """Wraps an hnswlib index so that its graph search fails the way it does when it finds < k."""

    def __init__(self, hnsw):
        self._hnsw = hnsw

    def knn_query(self, *_args, **_kwargs):
        raise RuntimeError("Cannot return the results in a contiguous 2D array")

    def __getattr__(self, name):
        return getattr(self._hnsw, name)


def test_search_falls_back_to_an_exact_scan_when_the_graph_search_finds_too_few():
    index, vectors = filled_index(100)
    index.delete(range(50))
    query = unit_vectors(1, seed=6)[0]
    live = list(range(50, 100))
    nearest = exact_neighbours(vectors[50:], live, query, 6)
    expected = [label for label in nearest if label != 77][:5]
    index._hnsw = GraphSearchFindingTooFew(index._hnsw)
    results = index.search(query, 5, exclude={77})
    assert [label for label, _ in results] == expected
    for label, similarity in results:
        assert similarity == pytest.approx(float(vectors[label] @ query), abs=1e-5)


def test_search_rejects_vectors_of_the_wrong_length():
    index, _ = filled_index(5)
    with pytest.raises(ValueError):
        index.search(np.ones(DIM + 1, dtype=np.float32), 3)


# ---------------------------------------------------------------------------- changes


def test_re_adding_a_label_replaces_its_vector():
    index, vectors = filled_index(100)
    replacement = unit_vectors(1, seed=42)
    index.add([5], replacement)
    assert len(index) == 100
    assert index.search(replacement[0], 1)[0][0] == 5
    assert 5 not in [label for label, _ in index.search(vectors[5], 3)]


def test_a_label_given_twice_in_one_call_keeps_its_last_vector():
    index = VectorIndex.create(META)
    rows = unit_vectors(2, seed=9)
    index.add([1, 1], rows)
    assert len(index) == 1
    assert index.search(rows[1], 1)[0][1] == pytest.approx(1.0, abs=1e-5)


def test_deleted_labels_are_never_returned():
    index, vectors = filled_index(300)
    deleted = set(range(0, 300, 2))
    index.delete(deleted | {10_000})  # an unknown label is ignored
    assert len(index) == 150 and index.labels() == set(range(1, 300, 2))
    for label in range(0, 300, 10):
        results = index.search(vectors[label], 10)
        assert len(results) == 10
        assert not deleted & {found for found, _ in results}
    assert 0 not in index and 1 in index


def test_deleted_label_can_be_added_again():
    index, vectors = filled_index(50)
    index.delete([7])
    index.add([7], vectors[7:8])
    assert 7 in index and len(index) == 50
    assert index.search(vectors[7], 1)[0][0] == 7


def test_deleted_slots_are_reused_instead_of_growing():
    index, _ = filled_index(64, capacity=64)
    index.delete(range(32))
    index.add(list(range(100, 132)), unit_vectors(32, seed=3))
    assert index.capacity == 64
    assert len(index) == 64
    assert index.labels() == set(range(32, 64)) | set(range(100, 132))


def test_reused_slots_answer_for_their_new_labels_only():
    index, _ = filled_index(40, capacity=40)
    index.delete(range(20))
    newcomers = unit_vectors(20, seed=11)
    index.add(list(range(500, 520)), newcomers)
    for offset, vector in enumerate(newcomers):
        results = index.search(vector, 40)
        assert results[0][0] == 500 + offset
        assert all(label >= 20 for label, _ in results)


def test_capacity_grows_once_reused_slots_are_used_up(tmp_path):
    index, _ = filled_index(32, capacity=32)
    index.delete(range(16))
    index.add(list(range(100, 116)), unit_vectors(16, seed=3))
    index.add([200], unit_vectors(1, seed=4))
    assert index.capacity == 64
    index.save(tmp_path)
    expected = set(range(16, 32)) | set(range(100, 116)) | {200}
    assert VectorIndex.load(tmp_path, META).labels() == expected


def test_partial_reuse_keeps_the_remaining_deleted_slots_usable(tmp_path):
    index, _ = filled_index(40, capacity=40)
    index.delete(range(20))
    index.add(list(range(100, 105)), unit_vectors(5, seed=3))
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, META)
    assert loaded.labels() == set(range(20, 40)) | set(range(100, 105))
    loaded.add(list(range(200, 215)), unit_vectors(15, seed=4))
    assert loaded.capacity == 40 and len(loaded) == 40
    assert not set(range(20)) & {label for label, _ in loaded.search(unit_vectors(1)[0], 40)}


def test_capacity_doubles_when_full():
    index, vectors = filled_index(100, capacity=16)
    assert index.capacity == 128
    assert len(index) == 100
    assert index.search(vectors[99], 1)[0][0] == 99


def test_add_rejects_mismatched_shapes_and_negative_labels():
    index = VectorIndex.create(META)
    with pytest.raises(ValueError):
        index.add([1, 2], unit_vectors(3))
    with pytest.raises(ValueError):
        index.add([1], unit_vectors(1, dim=DIM + 1))
    with pytest.raises(ValueError):
        index.add([-1], unit_vectors(1))
    assert len(index) == 0


# ---------------------------------------------------------------------------- persistence


def test_save_and_load_round_trip_gives_the_same_results(tmp_path):
    index, vectors = filled_index(400, ef_search=80)
    index.delete(range(0, 400, 5))
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, META)
    assert loaded.labels() == index.labels()
    assert loaded.ef_search == 80
    for query in unit_vectors(20, seed=2):
        assert loaded.search(query, 10) == index.search(query, 10)


def test_loaded_index_keeps_deletions_and_reuses_their_slots(tmp_path):
    index, _ = filled_index(32, capacity=32)
    index.delete(range(16))
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, META)
    loaded.add(list(range(100, 116)), unit_vectors(16, seed=4))
    assert loaded.capacity == 32
    assert loaded.labels() == set(range(16, 32)) | set(range(100, 116))


def test_empty_index_round_trips(tmp_path):
    VectorIndex.create(META).save(tmp_path)
    loaded = VectorIndex.load(tmp_path, META)
    assert len(loaded) == 0
    loaded.add([1], unit_vectors(1))
    assert loaded.search(unit_vectors(1)[0], 3)[0][0] == 1


def test_save_leaves_one_generation_and_other_files_alone(tmp_path):
    (tmp_path / "store.sqlite").write_bytes(b"not ours")
    index, _ = filled_index(20)
    for _ in range(3):
        index.save(tmp_path)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["index-3.hnsw", MANIFEST_NAME, "store.sqlite"]


@pytest.mark.parametrize(
    "other",
    [
        IndexMeta(model_id="other-model", dim=DIM),
        IndexMeta(model_id="test-model", dim=DIM * 2),
        IndexMeta(model_id="test-model", dim=DIM, space="ip"),
        IndexMeta(model_id="test-model", dim=DIM, format_version=999),
    ],
)
def test_load_for_other_meta_raises_mismatch(tmp_path, other):
    filled_index(10)[0].save(tmp_path)
    with pytest.raises(IndexMismatch):
        VectorIndex.load(tmp_path, other)


def test_load_errors_share_the_base_callers_catch():
    assert issubclass(IndexMismatch, IndexLoadError)
    assert issubclass(IndexCorrupt, IndexLoadError)


def test_missing_index_is_corrupt(tmp_path):
    with pytest.raises(IndexCorrupt, match="no index"):
        VectorIndex.load(tmp_path, META)


def test_missing_data_file_is_corrupt(tmp_path):
    filled_index(10)[0].save(tmp_path)
    data_file(tmp_path).unlink()
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(tmp_path, META)


def test_truncated_data_file_is_corrupt(tmp_path):
    filled_index(100)[0].save(tmp_path)
    path = data_file(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(IndexCorrupt, match="bytes"):
        VectorIndex.load(tmp_path, META)


def test_flipped_byte_is_corrupt(tmp_path):
    filled_index(100)[0].save(tmp_path)
    path = data_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="checksum"):
        VectorIndex.load(tmp_path, META)


def test_data_file_that_hnswlib_cannot_read_is_corrupt_even_with_a_matching_checksum(tmp_path):
    filled_index(100)[0].save(tmp_path)
    path = data_file(tmp_path)
    path.write_bytes(path.read_bytes()[:40])
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    manifest["data_size"] = 40
    manifest["data_blake2b"] = hashlib.blake2b(path.read_bytes()).hexdigest()
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(tmp_path, META)


@pytest.mark.parametrize(
    "manifest_bytes",
    [
        b"",
        b"{not json",
        b"[1, 2]",
        b"\xff\xfe",
        b'{"format_version": 1}',
        b'{"format_version": "1"}',
    ],
)
def test_garbage_manifest_is_corrupt(tmp_path, manifest_bytes):
    filled_index(10)[0].save(tmp_path)
    (tmp_path / MANIFEST_NAME).write_bytes(manifest_bytes)
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(tmp_path, META)


@pytest.mark.parametrize(
    "field, value",
    [("data_file", "../elsewhere.hnsw"), ("count", 3), ("deleted", [12345]), ("dim", "32")],
)
def test_manifest_that_disagrees_with_the_data_is_corrupt(tmp_path, field, value):
    filled_index(10)[0].save(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    manifest[field] = value
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(tmp_path, META)


def test_crash_leftovers_are_ignored_by_load_and_removed_by_the_next_save(tmp_path):
    index, vectors = filled_index(30)
    index.save(tmp_path)  # generation 1 is committed
    # What a save killed at each stage leaves behind: a half-written data file, a renamed but
    # uncommitted data file of a later generation, and a half-written manifest.
    (tmp_path / "index-2.hnsw.tmp").write_bytes(b"half a data file")
    (tmp_path / "index-3.hnsw").write_bytes(b"renamed, never committed")
    (tmp_path / "index.json.tmp").write_bytes(b'{"format_ver')
    (tmp_path / "store.sqlite").write_bytes(b"not ours")
    loaded = VectorIndex.load(tmp_path, META)
    assert loaded.labels() == set(range(30))
    loaded.save(tmp_path)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["index-4.hnsw", MANIFEST_NAME, "store.sqlite"]
    assert VectorIndex.load(tmp_path, META).search(vectors[3], 1)[0][0] == 3


def test_save_failing_before_the_commit_keeps_the_previous_index(tmp_path, monkeypatch):
    index, _ = filled_index(30)
    index.save(tmp_path)
    index.add(list(range(30, 60)), unit_vectors(30, seed=8))

    def crash(*_args, **_kwargs):
        raise OSError("disk full")

    import ragls.core.vector_index as module

    monkeypatch.setattr(module, "_write_json_atomically", crash)
    with pytest.raises(OSError):
        index.save(tmp_path)
    assert len(VectorIndex.load(tmp_path, META)) == 30


FULL_DISK_SAVER = """
import resource, signal, sys
from pathlib import Path
import numpy as np
from ragls.core.vector_index import IndexMeta, VectorIndex

directory, limit = Path(sys.argv[1]), int(sys.argv[2])
meta = IndexMeta(model_id="test-model", dim=int(sys.argv[3]))
index = VectorIndex.load(directory, meta)
rows = np.random.default_rng(9).standard_normal((2000, meta.dim)).astype(np.float32)
index.add(list(range(10_000, 12_000)), rows)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    index.save(directory)
except OSError as exc:
    print("refused:", exc)
"""


def test_a_save_cut_short_by_a_full_disk_fails_and_keeps_the_previous_index(tmp_path):
    index, vectors = filled_index(200)
    index.save(tmp_path)
    old_file = data_file(tmp_path)
    limit = old_file.stat().st_size + 10_000  # the new file (2,200 vectors) cannot fit
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK_SAVER, str(tmp_path), str(limit), str(DIM)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.stdout.startswith("refused:") and "could not be written whole" in result.stdout, result
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([old_file.name, MANIFEST_NAME])
    loaded = VectorIndex.load(tmp_path, META)
    assert len(loaded) == 200 and loaded.search(vectors[7], 1)[0][0] == 7


# ---------------------------------------------------------------------------- crash safety


def start_saver(directory: Path) -> tuple[subprocess.Popen[str], int | None]:
    """Start the saving child and wait until it has loaded and is about to loop.

    Returns the child and the step it found saved on disk (None when it found no index): a
    previous child may have committed a save and been killed before it could print "saved".
    """
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    server_dir = str(Path(__file__).resolve().parents[2] / "server")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [server_dir, env.get("PYTHONPATH")]))
    child = subprocess.Popen(
        [sys.executable, str(SAVER_PATH), str(directory)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    word, first_step = child.stdout.readline().split()
    assert word == "ready"
    return child, (int(first_step) - 1 if int(first_step) > 0 else None)


def kill_and_collect(child: subprocess.Popen[str]) -> tuple[int | None, int | None]:
    """SIGKILL the child; return its last saved step and the step it was saving, if any."""
    child.send_signal(signal.SIGKILL)
    output, _ = child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    last_saved = in_flight = None
    for word, step in zip(output.split()[::2], output.split()[1::2]):
        if word == "saving":
            in_flight = int(step)
        elif word == "saved":
            last_saved, in_flight = int(step), None
    return last_saved, in_flight


def test_index_survives_sigkill_at_random_moments_during_save_loops(tmp_path):
    saver = load_saver_module()
    chooser = random.Random(1234)
    last_saved: int | None = None
    kills_during_save = 0
    for _ in range(15):
        child, found_on_disk = start_saver(tmp_path)
        last_saved = found_on_disk if found_on_disk is not None else last_saved
        time.sleep(chooser.uniform(0.02, 0.4))
        saved, in_flight = kill_and_collect(child)
        last_saved = saved if saved is not None else last_saved
        kills_during_save += in_flight is not None
        acceptable = {step for step in (last_saved, in_flight) if step is not None}
        try:
            loaded = VectorIndex.load(tmp_path, saver.META)
        except IndexCorrupt:
            assert last_saved is None, "a fully saved index became unloadable"
            continue
        steps = [step for step in acceptable if loaded.labels() == saver.expected_labels(step)]
        assert steps, f"loaded {len(loaded)} labels, matching none of steps {acceptable}"
        newest = max(loaded.labels())
        assert loaded.search(saver.vectors_of_step(steps[0])[-1], 1)[0][0] == newest
    assert last_saved is not None and last_saved >= 5, "the children never got far enough"
    # About half the kills land inside a save on a typical machine; none would test nothing.
    assert kills_during_save >= 1
    loaded = VectorIndex.load(tmp_path, saver.META)
    loaded.save(tmp_path)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert len(names) == 2 and MANIFEST_NAME in names, names
