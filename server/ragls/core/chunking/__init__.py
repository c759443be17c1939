"""Split a source file into function-level chunks.

Languages with a tree-sitter grammar give one chunk per function, method or constructor, plus
MODULE chunks for the code outside them; everything else (and any file whose parse fails)
gives line windows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ragls.core.chunk import Chunk
from ragls.core.chunking.grammars import has_grammar
from ragls.core.chunking.source import SourceText
from ragls.core.chunking.treesitter import functions_with_doc_ranges, parsed_chunks
from ragls.core.chunking.windows import line_windows
from ragls.core.languages import is_parsed

__all__ = ["FunctionDoc", "chunk_source", "function_docs", "strip_docs"]

_log = logging.getLogger(__name__)


def chunk_source(path: str, source: bytes, language: str) -> list[Chunk]:
    """Chunk one file's raw bytes; `path` is workspace-relative with forward slashes.

    Never raises for bad input: invalid UTF-8 is decoded with U+FFFD, and a file that cannot
    be parsed into functions is split into line windows instead. A blank file gives [].
    """
    data = bytes(source)
    if not data.strip():
        return []
    text = SourceText(data)
    if is_parsed(language) and has_grammar(language):
        try:
            chunks = parsed_chunks(path, language, text)
        except Exception:  # a grammar or chunker bug must not lose the file
            _log.warning(
                "tree-sitter chunking failed for %s; using line windows", path, exc_info=True
            )
            chunks = None
        if chunks is not None:
            return chunks
    return line_windows(path, language, text)


@dataclass(frozen=True)
class FunctionDoc:
    """A function with a docstring, and where that docstring is in the file (byte ranges)."""

    chunk: Chunk
    ranges: tuple[tuple[int, int], ...]


def function_docs(path: str, source: bytes, language: str) -> list[FunctionDoc]:
    """The functions of a file that have a docstring or doc comment, as the chunker reads them
    (the one place that knows where docs are); [] for languages without a grammar."""
    if not (is_parsed(language) and has_grammar(language)) or not source.strip():
        return []
    try:
        found = functions_with_doc_ranges(path, language, SourceText(bytes(source)))
    except Exception:  # as chunk_source: a grammar bug must not stop the caller
        _log.warning("tree-sitter failed on %s", path, exc_info=True)
        return []
    return [FunctionDoc(chunk, ranges) for chunk, ranges in found if ranges and chunk.docstring]


def strip_docs(source: bytes, language: str, docs: list[FunctionDoc]) -> bytes:
    """`source` with every one of `docs` removed and every line kept where it was: comment lines
    become empty lines; a Python docstring becomes `""` followed by its line breaks (a body
    still has a statement)."""
    data = bytearray(source)
    for doc in sorted(docs, key=lambda d: d.ranges[0][0], reverse=True):
        for start, end in sorted(doc.ranges, reverse=True):
            breaks = data[start:end].count(b"\n")
            filler = (b'""' if language == "python" else b"") + b"\n" * breaks
            data[start:end] = filler
    return bytes(data)
