"""Rust: `fn` items, qualified with '::' by modules, impl self types, traits and outer fns."""

from __future__ import annotations

import inspect

from tree_sitter import Node

from ragls.core.chunk import FUNCTION, METHOD
from ragls.core.chunking.base import (
    FunctionInfo,
    collapse_whitespace,
    header_end,
    node_text,
    point,
    signature_between,
)
from ragls.core.chunking.docs import clean_block_comment
from ragls.core.chunking.source import SourceText

_TYPE_SCOPES = ("impl_item", "trait_item")


class RustChunker:
    """Describes `function_item` matches."""

    def describe(
        self, function: Node, name: Node | None, source: SourceText, root: Node
    ) -> FunctionInfo | None:
        """Qualified name, kind, span start (doc comments and attributes), signature, doc."""
        if name is None:
            return None
        scopes = enclosing_scopes(function)
        qualified = "::".join([*(scope for scope, _ in reversed(scopes)), node_text(name)])
        first, doc_comments = _leading_items(function)
        body = function.child_by_field_name("body")
        signature_end = header_end(function, body)
        return FunctionInfo(
            name=qualified,
            kind=METHOD if scopes and scopes[0][1] in _TYPE_SCOPES else FUNCTION,
            node=function,
            name_node=name,
            start=point(first),
            signature=signature_between(source, function.start_byte, signature_end),
            docstring=_doc_text(doc_comments),
            doc_ranges=tuple((comment.start_byte, comment.end_byte) for comment in doc_comments),
        )


def enclosing_scopes(function: Node) -> list[tuple[str, str]]:
    """(name, node type) of enclosing modules, impls, traits and functions, innermost first."""
    scopes = []
    node = function.parent
    while node is not None:
        kind = node.type
        if kind == "impl_item":
            self_type = node.child_by_field_name("type")
            if self_type is not None:
                scopes.append((type_name(self_type), kind))
        elif kind in ("trait_item", "mod_item", "function_item"):
            scope_name = node.child_by_field_name("name")
            if scope_name is not None:
                scopes.append((node_text(scope_name), kind))
        node = node.parent
    return scopes


def type_name(type_node: Node) -> str:
    """A type's name without generic arguments or path: `a::Foo<T>` -> `Foo`."""
    kind = type_node.type
    if kind == "generic_type":
        inner = type_node.child_by_field_name("type")
        return type_name(inner) if inner is not None else node_text(type_node)
    if kind == "scoped_type_identifier":
        inner = type_node.child_by_field_name("name")
        return node_text(inner) if inner is not None else node_text(type_node)
    return collapse_whitespace(node_text(type_node))


def _leading_items(function: Node) -> tuple[Node, list[Node]]:
    """The first of the attributes and outer doc comments directly above `function`.

    Returns that node (or `function`) and the doc comments, top to bottom.
    """
    first = function
    docs: list[Node] = []
    sibling = function.prev_sibling
    while sibling is not None and sibling.end_point[0] >= first.start_point[0] - 1:
        if sibling.type == "attribute_item":
            pass
        elif _is_outer_doc(sibling):
            docs.append(sibling)
        else:
            break
        first = sibling
        sibling = sibling.prev_sibling
    docs.reverse()
    return first, docs


def _is_outer_doc(node: Node) -> bool:
    """True for `///` and `/** */` comments (not `//!`, `/*!` or plain comments)."""
    if node.type not in ("line_comment", "block_comment"):
        return False
    return node.child_by_field_name("outer") is not None


def _doc_text(comments: list[Node]) -> str:
    """Clean doc comment nodes into one docstring."""
    parts = []
    for comment in comments:
        if comment.type == "block_comment":
            parts.append(clean_block_comment(comment.text or b""))
        else:
            text = node_text(comment).strip().removeprefix("///")
            parts.append(text[1:] if text.startswith(" ") else text)
    return inspect.cleandoc("\n".join(parts))
