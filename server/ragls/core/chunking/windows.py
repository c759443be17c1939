"""Line-window chunks: whole files that could not be parsed, and module-level residue."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from ragls.core.chunk import MODULE, WINDOW, Chunk, Span
from ragls.core.chunking.source import SourceText, utf16_length

WINDOW_LINES = 60


def line_windows(path: str, language: str, source: SourceText) -> list[Chunk]:
    """Split a file into consecutive WINDOW_LINES-line windows, skipping blank-only ones."""
    lines = source.decoded_lines
    chunks = []
    for first in range(0, len(lines), WINDOW_LINES):
        window = lines[first : first + WINDOW_LINES]
        if not any(line.strip() for line in window):
            continue
        last = first + len(window) - 1
        text = "\n".join(window)
        # The span ends before a CRLF file's final '\r', so the text does too.
        if text.endswith("\r"):
            text = text[:-1]
        last_line = window[-1].removesuffix("\r")
        span = Span(first, 0, last, utf16_length(last_line))
        name = f"{path}:L{first + 1}-{last + 1}"
        chunks.append(_window_chunk(path, language, name, WINDOW, span, text))
    return chunks


def module_residue(
    path: str, language: str, source: SourceText, covered: Iterable[tuple[int, int]]
) -> list[Chunk]:
    """MODULE chunks for the non-blank lines outside every function chunk.

    `covered` holds (first, last) line ranges (inclusive) taken by function chunks. The
    remaining non-blank lines are grouped into windows of at most WINDOW_LINES of them, a new
    one where more than WINDOW_LINES lines separate two of them, so a window's span stays near
    the code it holds. The grouping counts residue lines and gaps, not line numbers from a
    window's start: an edit inside a function leaves every window as it was (a save, or a file
    changed against a base index, embeds only the changed functions again) unless it moves a
    gap across WINDOW_LINES.
    """
    lines = source.decoded_lines
    taken = bytearray(len(lines))
    for first, last in covered:
        taken[first : last + 1] = b"\x01" * (last + 1 - first)
    residue = [row for row in range(len(lines)) if not taken[row] and lines[row].strip()]
    chunks: list[Chunk] = []
    base_name = PurePosixPath(path).name or path
    for rows in _group_rows(residue):
        name = base_name if not chunks else f"{base_name}#{len(chunks) + 1}"
        text_lines = [lines[row].removesuffix("\r") for row in rows]
        span = Span(rows[0], 0, rows[-1], utf16_length(text_lines[-1]))
        chunks.append(_window_chunk(path, language, name, MODULE, span, "\n".join(text_lines)))
    return chunks


def _group_rows(rows: list[int]) -> list[list[int]]:
    """Group sorted residue rows: WINDOW_LINES rows at most, a new group after a gap of more
    than WINDOW_LINES lines."""
    groups: list[list[int]] = []
    for row in rows:
        if groups and len(groups[-1]) < WINDOW_LINES and row - groups[-1][-1] <= WINDOW_LINES:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _window_chunk(path: str, language: str, name: str, kind: str, span: Span, text: str) -> Chunk:
    """A chunk with no signature or docstring; its name span is the empty range at its start."""
    name_span = Span(span.start_line, span.start_col, span.start_line, span.start_col)
    return Chunk(
        path=path,
        language=language,
        name=name,
        kind=kind,
        span=span,
        name_span=name_span,
        signature="",
        docstring="",
        text=text,
    )
