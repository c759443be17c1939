"""The retrieval-augmented prompt that asks the LLM about one function.

The prompt holds the function (the editor's current text, saved or not), its path and
enclosing class, then numbered sources: other functions of the workspace (the most related
ones, the functions it calls and those that call it, in the order the caller ranks them). The
system prompt asks the model to cite them as `[n]`.

Everything must fit the model's context window (`num_ctx`) with room left for the answer.
Tokens are estimated as characters / 4, which errs on the generous side for code. The
function itself comes first and is cut only when it alone would not fit; sources are added
best first while they fit, each cut to a share of the budget so that one long function cannot
crowd out the others.

Secrets never go in: a source from a secret file (`.env`, `*.pem`, ...) or holding a secret
(core/secrets.py) is left out and listed in `Prompt.withheld`; a secret inside the function
itself is replaced by «redacted» and listed in `Prompt.redacted`. (The services refuse to explain
a function of a secret file at all.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ragls.core.chunk import CONSTRUCTOR, METHOD, Chunk
from ragls.core.secrets import find_secrets, redact
from ragls.core.workspace import is_secret_path

CHARS_PER_TOKEN = 4
MAX_NUM_CTX = 8192  # larger windows cost RAM and time on a laptop for little gain here
MIN_NUM_CTX = 2048
ANSWER_TOKENS = 1024  # left free for the answer
MAX_SOURCE_TOKENS = 600  # one source's share at most
MAX_SOURCES = 8
CUT_MARK = "\n... (cut)"

SYSTEM_PROMPT = (
    "You are ragls, a code assistant inside the user's editor. Answer in concise Markdown. "
    "The user's function comes first; the numbered sources [1], [2], ... are other functions "
    "from the same workspace. When a statement relies on a source, cite it as [n]. Cite only "
    "the sources given, and say so when the code shown is not enough to answer."
)
DEFAULT_QUESTION = (
    "Explain what this function does, how it works, and how it fits with the code around it "
    "(cite the sources you use)."
)


@dataclass(frozen=True)
class Withheld:
    """A chunk kept out of a prompt because it holds a secret; `reason` says which kind."""

    chunk: Chunk
    reason: str


@dataclass(frozen=True)
class Prompt:
    """The chat messages to send, the sources they number ([1] is `sources[0]`), and `num_ctx`.

    `withheld`: candidates left out for holding a secret; `redacted`: the kinds of secret
    replaced in the function itself.
    """

    messages: list[dict]
    sources: list[Chunk]
    num_ctx: int
    function_cut: bool
    withheld: list[Withheld] = field(default_factory=list)
    redacted: list[str] = field(default_factory=list)


def estimate_tokens(text: str) -> int:
    """A cheap, slightly generous token count for code: one token per four characters."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def context_window(model_context_length: int) -> int:
    """The `num_ctx` to run the model with: its own window, within MIN_NUM_CTX..MAX_NUM_CTX."""
    return max(MIN_NUM_CTX, min(model_context_length, MAX_NUM_CTX))


def enclosing_class(chunk: Chunk) -> str | None:
    """`Cart` for the method `Cart.add_item` (also `Type::fn`, `Mod::Class#method`)."""
    if chunk.kind not in (METHOD, CONSTRUCTOR):
        return None
    for separator in ("#", "::", "."):
        if separator in chunk.name:
            return chunk.name.rsplit(separator, 1)[0]
    return None


def build_prompt(
    function: Chunk,
    candidates: Sequence[Chunk],
    question: str | None,
    model_context_length: int,
) -> Prompt:
    """The messages about `function`, with as many `candidates` (best first) as fit the budget."""
    num_ctx = context_window(model_context_length)
    budget = num_ctx - ANSWER_TOKENS
    ask = (question or "").strip() or DEFAULT_QUESTION
    fixed = estimate_tokens(SYSTEM_PROMPT) + estimate_tokens(_question_block(ask)) + 50
    header = estimate_tokens(_function_block(function, ""))
    safe_text, redacted = redact(function.text)
    function_text, cut = _fit(safe_text, budget - fixed - header)
    function_part = _function_block(function, function_text)
    left = budget - fixed - estimate_tokens(function_part)
    sources, source_parts = [], []
    usable, withheld = _usable(function, candidates)
    for chunk in usable:
        if len(sources) == MAX_SOURCES:
            break
        number = len(sources) + 1
        text, _ = _fit(chunk.text, min(MAX_SOURCE_TOKENS, left - 30))
        part = _source_block(number, chunk, text)
        if not text.strip() or estimate_tokens(part) > left:
            continue
        sources.append(chunk)
        source_parts.append(part)
        left -= estimate_tokens(part)
    user = "\n\n".join([function_part, _sources_block(source_parts), _question_block(ask)])
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
    return Prompt(messages, sources, num_ctx, cut, withheld, redacted)


def _usable(function: Chunk, candidates: Sequence[Chunk]) -> tuple[list[Chunk], list[Withheld]]:
    """Candidates without the function itself and repeats, in their order, and those withheld
    for secrets."""
    seen = {(function.path, function.name)}
    usable, withheld = [], []
    for chunk in candidates:
        key = (chunk.path, chunk.name)
        if key in seen:
            continue
        seen.add(key)
        reason = _secret_reason(chunk)
        if reason is None:
            usable.append(chunk)
        else:
            withheld.append(Withheld(chunk, reason))
    return usable, withheld


def _secret_reason(chunk: Chunk) -> str | None:
    """Why a chunk must not be shown to the LLM, or None."""
    if is_secret_path(chunk.path):
        return "it is in a secret file"
    found = find_secrets(chunk.text)
    return f"it holds {found[0].kind}" if found else None


def _fit(text: str, max_tokens: int) -> tuple[str, bool]:
    """`text`, or its head cut to `max_tokens` (marked); `("", True)` when nothing fits."""
    if estimate_tokens(text) <= max_tokens:
        return text, False
    keep = max(0, max_tokens * CHARS_PER_TOKEN - len(CUT_MARK))
    if keep == 0:
        return "", True
    return text[:keep] + CUT_MARK, True


def _function_block(function: Chunk, text: str) -> str:
    where = f"`{function.path}`, line {function.span.start_line + 1}"
    owner = enclosing_class(function)
    if owner:
        where += f", in class `{owner}`"
    return (
        f"The function `{function.name}` ({function.kind}, {function.language}) from {where}, "
        f"as it is now in the editor:\n{_fenced(function.language, text)}"
    )


def _source_block(number: int, chunk: Chunk, text: str) -> str:
    return (
        f"[{number}] `{chunk.name}` in `{chunk.path}`, line {chunk.span.start_line + 1}:\n"
        f"{_fenced(chunk.language, text)}"
    )


def _sources_block(parts: list[str]) -> str:
    if not parts:
        return "Sources: none found."
    return "Sources:\n\n" + "\n\n".join(parts)


def _question_block(question: str) -> str:
    return f"Question: {question}"


def _fenced(language: str, text: str) -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}{language}\n{text}\n{fence}"
