"""Markdown that comes from files or from the LLM, made safe to show in a hover.

Hovers are trusted to run the `ragls.explain` command from their links (VS Code enables exactly
that command), so no text that a file's author or the LLM wrote may produce a link: a docstring
could otherwise plant `[Explain](command:ragls.explain?...)` with arguments of its choosing.
`untrusted_markdown` keeps the text's Markdown (emphasis, lists, code) but escapes every `[`, `]`
and `<` outside code, which is all that CommonMark needs to make a link, an image, an autolink or
an HTML tag. Code spans and fenced code blocks are left as written: nothing inside them is a link.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_ESCAPED = {"[": "\\[", "]": "\\]", "<": "\\<"}
_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def untrusted_markdown(text: str) -> str:
    """`text` with no way left to form a link, an image, an autolink or raw HTML."""
    lines, fence = [], None
    for line in text.split("\n"):
        if fence is not None:
            lines.append(line)
            if _closes(line, fence):
                fence = None
            continue
        opened = _opening_fence(line)
        if opened is not None:
            fence = opened
            lines.append(line)
            continue
        lines.append(_escape_inline(line))
    if fence is not None:  # an unclosed fence would swallow whatever the hover shows after it
        lines.append(fence)
    return "\n".join(lines)


def _opening_fence(line: str) -> str | None:
    """The fence a line opens (a run of backticks or tildes), or None."""
    match = _FENCE.match(line)
    if match is None:
        return None
    fence, info = match.group(1), match.group(2)
    if fence[0] == "`" and "`" in info:  # CommonMark: then it is no fence, but inline code
        return None
    return fence


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    indent = len(line) - len(line.lstrip(" "))
    return indent <= 3 and len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def _escape_inline(line: str) -> str:
    """Escape link syntax in one line of prose, leaving code spans and escapes as they are."""
    out, i = [], 0
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line) and line[i + 1] in _ASCII_PUNCTUATION:
            out.append(line[i : i + 2])  # already an escape: keep both characters
            i += 2
        elif char == "`":
            run = len(line) - i - len(line[i:].lstrip("`"))
            closing = _closing_run(line, i + run, run)
            end = closing + run if closing is not None else i + run
            out.append(line[i:end])  # a code span, or a backtick run left as literal text
            i = end
        else:
            out.append(_ESCAPED.get(char, char))
            i += 1
    return "".join(out)


def _closing_run(line: str, start: int, length: int) -> int | None:
    """Where a backtick run of exactly `length` starts at or after `start`, or None."""
    for match in re.finditer(r"`+", line[start:]):
        if len(match.group()) == length:
            return start + match.start()
    return None
