"""Explaining a function with the local LLM (no LSP code): prompt, stream, cache.

`Explainer.explain` finds the function at a position of the editor's text, gathers the code
worth showing with it (engine), builds the prompt for the model's context window, streams the
answer (each delta goes to a callback as it arrives) and stores the finished answer in the
folder's explanation cache. An answer for the function's current text is served from the cache
unless a regeneration is asked for. A failure mid-answer returns the text that arrived, marked
incomplete; every other failure raises an `LLMError` or an `EngineError` with a clear message.
Blocking engine calls run in the given executor, so the event loop keeps answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragls.core.explanations import CachedExplanation
from ragls.core.llm import OllamaLLM, PullProgress, StreamError
from ragls.core.prompts import ANSWER_TOKENS, Prompt, build_prompt
from ragls.services.engine import Engine, Found
from ragls.services.results import result_json



@dataclass(frozen=True)
class Explanation:
    """An answer about one function; `incomplete` when the stream broke off (`error` says why)."""

    markdown: str
    symbol: Found
    sources: list[dict]  # `Result` objects, numbered [1].. in this order
    model: str
    incomplete: bool = False
    error: str | None = None
    cached: bool = False
    withheld: list[str] = field(default_factory=list)  # what was kept out of the prompt, and why


@dataclass(frozen=True)
class CachedLookup:
    """What the cache holds for the function at a position: the fresh answer, else a stale one."""

    symbol: Found
    fresh: CachedExplanation | None
    stale: CachedExplanation | None


class Explainer:
    """Answers questions about functions with an Ollama model."""

    def __init__(self, engine: Engine, host: str, model: str, executor: Executor | None = None):
        self.engine = engine
        self.executor = executor
        self._llm = OllamaLLM(model, host)
        self._context_lengths: dict[tuple[str, str], int] = {}

    @property
    def model(self) -> str:
        """The Ollama model answers come from."""
        return self._llm.model

    def configure(self, host: str, model: str) -> None:
        """Use another host or model from now on."""
        if (host, model) != (self._llm.host, self._llm.model):
            self._llm = OllamaLLM(model, host)

    async def explain(
        self,
        path: Path,
        text: str,
        line: int,
        question: str | None = None,
        on_delta: Callable[[str], None] = lambda delta: None,
        regenerate: bool = False,
    ) -> Explanation:
        """The answer about the function at `line` of the editor's `text`, streamed to `on_delta`."""
        llm = self._llm
        if not regenerate:
            lookup = await self.cached(path, text, line, question)
            if lookup.fresh is not None:
                on_delta(lookup.fresh.markdown)
                return Explanation(
                    lookup.fresh.markdown, lookup.symbol, lookup.fresh.sources, llm.model, cached=True
                )
        context = await self._blocking(self.engine.explain_context, path, text, line)
        candidates = [found.chunk for found in context.candidates]
        prompt = build_prompt(context.symbol.chunk, candidates, question, await self._context_length(llm))
        sources = _sources_json(prompt.sources, context.candidates)
        withheld = _withheld_notes(prompt)
        received: list[str] = []
        try:
            async for delta in llm.stream_chat(prompt.messages, {"num_ctx": prompt.num_ctx, "num_predict": ANSWER_TOKENS}):
                received.append(delta)
                on_delta(delta)
        except StreamError as exc:
            return Explanation(
                exc.partial, context.symbol, sources, llm.model, incomplete=True, error=str(exc), withheld=withheld
            )
        markdown = "".join(received)
        await self._blocking(context.cache.put, llm.model, context.symbol.chunk, question or "", markdown, sources)
        return Explanation(markdown, context.symbol, sources, llm.model, withheld=withheld)

    async def cached(self, path: Path, text: str, line: int, question: str | None = None) -> CachedLookup:
        """The cached answer for the function's current text, and the newest older one."""
        return await self._blocking(self._lookup, path, text, line, question or "")

    def pull(self, model: str | None = None) -> AsyncIterator[PullProgress]:
        """Download a model (the configured one by default) on the Ollama host."""
        return self._llm.pull(model)

    def _lookup(self, path: Path, text: str, line: int, question: str) -> CachedLookup:
        symbol, cache = self.engine.function_at(path, text, line)
        fresh = cache.get(self.model, symbol.chunk, question)
        stale = None if fresh else cache.latest(self.model, symbol.chunk, question)
        return CachedLookup(symbol, fresh, stale)

    async def _context_length(self, llm: OllamaLLM) -> int:
        key = (llm.host, llm.model)
        if key not in self._context_lengths:
            self._context_lengths[key] = await llm.context_length()
        return self._context_lengths[key]

    async def _blocking(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, call, *args)


def _withheld_notes(prompt: Prompt) -> list[str]:
    """One line per secret kept out of the prompt, for the user."""
    notes = [f"kept {item.chunk.path} ({item.chunk.name}) out of the prompt: {item.reason}" for item in prompt.withheld]
    if prompt.redacted:
        notes.append(f"replaced {', '.join(prompt.redacted)} in the function by «redacted» before asking")
    return notes


def _sources_json(used: list, candidates: list[Found]) -> list[dict]:
    """The `Result` of each chunk the prompt used, in its [n] order."""
    by_chunk = {found.chunk: found for found in candidates}
    return [result_json(by_chunk[chunk].folder, chunk, by_chunk[chunk].score) for chunk in used]
