"""C and C++: function definitions, named from their declarator.

C++ names are qualified with '::' by namespaces and classes, and keep the qualifier written on
out-of-line definitions (`void Foo::bar() {}` -> `Foo::bar`); template arguments are dropped.
"""

from __future__ import annotations

from tree_sitter import Node

from ragls.core.chunk import CONSTRUCTOR, FUNCTION, METHOD
from ragls.core.chunking.base import (
    FunctionInfo,
    collapse_whitespace,
    first_named_child,
    header_end,
    node_text,
    point,
    signature_between,
)
from ragls.core.chunking.docs import comment_block_above, with_doc_above
from ragls.core.chunking.source import SourceText

_NAMES = frozenset(
    {
        "identifier",
        "field_identifier",
        "qualified_identifier",
        "operator_name",
        "destructor_name",
        "operator_cast",
        "template_function",
    }
)
_CLASSES = frozenset({"class_specifier", "struct_specifier", "union_specifier"})


class CChunker:
    """Describes C `function_definition` matches."""

    qualify = False

    def describe(
        self, function: Node, name: Node | None, source: SourceText, root: Node
    ) -> FunctionInfo | None:
        """Name, kind, span start (comment block above included), signature and doc."""
        name_node = declared_name(name) if name is not None else None
        if name_node is None:
            return None
        segments, innermost = name_segments(name_node)
        if not segments:
            return None
        scopes = enclosing_scopes(function) if self.qualify else []
        outer = _outer(function)
        start, doc, doc_ranges = with_doc_above(source, point(outer), comment_block_above)
        body = function.child_by_field_name("body")
        signature_end = header_end(function, body)
        return FunctionInfo(
            name="::".join([*(scope for scope, _ in reversed(scopes)), *segments]),
            kind=_kind(segments, scopes),
            node=function,
            name_node=innermost,
            start=start,
            signature=signature_between(source, outer.start_byte, signature_end),
            docstring=doc,
            doc_ranges=doc_ranges,
        )


class CppChunker(CChunker):
    """Describes C++ `function_definition` matches, qualified by namespaces and classes."""

    qualify = True


def declared_name(declarator: Node) -> Node | None:
    """The name inside a (possibly pointer, reference or parenthesized) declarator."""
    node: Node | None = declarator
    while node is not None and node.type not in _NAMES:
        inner = node.child_by_field_name("declarator")
        node = inner if inner is not None else first_named_child(node)
    return node


def name_segments(name: Node) -> tuple[list[str], Node]:
    """The '::' segments of a declared name and the node of its last segment."""
    segments: list[str] = []
    node = name
    while node.type == "qualified_identifier":
        scope = node.child_by_field_name("scope")
        if scope is not None:
            segments.append(_scope_segment(scope))
        inner = node.child_by_field_name("name")
        if inner is None:
            break
        node = inner
    segments.append(_simple_name(node))
    return [segment for segment in segments if segment], node


def enclosing_scopes(function: Node) -> list[tuple[str, str]]:
    """(name, node type) of enclosing namespaces, classes and functions, innermost first."""
    scopes = []
    node = function.parent
    while node is not None:
        kind = node.type
        if kind == "namespace_definition" or kind in _CLASSES:
            scope_name = node.child_by_field_name("name")
            if scope_name is not None:
                scopes.append((_scope_segment(scope_name), kind))
        elif kind == "function_definition":
            declarator = node.child_by_field_name("declarator")
            name = declared_name(declarator) if declarator is not None else None
            if name is not None:
                scopes.append(("::".join(name_segments(name)[0]), kind))
        node = node.parent
    return scopes


def _scope_segment(scope: Node) -> str:
    """A namespace or class name as written, without template arguments."""
    if scope.type == "template_type":
        name = scope.child_by_field_name("name")
        return node_text(name) if name is not None else ""
    return "".join(node_text(scope).split())


def _simple_name(node: Node) -> str:
    """An unqualified function name: identifier, `~Foo`, `operator==`, `operator bool`."""
    kind = node.type
    if kind == "template_function":
        name = node.child_by_field_name("name")
        return node_text(name) if name is not None else node_text(node)
    if kind == "operator_cast":
        cast_type = node.child_by_field_name("type")
        return "operator " + (collapse_whitespace(node_text(cast_type)) if cast_type else "")
    text = collapse_whitespace(node_text(node))
    if kind == "operator_name" and text.startswith("operator "):
        rest = text[len("operator ") :]
        # `operator new` keeps its space; symbols are glued on: `operator ==` -> `operator==`.
        return "operator" + rest if not rest[:1].isalpha() else text
    if kind == "destructor_name":
        return "".join(text.split())
    return text


def _kind(segments: list[str], scopes: list[tuple[str, str]]) -> str:
    """CONSTRUCTOR when named like its class, METHOD inside or qualified by a class."""
    if scopes and scopes[0][1] in _CLASSES:
        return CONSTRUCTOR if segments == [scopes[0][0]] else METHOD
    if len(segments) >= 2:
        return CONSTRUCTOR if segments[-1] == segments[-2] else METHOD
    return FUNCTION


def _outer(function: Node) -> Node:
    """The template declarations wrapping `function`, or `function` itself."""
    node = function
    while node.parent is not None and node.parent.type == "template_declaration":
        node = node.parent
    return node
