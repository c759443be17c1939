"""The SQLite store: chunk bookkeeping, the embedding cache and the lexical index."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from ragls.core.chunk import FUNCTION, Chunk, Span
from ragls.core.store import FileState, Store, StoreCorrupt, StoreMissing
from ragls.core.terms import lexical_terms, split_identifier


def chunk(name: str, text: str, path: str = "a.py", line: int = 0) -> Chunk:
    span = Span(line, 0, line + text.count("\n"), 0)
    return Chunk(path, "python", name, FUNCTION, span, Span(line, 4, line, 4 + len(name)), f"def {name}()", "", text)


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "store.sqlite3")
    yield store
    store.close()


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("parseHTTPRequest_v2", ["parse", "http", "request", "v", "2"]),
        ("snake_case_name", ["snake", "case", "name"]),
        ("XMLParser", ["xml", "parser"]),
        ("simple", ["simple"]),
    ],
)
def test_split_identifier(word, parts):
    assert split_identifier(word) == parts


def test_lexical_terms_keep_whole_identifiers_too():
    assert lexical_terms("loadConfig(x)") == ["load", "config", "loadconfig", "x"]


def test_replace_file_adds_keeps_and_drops(store):
    state = FileState("a.py", "python", 10, 1)
    first = store.replace_file(state, {}, [chunk("one", "def one(): pass"), chunk("two", "def two(): pass", line=2)], [])
    one_id, two_id = (s.id for s in first)

    moved_two = chunk("two", "def two(): pass", line=5)
    added = store.replace_file(state, {two_id: moved_two}, [chunk("three", "def three(): pass")], [one_id])

    by_name = {s.chunk.name: s for s in store.chunks_of_file("a.py")}
    assert set(by_name) == {"two", "three"}
    assert by_name["two"].id == two_id and by_name["two"].chunk.span.start_line == 5
    assert added[0].id not in (one_id, two_id)
    assert store.lexical_search("one", 10) == []


def test_ids_are_never_reused(store):
    state = FileState("a.py", "python", 10, 1)
    (old,) = store.replace_file(state, {}, [chunk("f", "def f(): pass")], [])
    store.remove_file("a.py")
    (new,) = store.replace_file(state, {}, [chunk("f", "def f(): pass")], [])
    assert new.id > old.id


def test_embedding_cache_roundtrip_and_prune(store):
    vector = np.arange(4, dtype=np.float32)
    store.replace_file(FileState("a.py", "python", 1, 1), {}, [chunk("f", "def f(): pass")], [])
    used = chunk("f", "def f(): pass").content_hash
    store.cache_vectors("m", {used: vector, "unused": vector})

    assert np.array_equal(store.cached_vectors("m", [used])[used], vector)
    assert store.cached_vectors("other-model", [used]) == {}
    assert store.prune_vectors("m") == 1
    assert set(store.cached_vectors("m", [used, "unused"])) == {used}


def test_lexical_search_matches_identifier_parts(store):
    store.replace_file(
        FileState("a.py", "python", 1, 1),
        {},
        [chunk("load_user_config", "def load_user_config(path): ..."), chunk("render", "def render(page): ...")],
        [],
    )
    hits = store.lexical_search("how is the user config loaded", 5)
    assert [store.chunks_by_ids([i])[i].chunk.name for i, _ in hits] == ["load_user_config"]
    assert store.lexical_search("the of and", 5) == []


def test_store_from_another_schema_version_is_refused(tmp_path):
    path = tmp_path / "store.sqlite3"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreCorrupt, match="schema 999"):
        Store(path)


def test_a_file_that_is_not_sqlite_gives_a_clear_error(tmp_path):
    path = tmp_path / "store.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreCorrupt, match="is damaged"):
        Store(path)


def test_damaged_pages_fail_as_store_corrupt_wherever_they_are_read(tmp_path):
    path = tmp_path / "store.sqlite3"
    store = Store(path)
    state = FileState("a.py", "python", 1, 1)
    store.replace_file(state, {}, [chunk(f"f{i}", f"def f{i}(): return {i}" * 40, line=i) for i in range(300)], [])
    store.close()
    data = bytearray(path.read_bytes())
    data[8192:len(data) - 4096] = b"\xa5" * (len(data) - 8192 - 4096)  # keep the header page
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorrupt, match="is damaged"):
        opened = Store(path)
        opened.chunks_of_file("a.py")
        opened.lexical_search("return", 5)


def test_a_store_is_only_created_when_asked(tmp_path):
    with pytest.raises(StoreMissing):
        Store(tmp_path / "never" / "store.sqlite3", create=False)
    assert not (tmp_path / "never").exists()


def test_each_store_gets_its_own_id(tmp_path):
    first, second = Store(tmp_path / "a.sqlite3"), Store(tmp_path / "b.sqlite3")
    first_id = first.store_id
    assert len(first_id) == 32 and first_id != second.store_id
    first.close()
    assert Store(tmp_path / "a.sqlite3").store_id == first_id


def test_id_lookups_work_across_batches_of_parameters(store):
    state = FileState("a.py", "python", 1, 1)
    added = store.replace_file(state, {}, [chunk(f"f{i}", f"def f{i}(): pass", line=i) for i in range(1203)], [])
    ids = [s.id for s in added]
    asked = ids + [max(ids) + 1, max(ids) + 2]  # two ids that do not exist

    assert store.existing_ids(asked) == set(ids)
    assert set(store.chunks_by_ids(asked)) == set(ids)
    assert store.chunk_hashes(ids[600:]) == {s.id: s.chunk.content_hash for s in added[600:]}
