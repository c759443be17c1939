"""Ruby: `Mod::Class#method` for instance methods, `Mod::Class.method` for singleton ones."""

from __future__ import annotations

from tree_sitter import Node

from ragls.core.chunk import CONSTRUCTOR, FUNCTION, METHOD
from ragls.core.chunking.base import FunctionInfo, node_text, point, signature_between
from ragls.core.chunking.docs import DocComment, line_comment_above, with_doc_above
from ragls.core.chunking.source import SourceText

_NAMESPACES = ("class", "module")


class RubyChunker:
    """Describes `method` and `singleton_method` matches."""

    def describe(
        self, function: Node, name: Node | None, source: SourceText, root: Node
    ) -> FunctionInfo | None:
        """Qualified name, kind, span start (comment lines above included), signature, doc."""
        if name is None:
            return None
        namespaces, in_singleton_class = enclosing_namespaces(function)
        own_name = node_text(name)
        owner = "::".join(namespaces)
        singleton = in_singleton_class
        if function.type == "singleton_method":
            receiver = function.child_by_field_name("object")
            singleton = True
            if receiver is not None and receiver.type != "self":
                owner = "::".join([*namespaces, node_text(receiver)])
            elif not owner:
                owner = "self"
        start, doc, doc_ranges = with_doc_above(source, point(function), _ruby_doc_above)
        return FunctionInfo(
            name=_qualify(owner, own_name, singleton),
            kind=_kind(own_name, namespaces, singleton),
            node=function,
            name_node=name,
            start=start,
            signature=signature_between(source, function.start_byte, _signature_end(function)),
            docstring=doc,
            doc_ranges=doc_ranges,
        )


def enclosing_namespaces(function: Node) -> tuple[list[str], bool]:
    """Enclosing class/module names, outermost first, and whether a `class << self` is
    between the method and its nearest class or module."""
    names: list[str] = []
    in_singleton_class = False
    node = function.parent
    while node is not None:
        if node.type in _NAMESPACES:
            scope_name = node.child_by_field_name("name")
            if scope_name is not None:
                names.append(node_text(scope_name))
        elif node.type == "singleton_class" and not names:
            in_singleton_class = True
        node = node.parent
    names.reverse()
    return names, in_singleton_class


def _qualify(owner: str, own_name: str, singleton: bool) -> str:
    """Join owner and method with '.' (singleton) or '#' (instance)."""
    if not owner:
        return own_name
    return f"{owner}{'.' if singleton else '#'}{own_name}"


def _kind(own_name: str, namespaces: list[str], singleton: bool) -> str:
    """FUNCTION outside every class and module, CONSTRUCTOR for `initialize`, else METHOD."""
    if not namespaces:
        return FUNCTION
    if own_name == "initialize" and not singleton:
        return CONSTRUCTOR
    return METHOD


def _signature_end(function: Node) -> int:
    """End of the parameter list, or of the name when there are no parameters."""
    for field in ("parameters", "name"):
        node = function.child_by_field_name(field)
        if node is not None:
            return node.end_byte
    return function.end_byte


def _ruby_doc_above(source: SourceText, row: int) -> DocComment | None:
    """The `#` comment lines directly above `row`."""
    return line_comment_above(source, row, b"#")
