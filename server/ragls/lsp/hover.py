"""`textDocument/hover` on a function's name: what it is, and the code most like it.

The hover (Markdown) shows the qualified name, kind and language, the signature in a code
block, the docstring, and the three most related functions as links (`[name](file:///...#L12)`,
1-based line). It is computed from the document's current text, saved or not. Anywhere else,
and in files outside every workspace folder or of languages ragls does not index, there is no
hover (`null`). Until the model is loaded the related list says it is coming instead of waiting.
"""

from __future__ import annotations

from lsprotocol import types

from ragls.lsp.convert import check_position, document_text, path_of
from ragls.lsp.server import RaglsServer
from ragls.services.engine import HoverInfo, InvalidRequest
from ragls.services.results import chunk_uri


def register(server: RaglsServer) -> None:
    """Register textDocument/hover."""

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: RaglsServer, params: types.HoverParams) -> types.Hover | None:
        engine = ls.require_engine()
        uri, line, character = params.text_document.uri, params.position.line, params.position.character
        text = document_text(ls.workspace, uri)
        check_position(text, line, character, uri)
        try:
            info = await ls.run_query(engine.hover, path_of(uri), text, line, character)
        except InvalidRequest:
            return None
        if info is None:
            return None
        span = info.symbol.chunk.name_span
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=hover_markdown(info)),
            range=types.Range(
                start=types.Position(line=span.start_line, character=span.start_col),
                end=types.Position(line=span.end_line, character=span.end_col),
            ),
        )


def hover_markdown(info: HoverInfo) -> str:
    """The hover text: name, signature, docstring, related functions as links."""
    chunk = info.symbol.chunk
    parts = [f"**{chunk.name}** · {chunk.kind} · {chunk.language}"]
    if chunk.signature:
        parts.append(f"```{chunk.language}\n{chunk.signature}\n```")
    if chunk.docstring:
        parts.append(chunk.docstring)
    parts.append(_related_markdown(info))
    return "\n\n".join(parts)


def _related_markdown(info: HoverInfo) -> str:
    if info.related_pending:
        return "_Related functions appear once the embedding model has loaded._"
    if not info.related:
        return "_No related functions indexed yet._"
    lines = ["**Related**"]
    for found in info.related:
        line = found.chunk.span.start_line + 1
        link = f"{chunk_uri(found.folder, found.chunk)}#L{line}"
        lines.append(f"- [{found.chunk.name}]({link}) `{found.chunk.path}:{line}`")
    return "\n".join(lines)
