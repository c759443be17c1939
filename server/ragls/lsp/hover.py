"""`textDocument/hover` on a function's name: what it is, and the code most like it.

The hover (Markdown) shows the qualified name, kind and language, the signature in a code
block, the docstring, and the three most related functions as links (``[`name`](file:///...#L12)``,
1-based line). It is computed from the document's current text, saved or not. Anywhere else,
and in files outside every workspace folder or of languages ragls does not index, there is no
hover (`null`). Until the model is loaded the related list says it is coming instead of waiting.

The `hover.explain` setting adds the LLM's explanation below: `cached` (default) shows the
cached answer for the function's current text, or says the cached one is out of date, or offers
"Explain with ragls"; `always` generates one (waiting at most HOVER_EXPLAIN_SECONDS); `off`
adds nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from urllib.parse import quote

from lsprotocol import types

from pygls.exceptions import JsonRpcInvalidParams

from ragls.core.llm import LLMError
from ragls.lsp.convert import check_position, path_of
from ragls.lsp.markdown import untrusted_markdown
from ragls.lsp.base import RaglsServer
from ragls.services.errors import EngineError
from ragls.services.queries import HoverInfo
from ragls.services.results import chunk_uri

log = logging.getLogger(__name__)

HOVER_EXPLAIN_SECONDS = 30.0  # `always`: a hover waits this long for the LLM at most


def register(server: RaglsServer) -> None:
    """Register textDocument/hover."""

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: RaglsServer, params: types.HoverParams) -> types.Hover | None:
        engine = ls.require_engine()
        uri, line, character = params.text_document.uri, params.position.line, params.position.character
        try:
            text = await ls.read_document(uri)
        except JsonRpcInvalidParams:
            return None  # outside the workspace, a secret, a file ragls does not index: no hover
        check_position(text, line, character, uri)
        info = await ls.run_query(engine.queries.hover, path_of(uri), text, line, character)
        if info is None:
            return None
        span = info.symbol.chunk.name_span
        markdown = hover_markdown(info) + await explanation_markdown(ls, uri, text, span.start_line)
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown),
            range=types.Range(
                start=types.Position(line=span.start_line, character=span.start_col),
                end=types.Position(line=span.end_line, character=span.end_col),
            ),
        )


def hover_markdown(info: HoverInfo) -> str:
    """The hover text: name, signature, docstring, related functions as links."""
    chunk = info.symbol.chunk
    parts = [f"**{markdown_code(chunk.name)}** · {chunk.kind} · {chunk.language}"]
    if chunk.signature:
        parts.append(f"```{chunk.language}\n{chunk.signature}\n```")
    if chunk.docstring:
        parts.append(untrusted_markdown(chunk.docstring))
    parts.append(_related_markdown(info))
    return "\n\n".join(parts)


def markdown_code(text: str) -> str:
    """`text` as a Markdown code span, shown as written (`__init__` is not a bold `init`)."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _related_markdown(info: HoverInfo) -> str:
    if info.related_pending:
        return "_Related functions appear once the embedding model has loaded._"
    if not info.related:
        return "_No related functions indexed yet._"
    lines = ["**Related**"]
    for found in info.related:
        line = found.chunk.span.start_line + 1
        link = f"{chunk_uri(found.folder, found.chunk)}#L{line}"
        lines.append(f"- [{markdown_code(found.chunk.name)}]({link}) `{found.chunk.path}:{line}`")
    return "\n".join(lines)


async def explanation_markdown(ls: RaglsServer, uri: str, text: str, line: int) -> str:
    """The explanation part of a hover on the function whose name is on `line`, per `hover.explain`."""
    mode, explainer = ls.settings.hover.explain, ls.explainer
    if mode == "off" or explainer is None:
        return ""
    path = path_of(uri)
    try:
        lookup = await explainer.cached(path, text, line)
        if lookup.fresh is not None:
            return _explanation_block(lookup.fresh.markdown, explainer.model, "cached")
        if mode == "always":
            answer = await asyncio.wait_for(explainer.explain(path, text, line), HOVER_EXPLAIN_SECONDS)
            return _explanation_block(answer.markdown, explainer.model, "incomplete" if answer.incomplete else "")
    except TimeoutError:
        return f"\n\n---\n\n_No explanation: Ollama did not answer within {HOVER_EXPLAIN_SECONDS:.0f} s._"
    except (LLMError, EngineError) as exc:
        log.info("no explanation in the hover: %s", exc)
        return f"\n\n---\n\n_No explanation: {untrusted_markdown(str(exc))}_"
    at = {"textDocument": {"uri": uri}, "position": {"line": line, "character": 0}}
    if lookup.stale is not None:
        link = _command_link("Regenerate explanation", "ragls.explain", {**at, "regenerate": True})
        return f"\n\n---\n\n_The cached explanation is out of date: the function changed since._ {link}"
    return "\n\n---\n\n" + _command_link("Explain with ragls", "ragls.explain", at)


def _explanation_block(markdown: str, model: str, note: str) -> str:
    label = f"**Explanation** · {markdown_code(model)}" + (f" · {note}" if note else "")
    return f"\n\n---\n\n{label}\n\n{untrusted_markdown(markdown)}"


def _command_link(title: str, command: str, argument: dict) -> str:
    """A Markdown link that runs a command in clients that allow it (VS Code)."""
    return f"[{title}](command:{command}?{quote(json.dumps([argument]))})"
