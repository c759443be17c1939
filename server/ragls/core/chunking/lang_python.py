"""Python: `def` / `async def`, qualified by enclosing classes and functions with '.'."""

from __future__ import annotations

from tree_sitter import Node

from ragls.core.chunk import CONSTRUCTOR, FUNCTION, METHOD
from ragls.core.chunking.base import (
    FunctionInfo,
    first_named_child,
    header_end,
    node_text,
    point,
    signature_between,
)
from ragls.core.chunking.docs import clean_string_literal
from ragls.core.chunking.source import SourceText

_SCOPES = ("class_definition", "function_definition")


class PythonChunker:
    """Describes `function_definition` matches."""

    def describe(
        self, function: Node, name: Node | None, source: SourceText, root: Node
    ) -> FunctionInfo | None:
        """Qualified name, kind, span start (decorators included), signature and docstring."""
        if name is None:
            return None
        own_name = node_text(name)
        scopes = enclosing_scopes(function)
        qualified = ".".join([*(node_text(n) for n, _ in reversed(scopes)), own_name])
        body = function.child_by_field_name("body")
        signature_end = header_end(function, body)
        return FunctionInfo(
            name=qualified,
            kind=_kind(own_name, scopes),
            node=function,
            name_node=name,
            start=point(_outer(function)),
            signature=signature_between(source, function.start_byte, signature_end, strip=":"),
            docstring=docstring(body),
            doc_ranges=_ranges(docstring_literal(body)),
        )


def enclosing_scopes(function: Node) -> list[tuple[Node, str]]:
    """(name node, scope type) of each enclosing class or function, innermost first."""
    scopes = []
    node = function.parent
    while node is not None:
        if node.type in _SCOPES:
            scope_name = node.child_by_field_name("name")
            if scope_name is not None:
                scopes.append((scope_name, node.type))
        node = node.parent
    return scopes


def docstring(body: Node | None) -> str:
    """The cleaned first string statement of a function body, or ''."""
    literal = docstring_literal(body)
    return clean_string_literal(node_text(literal)) if literal is not None else ""


def docstring_literal(body: Node | None) -> Node | None:
    """The string literal that is the first statement of a function body, or None."""
    if body is None:
        return None
    first = first_named_child(body)
    while first is not None and first.type == "comment":
        first = first.next_named_sibling
    if first is None or first.type != "expression_statement" or first.named_child_count != 1:
        return None
    literal = first_named_child(first)
    return literal if literal is not None and literal.type == "string" else None


def _ranges(node: Node | None) -> tuple[tuple[int, int], ...]:
    return () if node is None else ((node.start_byte, node.end_byte),)


def _kind(own_name: str, scopes: list[tuple[Node, str]]) -> str:
    """METHOD directly inside a class (CONSTRUCTOR for __init__), else FUNCTION."""
    if not scopes or scopes[0][1] != "class_definition":
        return FUNCTION
    return CONSTRUCTOR if own_name == "__init__" else METHOD


def _outer(function: Node) -> Node:
    """The decorated definition wrapping `function`, or `function` itself."""
    parent = function.parent
    if parent is not None and parent.type == "decorated_definition":
        return parent
    return function
