"""What every per-language chunker shares: the result record and small node helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from tree_sitter import Node

from ragls.core.chunking.source import SourceText

MAX_SIGNATURE_CHARS = 200

_COMMENTS = frozenset({"comment", "line_comment", "block_comment"})

_SPACE_AFTER_OPEN = re.compile(r"([(\[])\s+")
_SPACE_BEFORE_CLOSE = re.compile(r"\s+([)\]])")


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """A function found by a language chunker, in tree-sitter coordinates.

    `start` is the (row, byte column) point where the chunk begins (decorators, attributes or
    the doc comment above the definition); the chunk ends where `end_node` ends, or `node`
    when it is None. `doc_ranges` are the byte ranges of the source the docstring was read from.
    """

    name: str
    kind: str
    node: Node
    name_node: Node
    start: tuple[int, int]
    signature: str
    docstring: str
    end_node: Node | None = None
    doc_ranges: tuple[tuple[int, int], ...] = ()


class LanguageChunker(Protocol):
    """Turns one query match into a function, or None when the match is not a chunk."""

    def describe(
        self, function: Node, name: Node | None, source: SourceText, root: Node
    ) -> FunctionInfo | None:
        """Describe `function` (captured as @function, its name as @name)."""
        ...


def node_text(node: Node) -> str:
    """The decoded source text of a node."""
    data = node.text
    return data.decode("utf-8", "replace") if data else ""


def first_named_child(node: Node) -> Node | None:
    """The first named child of `node`, or None (Node.named_child raises when out of range)."""
    return node.named_child(0) if node.named_child_count else None


def collapse_whitespace(text: str) -> str:
    """Collapse runs of whitespace to one space and drop it just inside brackets."""
    text = " ".join(text.split())
    text = _SPACE_AFTER_OPEN.sub(r"\1", text)
    return _SPACE_BEFORE_CLOSE.sub(r"\1", text)


def signature_between(source: SourceText, start_byte: int, end_byte: int, strip: str = "") -> str:
    """The whitespace-collapsed text between two offsets, at most MAX_SIGNATURE_CHARS long.

    Trailing characters in `strip` (e.g. Python's ':' before the body) are removed.
    """
    # Signatures never need more than a few hundred bytes; cutting early keeps huge
    # parameter lists (or a body-less parse gone wrong) cheap.
    raw = source.text(start_byte, min(end_byte, start_byte + 4 * MAX_SIGNATURE_CHARS))
    signature = collapse_whitespace(raw).rstrip(strip + " ") if strip else collapse_whitespace(raw)
    if len(signature) > MAX_SIGNATURE_CHARS:
        signature = signature[: MAX_SIGNATURE_CHARS - 1].rstrip() + "…"
    return signature


def header_end(function: Node, body: Node | None) -> int:
    """Byte offset where a function's header ends: just before its body, skipping comments
    that sit between the two."""
    if body is None:
        return function.end_byte
    before = body.prev_sibling
    while before is not None and before.type in _COMMENTS:
        before = before.prev_sibling
    return before.end_byte if before is not None else body.start_byte


def point(node: Node) -> tuple[int, int]:
    """A node's start as a (row, byte column) tuple."""
    start = node.start_point
    return (start[0], start[1])
