"""Raw source bytes with the position arithmetic the chunkers share.

Tree-sitter speaks in byte offsets and (row, byte column) points; LSP wants UTF-16 columns.
`SourceText` converts between the two and slices text, decoding invalid UTF-8 as U+FFFD.
"""

from __future__ import annotations

from ragls.core.chunk import Span


class SourceText:
    """One file's bytes, split into lines on demand."""

    __slots__ = ("data", "is_ascii", "_lines", "_line_starts", "_decoded_lines")

    def __init__(self, data: bytes) -> None:
        self.data = data
        # Most source files are pure ASCII; then byte columns already are UTF-16 columns.
        self.is_ascii = data.isascii()
        self._lines: list[bytes] | None = None
        self._line_starts: list[int] | None = None
        self._decoded_lines: list[str] | None = None

    @property
    def lines(self) -> list[bytes]:
        """The file's lines as bytes, without their '\\n' (a final newline adds no line)."""
        if self._lines is None:
            lines = self.data.split(b"\n")
            if len(lines) > 1 and not lines[-1]:
                lines.pop()
            self._lines = lines
        return self._lines

    @property
    def decoded_lines(self) -> list[str]:
        """The file's lines decoded as UTF-8, invalid bytes replaced by U+FFFD."""
        if self._decoded_lines is None:
            self._decoded_lines = [line.decode("utf-8", "replace") for line in self.lines]
        return self._decoded_lines

    @property
    def line_starts(self) -> list[int]:
        """Byte offset of the first byte of every line."""
        if self._line_starts is None:
            starts = [0]
            offset = 0
            for line in self.lines:
                offset += len(line) + 1
                starts.append(offset)
            starts.pop()
            self._line_starts = starts
        return self._line_starts

    def utf16_column(self, row: int, byte_column: int) -> int:
        """Convert a byte column on `row` into a UTF-16 code unit column."""
        if self.is_ascii or byte_column == 0:
            return byte_column
        lines = self.lines
        if row >= len(lines):
            return byte_column
        prefix = lines[row][:byte_column]
        if prefix.isascii():
            return byte_column
        return utf16_length(prefix.decode("utf-8", "replace"))

    def span(self, start: tuple[int, int], end: tuple[int, int]) -> Span:
        """A `Span` from two (row, byte column) points."""
        return Span(
            start[0],
            self.utf16_column(start[0], start[1]),
            end[0],
            self.utf16_column(end[0], end[1]),
        )

    def text(self, start_byte: int, end_byte: int) -> str:
        """The decoded text between two byte offsets."""
        return self.data[start_byte:end_byte].decode("utf-8", "replace")

    def byte_offset(self, row: int, byte_column: int) -> int:
        """The byte offset of a (row, byte column) point."""
        return self.line_starts[row] + byte_column

    def indent_of(self, row: int) -> int:
        """Byte column of the first non-blank character of `row`."""
        line = self.lines[row]
        return len(line) - len(line.lstrip())


def utf16_length(text: str) -> int:
    """Number of UTF-16 code units needed for `text`."""
    if text.isascii():
        return len(text)
    # Characters outside the BMP take two code units (a surrogate pair).
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)
