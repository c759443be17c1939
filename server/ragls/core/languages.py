"""Which language a file is in, decided by its extension (or name, for a few well-known files).

Languages with a tree-sitter grammar are chunked by function; the others that are still worth
indexing as text are chunked by line windows.
"""

from __future__ import annotations

from pathlib import PurePath

# Languages the tree-sitter chunker understands (one grammar package each).
PARSED_LANGUAGES = (
    "python",
    "javascript",
    "typescript",
    "tsx",
    "go",
    "rust",
    "java",
    "c",
    "cpp",
    "ruby",
)

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".h++": "cpp",
    ".ipp": "cpp",
    ".rb": "ruby",
    ".rake": "ruby",
    ".gemspec": "ruby",
    # Text-only languages: indexed as line windows, no grammar shipped.
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".swift": "swift",
    ".scala": "scala",
    ".cs": "csharp",
    ".php": "php",
    ".lua": "lua",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".pl": "perl",
    ".pm": "perl",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".hs": "haskell",
    ".ml": "ocaml",
    ".dart": "dart",
    ".zig": "zig",
    ".sql": "sql",
    ".vue": "vue",
    ".svelte": "svelte",
}

FILENAMES: dict[str, str] = {
    "Rakefile": "ruby",
    "Gemfile": "ruby",
}


def language_for_path(path: str | PurePath) -> str | None:
    """The language of a file, or None when ragls does not index that kind of file."""
    pure = PurePath(path)
    if pure.name in FILENAMES:
        return FILENAMES[pure.name]
    return EXTENSIONS.get(pure.suffix.lower())


def is_parsed(language: str) -> bool:
    """True when `language` has a tree-sitter grammar and is chunked by function."""
    return language in PARSED_LANGUAGES
