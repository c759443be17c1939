"""Tree-sitter grammars, parsers and function queries, each built once per language."""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources

from tree_sitter import Language, Parser, Query

# language -> (grammar package, function returning the language pointer, query file stem)
_GRAMMARS: dict[str, tuple[str, str, str]] = {
    "python": ("tree_sitter_python", "language", "python"),
    "javascript": ("tree_sitter_javascript", "language", "javascript"),
    "typescript": ("tree_sitter_typescript", "language_typescript", "typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx", "typescript"),
    "go": ("tree_sitter_go", "language", "go"),
    "rust": ("tree_sitter_rust", "language", "rust"),
    "java": ("tree_sitter_java", "language", "java"),
    "c": ("tree_sitter_c", "language", "c"),
    "cpp": ("tree_sitter_cpp", "language", "cpp"),
    "ruby": ("tree_sitter_ruby", "language", "ruby"),
}


@dataclass(frozen=True, slots=True)
class Grammar:
    """A loaded grammar and its compiled function query."""

    language: Language
    query: Query


_parsers = threading.local()


def has_grammar(language: str) -> bool:
    """True when a tree-sitter grammar is known for `language`."""
    return language in _GRAMMARS


@cache
def grammar(language: str) -> Grammar:
    """The grammar and function query of `language`, loaded on first use."""
    package, function, query_stem = _GRAMMARS[language]
    module = importlib.import_module(package)
    loaded = Language(getattr(module, function)())
    return Grammar(loaded, Query(loaded, query_source(query_stem)))


def parser(language: str) -> Parser:
    """A parser for `language`; one per thread, because parsers are not thread-safe."""
    cached: dict[str, Parser] | None = getattr(_parsers, "by_language", None)
    if cached is None:
        cached = {}
        _parsers.by_language = cached
    found = cached.get(language)
    if found is None:
        found = Parser(grammar(language).language)
        cached[language] = found
    return found


def query_source(stem: str) -> str:
    """The text of `queries/<stem>.scm` shipped with this package."""
    return (
        resources.files(__package__).joinpath("queries").joinpath(f"{stem}.scm").read_text("utf-8")
    )
