"""The JSON shapes shared by the CLI's `--json` and the LSP requests: a found function
(docs/protocol.md calls it `Result` with a score, `Symbol` without one) and the status.
"""

from __future__ import annotations

from pathlib import Path

from ragls.core.base import BaseSummary
from ragls.core.chunk import Chunk, Span, preview
from ragls.services.status import FolderStatus, Status


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


def status_json(status: Status) -> dict:
    """`ragls/status` (and `ragls status --json`): docs/protocol.md has the shape."""
    payload = {
        "state": status.state,
        "roots": [folder.as_uri() for folder in status.roots],
        "files": status.files,
        "chunks": status.chunks,
        "pendingFiles": status.pending_files,
        "embeddedChunks": status.embedded_chunks,
        "model": status.model,
        "device": status.device,
        "backend": status.backend,
        "folders": [_folder_json(folder) for folder in status.folders],
    }
    if status.message:
        payload["message"] = status.message
    return payload


def _folder_json(folder: FolderStatus) -> dict:
    run = folder.last_run
    return {
        "uri": folder.folder.as_uri(),
        "files": folder.files,
        "chunks": folder.chunks,
        "cacheDir": str(folder.cache_dir),
        "indexBytes": folder.index_bytes,
        "lastRun": None if run is None else {key: run.get(field) for key, field in _LAST_RUN_FIELDS},
        "base": None if folder.base is None else _base_json(folder.base),
        "overlayChunks": folder.overlay_chunks,
        "baseError": folder.base_problem,
    }


def _base_json(base: BaseSummary) -> dict:
    return {"file": str(base.path), "commit": base.commit, "functions": base.functions, "searched": base.searched}


_LAST_RUN_FIELDS = (
    ("finished", "finished"),
    ("device", "device"),
    ("backend", "backend"),
    ("files", "files"),
    ("chunks", "chunks"),
    ("filesChanged", "files_changed"),
    ("filesRemoved", "files_removed"),
    ("embedded", "embedded"),
    ("cacheHits", "cache_hits"),
    ("seconds", "seconds"),
)
