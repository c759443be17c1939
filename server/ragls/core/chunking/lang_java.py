"""Java: methods and constructors, qualified with '.' by enclosing types (and methods, for
local and anonymous classes)."""

from __future__ import annotations

from tree_sitter import Node

from ragls.core.chunk import CONSTRUCTOR, METHOD
from ragls.core.chunking.base import FunctionInfo, header_end, node_text, point, signature_between
from ragls.core.chunking.docs import DocComment, block_comment_above, with_doc_above
from ragls.core.chunking.source import SourceText

_SCOPES = frozenset(
    {
        "class_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "annotation_type_declaration",
        "method_declaration",
        "constructor_declaration",
    }
)
_CONSTRUCTORS = ("constructor_declaration", "compact_constructor_declaration")


class JavaChunker:
    """Describes method and constructor matches."""

    def describe(
        self, function: Node, name: Node | None, source: SourceText, root: Node
    ) -> FunctionInfo | None:
        """Qualified name, kind, span start (Javadoc included), signature and doc."""
        if name is None:
            return None
        qualified = ".".join([*scope_names(function), node_text(name)])
        start, doc, doc_ranges = with_doc_above(source, point(function), _javadoc_above)
        body = function.child_by_field_name("body")
        signature_end = header_end(function, body)
        return FunctionInfo(
            name=qualified,
            kind=CONSTRUCTOR if function.type in _CONSTRUCTORS else METHOD,
            node=function,
            name_node=name,
            start=start,
            signature=signature_between(source, function.start_byte, signature_end),
            docstring=doc,
            doc_ranges=doc_ranges,
        )


def scope_names(function: Node) -> list[str]:
    """Names of the enclosing types and methods, outermost first."""
    names = []
    node = function.parent
    while node is not None:
        if node.type in _SCOPES:
            scope_name = node.child_by_field_name("name")
            if scope_name is not None:
                names.append(node_text(scope_name))
        node = node.parent
    names.reverse()
    return names


def _javadoc_above(source: SourceText, row: int) -> DocComment | None:
    """A `/** ... */` comment ending just above `row`."""
    return block_comment_above(source, row, b"/**")
