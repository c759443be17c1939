"""hnswlib's own on-disk index format (0.8): read, write and check files byte for byte.

ragls.core.vector_index checks a file hnswlib wrote before trusting it (a full disk leaves it
short); ragls.core.gpu_graph writes the graphs it builds in this format for stock hnswlib to load.

hnswlib 0.8 file layout, all little-endian, as `saveIndex` writes it (verified field by field
against files hnswlib wrote; `read_hnswlib_file` and the tests check it):

    header, 96 bytes: size_t offsetLevel0 (0), size_t max_elements (capacity), size_t
        element_count, size_t size_data_per_element, size_t label_offset, size_t offset_data,
        int32 max_level (-1 when empty), uint32 entry_point (0xFFFFFFFF when empty), size_t maxM,
        size_t maxM0, size_t M, double mult (1/ln M), size_t ef_construction (max(ef_c, M))
    level 0, element_count records of size_data_per_element bytes:
        uint16 link count, uint8 flags (bit 0: marked deleted), uint8 zero,
        maxM0 x uint32 neighbour ids (slots past the count hold stale ids, never read),
        dim x float32 vector (unit length in the cosine space), uint64 label
    upper levels, for each element in order: uint32 byte size of its block (0 for level 0),
        then for each level 1..L: uint16 link count, 2 zero bytes, maxM x uint32 neighbour ids
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SPACES = ("cosine", "ip")

_HEADER = struct.Struct("<QQQQQQiIQQQdQ")
_EMPTY_ENTRY_POINT = 0xFFFFFFFF
_DELETED_FLAG = 0x01
_WRITE_ROWS = 1 << 16  # level-0 records assembled per write, to bound memory


class HnswlibFormatError(ValueError):
    """A file is not an hnswlib 0.8 index of the expected shape, or parts cannot be written."""


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit length (zero rows stay zero), as hnswlib stores cosine data."""
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)


@dataclass
class LinkLists:
    """Neighbour lists as hnswlib stores them: a count per list and a fixed number of slots,
    of which only the first `count` are meaningful."""

    counts: np.ndarray  # (rows,) uint16
    slots: np.ndarray  # (rows, width) uint32

    @classmethod
    def from_padded(cls, padded: np.ndarray, width: int) -> LinkLists:
        """Lists from (rows, <= width) ids with -1 in free slots, which must come last."""
        padded = _as_rows(padded)
        if padded.shape[1] > width:
            raise HnswlibFormatError(f"link lists {padded.shape[1]} wide, at most {width} allowed")
        used = padded >= 0
        counts = used.sum(axis=1)
        if not np.array_equal(used, np.arange(padded.shape[1]) < counts[:, None]):
            raise HnswlibFormatError("free slots (-1) must follow the links in every list")
        slots = np.zeros((len(padded), width), np.uint32)
        slots[:, : padded.shape[1]] = np.where(used, padded, 0)
        return cls(counts.astype(np.uint16), slots)

    def to_padded(self) -> np.ndarray:
        """(rows, width) int64 ids with -1 in free slots."""
        width = self.slots.shape[1]
        used = np.arange(width) < self.counts[:, None].astype(np.int64)
        return np.where(used, self.slots.astype(np.int64), -1)


def _as_rows(padded: np.ndarray) -> np.ndarray:
    """Link lists as a 2-d int64 array, even when there are no rows or no columns."""
    array = np.asarray(padded, dtype=np.int64)
    return array.reshape(len(array), -1) if array.size else array.reshape(len(array), 0)


@dataclass
class HnswlibParts:
    """Everything an hnswlib 0.8 index file holds, decoded."""

    max_elements: int
    max_level: int
    entry_point: int  # 0xFFFFFFFF in an empty index
    max_m: int
    max_m0: int
    m: int
    mult: float
    ef_construction: int
    vectors: np.ndarray  # (n, dim) float32, as stored
    labels: np.ndarray  # (n,) uint64
    deleted: np.ndarray  # (n,) bool
    links0: LinkLists
    levels: np.ndarray  # (n,) int64
    upper_links: list[LinkLists]  # per level 1..max_level, rows = elements with level >= l

    @property
    def dim(self) -> int:
        """Vector length."""
        return self.vectors.shape[1]


def read_hnswlib_header(path: Path) -> dict[str, Any]:
    """The 96-byte header of an hnswlib 0.8 index file as a dict, with `dim` derived from it."""
    with open(path, "rb") as file:
        raw = file.read(_HEADER.size)
    if len(raw) < _HEADER.size:
        raise HnswlibFormatError(f"{path} is too short for an hnswlib header")
    names = (
        "offset_level0", "max_elements", "element_count", "size_data_per_element",
        "label_offset", "offset_data", "max_level", "entry_point", "max_m", "max_m0", "m",
        "mult", "ef_construction",
    )
    header = dict(zip(names, _HEADER.unpack(raw)))
    header["dim"] = (header["label_offset"] - header["offset_data"]) // 4
    return header


def check_hnswlib_file(path: Path) -> dict[str, Any]:
    """The header of a complete hnswlib 0.8 file; HnswlibFormatError when the file is shorter or
    longer than its header says (a write cut short by a full disk), or laid out otherwise.

    Reads the per-element block sizes of the upper levels, not the vectors.
    """
    header = read_hnswlib_header(path)
    record = _record_dtype(header["max_m0"], header["dim"])
    if header["size_data_per_element"] != record.itemsize or header["dim"] <= 0:
        raise HnswlibFormatError(f"unexpected record layout in {path}")
    size = Path(path).stat().st_size
    offset = _HEADER.size + header["element_count"] * record.itemsize
    list_bytes = 4 + 4 * header["max_m"]
    with open(path, "rb") as file:
        for _ in range(header["element_count"]):
            file.seek(offset)
            raw = file.read(4)
            if len(raw) < 4:
                raise HnswlibFormatError(f"{path} is cut short: {size} bytes")
            (block,) = struct.unpack("<I", raw)
            if block % list_bytes:
                raise HnswlibFormatError(f"an upper-level block of {block} bytes in {path}")
            offset += 4 + block
    if offset != size:
        raise HnswlibFormatError(f"{path} has {size} bytes, its header describes {offset}")
    return header


def _record_dtype(max_m0: int, dim: int) -> np.dtype:
    """One level-0 record: link count, flags, links, vector, label (packed, no padding)."""
    return np.dtype([
        ("count", "<u2"), ("flags", "u1"), ("spare", "u1"), ("links", "<u4", (max_m0,)),
        ("vector", "<f4", (dim,)), ("label", "<u8"),
    ])


def read_hnswlib_file(path: Path) -> HnswlibParts:
    """Decode an hnswlib 0.8 index file, checking its internal consistency."""
    header = read_hnswlib_header(path)
    max_m, max_m0, dim = header["max_m"], header["max_m0"], header["dim"]
    record = _record_dtype(max_m0, dim)
    expected_layout = (0, record.itemsize, 4 + 4 * max_m0 + 4 * dim, 4 + 4 * max_m0)
    actual_layout = (header["offset_level0"], header["size_data_per_element"],
                     header["label_offset"], header["offset_data"])
    if actual_layout != expected_layout:
        raise HnswlibFormatError(f"unexpected record layout {actual_layout} in {path}")
    raw = Path(path).read_bytes()
    n = header["element_count"]
    records = np.frombuffer(raw, record, count=n, offset=_HEADER.size)
    if np.any(records["spare"]) or np.any(records["flags"] > _DELETED_FLAG):
        raise HnswlibFormatError(f"unknown flags in the level-0 records of {path}")
    levels, blocks = _read_upper_blocks(raw, _HEADER.size + n * record.itemsize, n, max_m, path)
    return HnswlibParts(
        max_elements=header["max_elements"], max_level=header["max_level"],
        entry_point=header["entry_point"], max_m=max_m, max_m0=max_m0, m=header["m"],
        mult=header["mult"], ef_construction=header["ef_construction"],
        vectors=records["vector"].copy(), labels=records["label"].copy(),
        deleted=(records["flags"] & _DELETED_FLAG).astype(bool),
        links0=LinkLists(records["count"].copy(), records["links"].copy()),
        levels=levels, upper_links=_upper_lists_by_level(levels, blocks, max_m),
    )


def _read_upper_blocks(
    raw: bytes, offset: int, n: int, max_m: int, path: Path
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each element's level and its upper-level block as (levels, 1 + max_m) uint32 words."""
    list_bytes = 4 + 4 * max_m
    levels = np.zeros(n, np.int64)
    blocks = []
    for element in range(n):
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if size % list_bytes:
            raise HnswlibFormatError(f"element {element}'s upper block has {size} bytes in {path}")
        levels[element] = size // list_bytes
        words = np.frombuffer(raw, "<u4", count=size // 4, offset=offset)
        blocks.append(words.reshape(-1, 1 + max_m))
        offset += size
    if offset != len(raw):
        raise HnswlibFormatError(f"{len(raw) - offset} unexpected trailing bytes in {path}")
    return levels, blocks


def _upper_lists_by_level(
    levels: np.ndarray, blocks: list[np.ndarray], max_m: int
) -> list[LinkLists]:
    """Regroup per-element blocks into per-level link lists."""
    lists = []
    for level in range(1, int(levels.max(initial=0)) + 1):
        members = np.flatnonzero(levels >= level)
        words = np.stack([blocks[e][level - 1] for e in members]).reshape(-1, 1 + max_m)
        if np.any(words[:, 0] >> 16):
            raise HnswlibFormatError(f"unknown flags in a level-{level} link count")
        lists.append(LinkLists(words[:, 0].astype(np.uint16), words[:, 1:].copy()))
    return lists


def write_hnswlib_file(path: Path, parts: HnswlibParts) -> None:
    """Write `parts` as an hnswlib 0.8 index file, byte for byte as hnswlib's saveIndex would."""
    _check_parts(parts)
    n, dim = parts.vectors.shape
    record = _record_dtype(parts.max_m0, dim)
    header = _HEADER.pack(
        0, parts.max_elements, n, record.itemsize, record.fields["label"][1],
        record.fields["vector"][1], parts.max_level, parts.entry_point, parts.max_m,
        parts.max_m0, parts.m, parts.mult, parts.ef_construction,
    )
    with open(path, "wb") as file:
        file.write(header)
        for start in range(0, n, _WRITE_ROWS):
            file.write(_level0_records(parts, record, start, min(start + _WRITE_ROWS, n)).tobytes())
        file.write(_upper_words(parts).tobytes())


def _check_parts(parts: HnswlibParts) -> None:
    """Reject parts that hnswlib would misread."""
    n = len(parts.vectors)
    lengths = {len(parts.labels), len(parts.deleted), len(parts.levels), len(parts.links0.counts)}
    if lengths != {n}:
        raise HnswlibFormatError("vectors, labels, deleted, levels and links0 differ in length")
    if n > parts.max_elements:
        raise HnswlibFormatError(f"{n} elements exceed max_elements {parts.max_elements}")
    if len(np.unique(parts.labels)) != n:
        raise HnswlibFormatError("labels must be unique")
    top = int(parts.levels.max(initial=-1))
    if parts.max_level != top or len(parts.upper_links) != max(top, 0):
        raise HnswlibFormatError(f"max_level {parts.max_level} but elements reach level {top}")
    if n and parts.levels[parts.entry_point] != top:
        raise HnswlibFormatError("the entry point must be on the top level")
    for level, lists in enumerate([parts.links0, *parts.upper_links]):
        rows = n if level == 0 else int(np.sum(parts.levels >= level))
        width = parts.max_m0 if level == 0 else parts.max_m
        if lists.slots.shape != (rows, width) or np.any(lists.counts > width):
            raise HnswlibFormatError(f"level-{level} link lists have the wrong shape")
        used = np.arange(width) < lists.counts[:, None].astype(np.int64)
        if np.any(lists.slots[used] >= n):
            raise HnswlibFormatError(f"a level-{level} link points past the last element")


def _level0_records(parts: HnswlibParts, record: np.dtype, start: int, stop: int) -> np.ndarray:
    """Level-0 records for elements start..stop."""
    records = np.zeros(stop - start, record)
    records["count"] = parts.links0.counts[start:stop]
    records["flags"] = np.where(parts.deleted[start:stop], _DELETED_FLAG, 0)
    records["links"] = parts.links0.slots[start:stop]
    records["vector"] = parts.vectors[start:stop]
    records["label"] = parts.labels[start:stop]
    return records


def _upper_words(parts: HnswlibParts) -> np.ndarray:
    """The upper-level section as uint32 words: per element its byte size, then its lists."""
    list_words = 1 + parts.max_m
    levels = parts.levels
    block_words = levels * list_words
    starts = np.arange(len(levels)) + np.concatenate([[0], np.cumsum(block_words)[:-1]])
    words = np.zeros(len(levels) + int(block_words.sum()), "<u4")
    words[starts] = block_words * 4
    for level, lists in enumerate(parts.upper_links, start=1):
        members = np.flatnonzero(levels >= level)
        first = starts[members] + 1 + (level - 1) * list_words
        words[first] = lists.counts
        words[first[:, None] + 1 + np.arange(parts.max_m)] = lists.slots
    return words


def write_hnswlib_index(
    path: Path,
    vectors: np.ndarray,
    labels: np.ndarray,
    links0: np.ndarray,
    upper_links: list[np.ndarray],
    levels: np.ndarray,
    entry_point: int,
    m: int,
    ef_construction: int,
    space: str = "cosine",
    max_elements: int | None = None,
) -> None:
    """Write a graph as an hnswlib 0.8 file that `hnswlib.Index(space, dim).load_index` reads.

    `links0` is (n, <= 2M) and `upper_links[l - 1]` is (elements with level >= l, <= M), both
    neighbour ids with -1 in free slots (see `Graph`). In the cosine space vectors are stored
    normalized, as hnswlib does, so the file answers with inner-product distance.
    """
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    data = unit_rows(vectors) if space == "cosine" else np.asarray(vectors, dtype=np.float32)
    levels = np.asarray(levels, dtype=np.int64)
    n = len(data)
    parts = HnswlibParts(
        max_elements=max(max_elements or n, n),
        max_level=int(levels.max(initial=-1)),
        entry_point=entry_point if n else _EMPTY_ENTRY_POINT,
        max_m=m, max_m0=2 * m, m=m, mult=1 / math.log(m),
        ef_construction=max(ef_construction, m),
        vectors=data, labels=np.asarray(labels, dtype=np.uint64),
        deleted=np.zeros(n, bool), links0=LinkLists.from_padded(links0, 2 * m),
        levels=levels,
        upper_links=[LinkLists.from_padded(links, m) for links in upper_links],
    )
    write_hnswlib_file(path, parts)
