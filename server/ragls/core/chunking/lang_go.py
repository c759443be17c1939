"""Go: functions as `pkg.Func`, methods as `pkg.Type.Method`."""

from __future__ import annotations

from tree_sitter import Node

from ragls.core.chunk import FUNCTION, METHOD
from ragls.core.chunking.base import (
    FunctionInfo,
    first_named_child,
    header_end,
    node_text,
    point,
    signature_between,
)
from ragls.core.chunking.docs import DocComment, line_comment_above, with_doc_above
from ragls.core.chunking.source import SourceText


class GoChunker:
    """Describes `function_declaration` and `method_declaration` matches."""

    def __init__(self) -> None:
        # (tree, package) of the last file seen: every function of a file asks again.
        self._package: tuple[Node | None, str] = (None, "")

    def _package_of(self, root: Node) -> str:
        """The package name of `root`'s file, looked up once per tree."""
        cached_root, package = self._package
        if cached_root is None or cached_root != root:
            package = package_name(root)
            self._package = (root, package)
        return package

    def describe(
        self, function: Node, name: Node | None, source: SourceText, root: Node
    ) -> FunctionInfo | None:
        """Qualified name, kind, span start (doc comment included), signature and doc."""
        if name is None:
            return None
        parts = [self._package_of(root)]
        is_method = function.type == "method_declaration"
        if is_method:
            parts.append(receiver_type(function))
        parts.append(node_text(name))
        start, doc, doc_ranges = with_doc_above(source, point(function), _go_doc_above)
        body = function.child_by_field_name("body")
        signature_end = header_end(function, body)
        return FunctionInfo(
            name=".".join(part for part in parts if part),
            kind=METHOD if is_method else FUNCTION,
            node=function,
            name_node=name,
            start=start,
            signature=signature_between(source, function.start_byte, signature_end),
            docstring=doc,
            doc_ranges=doc_ranges,
        )


def package_name(root: Node) -> str:
    """The name in the file's `package` clause, or '' when there is none."""
    for child in root.children:
        if child.type == "package_clause":
            identifier = first_named_child(child)
            return node_text(identifier) if identifier is not None else ""
    return ""


def receiver_type(method: Node) -> str:
    """The receiver's type name without `*` or type arguments."""
    receiver = method.child_by_field_name("receiver")
    declaration = first_named_child(receiver) if receiver is not None else None
    if declaration is None:
        return ""
    type_node = declaration.child_by_field_name("type")
    while type_node is not None and type_node.type in (
        "pointer_type",
        "generic_type",
        "parenthesized_type",
    ):
        if type_node.type == "generic_type":
            type_node = type_node.child_by_field_name("type")
        else:
            type_node = first_named_child(type_node)
    return node_text(type_node) if type_node is not None else ""


def _go_doc_above(source: SourceText, row: int) -> DocComment | None:
    """The `//` comment lines directly above `row`."""
    return line_comment_above(source, row, b"//")
