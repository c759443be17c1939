"""hnsw_file: hnswlib's own file format, read, written and checked byte for byte."""

from __future__ import annotations

import hnswlib
import numpy as np
import pytest

from hnsw_helpers import random_vectors, stock_index_file
from ragls.core.hnsw_file import (
    HnswlibFormatError,
    check_hnswlib_file,
    read_hnswlib_file,
    read_hnswlib_header,
    unit_rows,
    write_hnswlib_file,
    write_hnswlib_index,
)


def test_header_fields_are_what_hnswlib_writes(tmp_path):
    path, _ = stock_index_file(tmp_path / "stock.bin", count=50, dim=8, m=4, capacity=80)
    header = read_hnswlib_header(path)
    assert header["offset_level0"] == 0
    assert header["max_elements"] == 80
    assert header["element_count"] == 50
    assert header["offset_data"] == 4 + 4 * 8  # count word + maxM0 = 2M slots
    assert header["label_offset"] == header["offset_data"] + 4 * 8
    assert header["size_data_per_element"] == header["label_offset"] + 8
    assert (header["max_m"], header["max_m0"], header["m"]) == (4, 8, 4)
    assert header["mult"] == 1 / np.log(4)
    assert header["ef_construction"] == 20
    assert header["dim"] == 8


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(space="ip"),
        dict(capacity=80, deleted=(3, 43)),
        dict(count=300, dim=16, m=6),
        dict(count=0, capacity=10),
        dict(count=1),
    ],
    ids=["cosine", "ip", "capacity-and-deleted", "larger", "empty", "single"],
)
def test_stock_file_round_trips_byte_for_byte(tmp_path, options):
    path, _ = stock_index_file(tmp_path / "stock.bin", **options)
    parts = read_hnswlib_file(path)
    write_hnswlib_file(tmp_path / "copy.bin", parts)
    assert (tmp_path / "copy.bin").read_bytes() == path.read_bytes()


def test_reader_decodes_vectors_labels_links_and_deletions(tmp_path):
    path, vectors = stock_index_file(tmp_path / "stock.bin", deleted=(13,))
    parts = read_hnswlib_file(path)
    stock = hnswlib.Index(space="cosine", dim=8)
    stock.load_index(str(path))
    assert parts.labels.tolist() == [10 * i + 3 for i in range(50)]
    assert np.array_equal(parts.vectors[2:], np.asarray(stock.get_items(parts.labels[2:].tolist())))
    np.testing.assert_allclose(parts.vectors, unit_rows(vectors), atol=1e-6)
    assert parts.deleted.tolist() == [i == 1 for i in range(50)]
    assert parts.levels[parts.entry_point] == parts.max_level == parts.levels.max()
    links = parts.links0.to_padded()
    assert ((links >= 0).sum(axis=1) > 0).all() and links.max() < 50


def test_writer_rejects_parts_hnswlib_would_misread(tmp_path):
    parts = read_hnswlib_file(stock_index_file(tmp_path / "stock.bin")[0])
    parts.labels[1] = parts.labels[0]
    with pytest.raises(HnswlibFormatError, match="unique"):
        write_hnswlib_file(tmp_path / "bad.bin", parts)
    with pytest.raises(HnswlibFormatError, match="follow"):
        write_hnswlib_index(
            tmp_path / "bad.bin", random_vectors(3, 8), [0, 1, 2],
            np.array([[-1, 1], [0, -1], [0, 1]]), [], np.zeros(3, int), 0, m=4, ef_construction=10,
        )
    with pytest.raises(HnswlibFormatError, match="past the last"):
        write_hnswlib_index(
            tmp_path / "bad.bin", random_vectors(3, 8), [0, 1, 2], np.array([[1], [7], [0]]),
            [], np.zeros(3, int), 0, m=4, ef_construction=10,
        )



@pytest.mark.parametrize("count", [0, 1, 300])
def test_check_accepts_every_file_hnswlib_writes_and_refuses_any_cut(tmp_path, count):
    path, _ = stock_index_file(tmp_path / "stock.bin", count=count, dim=16, m=6, capacity=max(count, 1))
    assert check_hnswlib_file(path)["element_count"] == count
    data = path.read_bytes()
    for size in (0, 50, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.bin").write_bytes(data[:size])
        with pytest.raises(HnswlibFormatError):
            check_hnswlib_file(tmp_path / "cut.bin")
    (tmp_path / "long.bin").write_bytes(data + b"\0")
    with pytest.raises(HnswlibFormatError):
        check_hnswlib_file(tmp_path / "long.bin")
