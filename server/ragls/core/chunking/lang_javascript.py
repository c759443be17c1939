"""JavaScript, TypeScript and TSX: declarations, methods and functions bound to a name.

Names are qualified with '.' by enclosing classes, TS namespaces, named object literals and
named functions; anonymous callbacks add nothing to the name.
"""

from __future__ import annotations

from tree_sitter import Node

from ragls.core.chunk import CONSTRUCTOR, FUNCTION, METHOD
from ragls.core.chunking.base import FunctionInfo, header_end, node_text, point, signature_between
from ragls.core.chunking.docs import DocComment, block_comment_above, with_doc_above
from ragls.core.chunking.source import SourceText

_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "generator_function"})
_NAMED_FUNCTIONS = frozenset(
    {"function_declaration", "generator_function_declaration", "method_definition"}
)
_CLASSES = frozenset({"class_declaration", "abstract_class_declaration", "class"})
_NAMESPACES = frozenset({"internal_module", "module"})
_FIELDS = frozenset({"field_definition", "public_field_definition"})
_DECLARATIONS = frozenset({"lexical_declaration", "variable_declaration"})


class JavaScriptChunker:
    """Describes matches of the javascript / typescript function queries."""

    def describe(
        self, function: Node, name: Node | None, source: SourceText, root: Node
    ) -> FunctionInfo | None:
        """Qualified name, kind, span start (decorators and JSDoc included), signature, doc."""
        own = function_name(function)
        if own is None:
            return None
        own_name, name_node = own
        qualified = ".".join([*scope_names(function), own_name])
        outer = _outer(function)
        start, doc, doc_ranges = with_doc_above(source, _after_decorators(outer), _jsdoc_above)
        body = function.child_by_field_name("body")
        signature_end = header_end(function, body)
        return FunctionInfo(
            name=qualified,
            kind=_kind(function, own_name),
            node=function,
            name_node=name_node,
            start=start,
            signature=signature_between(source, outer.start_byte, signature_end),
            docstring=doc,
            doc_ranges=doc_ranges,
            end_node=outer,
        )


def function_name(function: Node) -> tuple[str, Node] | None:
    """The name a function is known by and the node holding it, or None if anonymous."""
    if function.type in _NAMED_FUNCTIONS:
        name = function.child_by_field_name("name")
        return (_property_name(name), name) if name is not None else None
    parent = function.parent
    if parent is None:
        return None
    if parent.type == "export_statement":
        return "default", _default_keyword(parent) or function
    return _binding_name(parent)


def scope_names(function: Node) -> list[str]:
    """Names of the enclosing classes, namespaces, named objects and functions, outermost first."""
    names = []
    node = function.parent
    while node is not None:
        scope = _scope_name(node)
        if scope is not None:
            names.append(scope)
        node = node.parent
    names.reverse()
    return names


def _scope_name(node: Node) -> str | None:
    """The name `node` contributes to a qualified name, or None if it adds nothing."""
    kind = node.type
    if kind in _CLASSES:
        name = node.child_by_field_name("name")
        if name is not None:
            return node_text(name)
        return _value_name(node)
    if kind == "object":
        return _value_name(node)
    if kind in _NAMESPACES:
        name = node.child_by_field_name("name")
        return node_text(name) if name is not None else None
    if kind in _NAMED_FUNCTIONS or kind in _FUNCTION_VALUES:
        named = function_name(node)
        return named[0] if named is not None else None
    return None


def _value_name(value: Node) -> str | None:
    """The name an expression (object, class expression) is bound to, if any."""
    parent = value.parent
    if parent is None:
        return None
    if parent.type == "export_statement":
        return "default"
    bound = _binding_name(parent)
    return bound[0] if bound is not None else None


def _binding_name(binding: Node) -> tuple[str, Node] | None:
    """Name and name node of a declarator, assignment, object pair or class field."""
    kind = binding.type
    if kind == "variable_declarator":
        name = binding.child_by_field_name("name")
    elif kind == "assignment_expression":
        name = binding.child_by_field_name("left")
    elif kind == "pair":
        name = binding.child_by_field_name("key")
    elif kind == "field_definition":
        name = binding.child_by_field_name("property")
    elif kind == "public_field_definition":
        name = binding.child_by_field_name("name")
    else:
        return None
    if name is None:
        return None
    return _property_name(name), name


def _property_name(name: Node) -> str:
    """Readable text of a name node: quotes dropped, `this.` dropped, spaces collapsed."""
    text = "".join(node_text(name).split())
    if name.type == "string" and len(text) >= 2:
        return text[1:-1]
    return text.removeprefix("this.")


def _default_keyword(export: Node) -> Node | None:
    """The `default` token of an export statement."""
    for child in export.children:
        if child.type == "default":
            return child
    return None


def _kind(function: Node, own_name: str) -> str:
    """CONSTRUCTOR, METHOD for class/object members and prototype assignments, else FUNCTION."""
    parent = function.parent
    if function.type == "method_definition":
        in_class = parent is not None and parent.type == "class_body"
        return CONSTRUCTOR if in_class and own_name == "constructor" else METHOD
    if parent is None or function.type not in _FUNCTION_VALUES:
        return FUNCTION
    if parent.type == "pair" or parent.type in _FIELDS:
        return METHOD
    if parent.type == "assignment_expression" and ".prototype." in own_name:
        return METHOD
    return FUNCTION


def _outer(function: Node) -> Node:
    """The statement that holds the function: export, declaration or assignment statement."""
    node = function
    parent = function.parent
    if function.type in _FUNCTION_VALUES and parent is not None:
        if parent.type == "variable_declarator":
            node = _declaration_of(parent)
        elif parent.type in ("assignment_expression", "pair") or parent.type in _FIELDS:
            node = parent
            if parent.parent is not None and parent.parent.type == "expression_statement":
                node = parent.parent
    parent = node.parent
    if parent is not None and parent.type == "export_statement":
        return parent
    return node


def _declaration_of(declarator: Node) -> Node:
    """The `const`/`let`/`var` statement of a declarator when it declares nothing else."""
    declaration = declarator.parent
    if (
        declaration is not None
        and declaration.type in _DECLARATIONS
        and declaration.named_child_count == 1
    ):
        return declaration
    return declarator


def _after_decorators(outer: Node) -> tuple[int, int]:
    """The start of `outer`, moved up over TypeScript decorators that precede it as siblings."""
    start = outer
    sibling = outer.prev_named_sibling
    while sibling is not None and sibling.type == "decorator":
        start = sibling
        sibling = sibling.prev_named_sibling
    return point(start)


def _jsdoc_above(source: SourceText, row: int) -> DocComment | None:
    """A `/** ... */` comment ending just above `row`."""
    return block_comment_above(source, row, b"/**")
