"""Finding and cleaning doc comments.

Grammars attach comments inconsistently (Ruby puts a class's leading comments inside the
enclosing module, before its body), so comments directly above a definition are found by
looking at the source lines instead of at tree siblings.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from ragls.core.chunking.source import SourceText

# A doc comment longer than this is more likely a false match (say a JS regex ending in `*/`).
MAX_BLOCK_LINES = 400


@dataclass(frozen=True, slots=True)
class DocComment:
    """A comment block found above a definition: where it starts and its cleaned text."""

    start_row: int
    start_column: int
    text: str


def line_comment_above(source: SourceText, row: int, prefix: bytes) -> DocComment | None:
    """The run of `prefix` comment lines ending on the line just above `row`, or None."""
    lines = source.lines
    first = row
    while first > 0 and lines[first - 1].lstrip().startswith(prefix):
        first -= 1
    if first == row:
        return None
    bodies = [_after_marker(lines[index].strip(), prefix) for index in range(first, row)]
    return DocComment(first, source.indent_of(first), _clean_lines(bodies))


def block_comment_above(source: SourceText, row: int, opener: bytes) -> DocComment | None:
    """The `opener ... */` block comment ending on the line just above `row`, or None."""
    lines = source.lines
    last = row - 1
    if last < 0:
        return None
    closing = lines[last].rstrip()
    # The comment must close exactly at the end of that line, and only there.
    if not closing.endswith(b"*/") or b"*/" in closing[:-2]:
        return None
    first = last
    while b"/*" not in lines[first]:
        first -= 1
        if first < 0 or last - first > MAX_BLOCK_LINES or b"*/" in lines[first]:
            return None
    if not lines[first].lstrip().startswith(opener):
        return None
    block = b"\n".join(line.strip() for line in lines[first : last + 1])
    return DocComment(first, source.indent_of(first), clean_block_comment(block))


def comment_block_above(source: SourceText, row: int) -> DocComment | None:
    """A C-style comment directly above `row`: `//` lines or one `/* ... */` block."""
    return line_comment_above(source, row, b"//") or block_comment_above(source, row, b"/*")


def clean_block_comment(block: bytes) -> str:
    """Strip `/**`, `*/` and the `*` gutter from a block comment and dedent it."""
    text = _decode(block).strip()
    text = text.lstrip("/").lstrip("*").lstrip("!")
    if text.endswith("*/"):
        text = text[:-2]
    cleaned = []
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith("*"):
            stripped = stripped[1:]
            # Keep the indentation after the gutter: code examples in doc comments rely on it.
            line = stripped[1:] if stripped.startswith(" ") else stripped
        cleaned.append(line.rstrip())
    return inspect.cleandoc("\n".join(cleaned))


def clean_string_literal(literal: str) -> str:
    """The content of a Python string literal (prefix and quotes removed), dedented."""
    body = literal.lstrip("rRuUbBfF")
    for quote in ('"""', "'''", '"', "'"):
        if body.startswith(quote) and body.endswith(quote) and len(body) >= 2 * len(quote):
            body = body[len(quote) : -len(quote)]
            break
    return inspect.cleandoc(body)


def _after_marker(line: bytes, marker: bytes) -> bytes:
    """A comment line's text after its marker, with one separating space removed."""
    if line.startswith(marker):
        # Doc-comment flavours repeat the marker's last character (`///`, `##`).
        line = line[len(marker) :].lstrip(marker[-1:])
    return line[1:] if line.startswith(b" ") else line


def _clean_lines(bodies: list[bytes]) -> str:
    """Join comment line bodies and dedent them."""
    return inspect.cleandoc(_decode(b"\n".join(bodies)))


def _decode(data: bytes) -> str:
    """Decode UTF-8, replacing invalid bytes."""
    return data.decode("utf-8", "replace")


def with_doc_above(
    source: SourceText, start: tuple[int, int], find: Callable[[SourceText, int], DocComment | None]
) -> tuple[tuple[int, int], str, tuple[tuple[int, int], ...]]:
    """Extend a definition's start over the doc comment `find` sees above it.

    Returns the new (row, byte column) start, the cleaned doc text and the byte range of the
    comment's lines (empty without a doc). Only a definition that begins its line can own the
    comment lines above it.
    """
    row, column = start
    if source.indent_of(row) != column:
        return start, "", ()
    doc = find(source, row)
    if doc is None:
        return start, "", ()
    doc_range = (source.byte_offset(doc.start_row, doc.start_column), source.byte_offset(row, 0))
    return (doc.start_row, doc.start_column), doc.text, (doc_range,)
