"""The JSON shape of a found function, shared by the CLI's `--json` and the LSP requests.

docs/protocol.md calls it `Result` (with a score) and `Symbol` (without one).
"""

from __future__ import annotations

from pathlib import Path

from ragls.core.chunk import Chunk, Span, preview


def lsp_range(span: Span) -> dict:
    """An LSP Range: 0-based lines, UTF-16 columns, end exclusive (spans already are)."""
    return {
        "start": {"line": span.start_line, "character": span.start_col},
        "end": {"line": span.end_line, "character": span.end_col},
    }


def chunk_uri(folder: Path, chunk: Chunk) -> str:
    """The file URI of a chunk's file under the workspace folder it was indexed from."""
    return (folder / chunk.path).as_uri()


def result_json(folder: Path, chunk: Chunk, score: float | None) -> dict:
    """A `Result` (with `score`) or a `Symbol` (`score` None) for a chunk of `folder`."""
    result = {
        "uri": chunk_uri(folder, chunk),
        "range": lsp_range(chunk.span),
        "selectionRange": lsp_range(chunk.name_span),
        "name": chunk.name,
        "kind": chunk.kind,
        "language": chunk.language,
    }
    if score is not None:
        result["score"] = round(score, 4)
    result["preview"] = preview(chunk)
    return result
