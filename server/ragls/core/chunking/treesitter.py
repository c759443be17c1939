"""Function chunks from a tree-sitter parse: run the language's query, describe each match."""

from __future__ import annotations

from tree_sitter import Node, QueryCursor

from ragls.core.chunk import Chunk
from ragls.core.chunking.base import FunctionInfo, LanguageChunker
from ragls.core.chunking.grammars import grammar, parser
from ragls.core.chunking.lang_c import CChunker, CppChunker
from ragls.core.chunking.lang_go import GoChunker
from ragls.core.chunking.lang_java import JavaChunker
from ragls.core.chunking.lang_javascript import JavaScriptChunker
from ragls.core.chunking.lang_python import PythonChunker
from ragls.core.chunking.lang_ruby import RubyChunker
from ragls.core.chunking.lang_rust import RustChunker
from ragls.core.chunking.source import SourceText
from ragls.core.chunking.windows import module_residue

_CHUNKERS: dict[str, LanguageChunker] = {
    "python": PythonChunker(),
    "javascript": JavaScriptChunker(),
    "typescript": JavaScriptChunker(),
    "tsx": JavaScriptChunker(),
    "go": GoChunker(),
    "rust": RustChunker(),
    "java": JavaChunker(),
    "c": CChunker(),
    "cpp": CppChunker(),
    "ruby": RubyChunker(),
}


def parsed_chunks(path: str, language: str, source: SourceText) -> list[Chunk] | None:
    """Function chunks plus module residue, or None when the file should be windowed instead.

    None means the tree has errors and no function could be found in it.
    """
    root = parser(language).parse(source.data).root_node
    functions = find_functions(language, root, source)
    if not functions and root.has_error:
        return None
    chunks = [_to_chunk(path, language, source, info) for info in functions]
    covered = [_covered_rows(chunk) for chunk in chunks]
    chunks.extend(module_residue(path, language, source, covered))
    chunks.sort(key=lambda chunk: (chunk.span.start_line, chunk.span.start_col))
    return chunks


def functions_with_doc_ranges(
    path: str, language: str, source: SourceText
) -> list[tuple[Chunk, tuple[tuple[int, int], ...]]]:
    """Every function chunk (no module residue) with the byte ranges its docstring came from."""
    root = parser(language).parse(source.data).root_node
    return [(_to_chunk(path, language, source, info), info.doc_ranges) for info in find_functions(language, root, source)]


def find_functions(language: str, root: Node, source: SourceText) -> list[FunctionInfo]:
    """Every function the language's query finds under `root`, described by its chunker."""
    chunker = _CHUNKERS[language]
    seen: set[tuple[int, int]] = set()
    functions = []
    for _, captures in QueryCursor(grammar(language).query).matches(root):
        function = captures["function"][0]
        key = (function.start_byte, function.end_byte)
        if key in seen:
            continue
        seen.add(key)
        names = captures.get("name")
        info = chunker.describe(function, names[0] if names else None, source, root)
        if info is not None:
            functions.append(info)
    return functions


def _to_chunk(path: str, language: str, source: SourceText, info: FunctionInfo) -> Chunk:
    """Build the Chunk of one described function."""
    node = info.end_node or info.node
    end = node.end_point
    start_byte = source.byte_offset(*info.start)
    return Chunk(
        path=path,
        language=language,
        name=info.name,
        kind=info.kind,
        span=source.span(info.start, (end[0], end[1])),
        name_span=source.span(
            (info.name_node.start_point[0], info.name_node.start_point[1]),
            (info.name_node.end_point[0], info.name_node.end_point[1]),
        ),
        signature=info.signature,
        docstring=info.docstring,
        text=source.text(start_byte, node.end_byte),
    )


def _covered_rows(chunk: Chunk) -> tuple[int, int]:
    """The inclusive line range a chunk takes away from the module residue."""
    span = chunk.span
    last = span.end_line
    # A node ending at column 0 (e.g. one that swallowed its newline) does not use that line.
    if span.end_col == 0 and last > span.start_line:
        last -= 1
    return span.start_line, last
