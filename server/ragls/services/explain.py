"""Explaining a function with the local LLM (no LSP code): the code worth showing, the prompt,
the stream and the cache of answers.

`Explainer.explain` finds the function at a position of the editor's text, gathers the code
worth showing with it (the functions it calls, the most related ones, those calling it: see
`context_of`), builds the prompt for the model's context window, streams the answer (each delta
goes to a callback as it arrives) and stores the finished answer in the folder's explanation
cache. An answer for the function's current text is served from the cache unless a
regeneration is asked for. A failure mid-answer returns the text that arrived, marked
incomplete; every other failure raises an `LLMError` or an `EngineError` with a clear message.

The blocking parts (queries, the cache) run through `run_blocking`, the caller's one way of
running blocking work: the server's thread pool, or the CLI's own thread.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragls.core.chunk import MODULE, WINDOW, Chunk
from ragls.core.explanations import CachedExplanation, ExplanationCache
from ragls.core.llm import LLM, PullProgress, StreamError, ollama_llm
from ragls.core.prompts import ANSWER_TOKENS, Prompt, build_prompt
from ragls.core.settings import cache_base
from ragls.core.workspace import workspace_id
from ragls.services.queries import Found, Queries, short_name
from ragls.services.results import result_json

PROMPT_RELATED = 6  # related functions offered to an explain prompt
PROMPT_CALLEES = 4  # functions it calls, found by name
PROMPT_CALLERS = 3  # functions that call it, found by name
_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")

RunBlocking = Callable[..., Awaitable[Any]]


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


@dataclass(frozen=True)
class ExplainContext:
    """What an explain prompt is built from: the function, and the other functions worth showing
    the LLM, best first (those it calls, the most related, those calling it)."""

    symbol: Found
    candidates: list[Found]


class Explainer:
    """Answers questions about functions with an LLM (Ollama by default)."""

    def __init__(self, queries: Queries, host: str, model: str, run_blocking: RunBlocking):
        self.queries = queries
        self._run_blocking = run_blocking
        self._llm: LLM = ollama_llm(host, model)
        self._context_lengths: dict[tuple[str, str], int] = {}
        self._caches: dict[Path, ExplanationCache] = {}  # by cache folder
        self._caches_lock = threading.Lock()  # guards `_caches` (queries run on several threads)

    @property
    def model(self) -> str:
        """The model answers come from."""
        return self._llm.model

    def configure(self, host: str, model: str) -> None:
        """Use another host or model from now on."""
        if (host, model) != (self._llm.host, self._llm.model):
            self._llm = ollama_llm(host, model)

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
                return Explanation(lookup.fresh.markdown, lookup.symbol, lookup.fresh.sources, llm.model, cached=True)
        context = await self._run_blocking(self.context_of, path, text, line)
        prompt = build_prompt(
            context.symbol.chunk, [found.chunk for found in context.candidates], question, await self._context_length(llm)
        )
        sources, withheld = _sources_json(prompt.sources, context.candidates), _withheld_notes(prompt)
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
        cache = self.cache_of(context.symbol.folder)
        await self._run_blocking(cache.put, llm.model, context.symbol.chunk, question or "", markdown, sources)
        return Explanation(markdown, context.symbol, sources, llm.model, withheld=withheld)

    async def cached(self, path: Path, text: str, line: int, question: str | None = None) -> CachedLookup:
        """The cached answer for the function's current text, and the newest older one."""
        return await self._run_blocking(self._lookup, path, text, line, question or "")

    def pull(self, model: str | None = None) -> AsyncIterator[PullProgress]:
        """Download a model (the configured one by default) on the LLM host."""
        return self._llm.pull(model)

    def context_of(self, path: Path, text: str, line: int) -> ExplainContext:
        """The function at `line` and the functions an explain prompt should show with it.

        Never waits for the model in the server: until it is loaded only functions found by name
        are offered.
        """
        queries = self.queries
        symbol = queries.function_at(path, text, line)
        home = queries.roots.owner(path)
        related = queries.related_to(home, symbol.chunk, PROMPT_RELATED) if queries.model_ready else []
        return ExplainContext(symbol, self._called_by(symbol.chunk) + related + self._calling(symbol.chunk))

    def cache_of(self, folder: Path) -> ExplanationCache:
        """The explanation cache of a workspace folder (next to its index)."""
        location = cache_base(self.queries.roots.settings) / workspace_id(folder)
        with self._caches_lock:
            if location not in self._caches:
                self._caches[location] = ExplanationCache(location)
            return self._caches[location]

    def _lookup(self, path: Path, text: str, line: int, question: str) -> CachedLookup:
        symbol = self.queries.function_at(path, text, line)
        cache = self.cache_of(symbol.folder)
        fresh = cache.get(self.model, symbol.chunk, question)
        stale = None if fresh else cache.latest(self.model, symbol.chunk, question)
        return CachedLookup(symbol, fresh, stale)

    def _called_by(self, symbol: Chunk) -> list[Found]:
        """Indexed functions whose name `symbol` calls (`name(`), first call first."""
        found: list[Found] = []
        own = short_name(symbol.name)
        for name in dict.fromkeys(_CALL.findall(symbol.text)):
            if name == own or len(found) >= PROMPT_CALLEES:
                continue
            found.extend(self.queries.named_exactly(name)[:1])
        return found[:PROMPT_CALLEES]

    def _calling(self, symbol: Chunk) -> list[Found]:
        """Indexed functions whose text calls `symbol` by its short name."""
        own = short_name(symbol.name)
        call = re.compile(rf"\b{re.escape(own)}\s*\(")
        found: list[Found] = []
        for open_root in self.queries.roots.open_roots():
            store = open_root.indexer.reader
            ids = [chunk_id for chunk_id, _ in store.lexical_search(own, 30)]
            for stored in store.chunks_by_ids(ids).values():
                chunk = stored.chunk
                same = chunk.path == symbol.path and chunk.name == symbol.name
                if not same and chunk.kind not in (MODULE, WINDOW) and call.search(chunk.text):
                    found.append(Found(open_root.root.folder, chunk))
        return found[:PROMPT_CALLERS]

    async def _context_length(self, llm: LLM) -> int:
        key = (llm.host, llm.model)
        if key not in self._context_lengths:
            self._context_lengths[key] = await llm.context_length()
        return self._context_lengths[key]


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
