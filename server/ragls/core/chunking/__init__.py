"""Split a source file into function-level chunks.

Languages with a tree-sitter grammar give one chunk per function, method or constructor, plus
MODULE chunks for the code outside them; everything else (and any file whose parse fails)
gives line windows.
"""

from __future__ import annotations

import logging

from ragls.core.chunk import Chunk
from ragls.core.chunking.grammars import has_grammar
from ragls.core.chunking.source import SourceText
from ragls.core.chunking.treesitter import parsed_chunks
from ragls.core.chunking.windows import line_windows
from ragls.core.languages import is_parsed

__all__ = ["chunk_source"]

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
