"""The unit of indexing: one function (or fallback window) of one file.

Every other core module speaks in `Chunk`s: the chunker makes them, the store persists them,
the embedder turns `embed_text` into vectors and retrieval returns them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ragls.core.secrets import redact

# Kinds a chunk can have. Function-like kinds come from tree-sitter; the last two are fallbacks.
FUNCTION = "function"
METHOD = "method"
CONSTRUCTOR = "constructor"
MODULE = "module"  # top-level statements of a file that sit outside every function
WINDOW = "window"  # a line window of a file that could not be parsed into functions

# The body part of the embedded text is cut at this many characters. all-MiniLM-L6-v2 reads at
# most 256 word pieces (about 1000 characters of code); the tokenizer truncates whatever is
# left over, so cutting here only saves tokenizing text the model would never see.
MAX_BODY_CHARS = 2000
# The form of `embed_text`: part of the key vectors are cached under, so that vectors embedded
# from another form of text are never reused ("" is the first form, kept for existing caches).
EMBED_TEXT_FORMAT = ""


@dataclass(frozen=True, slots=True)
class Span:
    """A 0-based (line, column) range, end exclusive as in LSP.

    Columns count UTF-16 code units, LSP's default position encoding, so a span maps to an LSP
    `Range` with no conversion.
    """

    start_line: int
    start_col: int
    end_line: int
    end_col: int

    def contains_line(self, line: int) -> bool:
        """True when 0-based `line` lies within the span."""
        return self.start_line <= line <= self.end_line


@dataclass(frozen=True, slots=True)
class Chunk:
    """One function-level piece of a source file.

    `path` is workspace-relative with forward slashes. `span` covers the whole function
    (decorators and doc comments included where the language attaches them), `name_span`
    just its name. `text` is the exact source text of `span`.
    """

    path: str
    language: str
    name: str
    kind: str
    span: Span
    name_span: Span
    signature: str
    docstring: str
    text: str
    content_hash: str = field(default="")

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self))

    @property
    def embed_text(self) -> str:
        """The text given to the embedding model: context header first, then the body."""
        return embed_text(self)


def content_hash(chunk: Chunk) -> str:
    """Hash of what identifies a chunk's content, independent of where it lives.

    The path and line numbers are left out on purpose: a function whose text did not change
    keeps its cached embedding when its file is renamed or moved, or when lines above it shift.
    """
    digest = hashlib.blake2b(digest_size=16)
    for part in (chunk.language, chunk.kind, chunk.name, chunk.text):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def embed_text(chunk: Chunk) -> str:
    """Build the embedded text: path, qualified name and kind as context, then the code.

    The header goes first so that a long body, which the model truncates, never pushes the
    function's identity out of the model's window.
    """
    header = f"{chunk.path} {chunk.language} {chunk.kind} {chunk.name}"
    body = chunk.text
    if len(body) > MAX_BODY_CHARS:
        body = body[:MAX_BODY_CHARS]
    return f"{header}\n{body}"


def preview(chunk: Chunk, max_lines: int = 4, max_chars: int = 300) -> str:
    """The first lines of a chunk, for result lists: enough to recognise it at a glance.

    Secrets in them (core/secrets.py) are shown as «redacted»: previews travel into explanation
    sources, caches and logs.
    """
    lines = [line.rstrip() for line in chunk.text.splitlines()[:max_lines]]
    text, _ = redact("\n".join(lines))
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"
