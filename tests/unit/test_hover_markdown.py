"""Names in hovers are shown as written, whatever Markdown would make of them."""

from ragls.lsp.hover import markdown_literal


def test_dunder_names_are_not_bold():
    assert markdown_literal("Cart.__init__") == r"Cart.\_\_init\_\_"


def test_every_markdown_special_character_is_escaped():
    assert markdown_literal(r"a*b[c]<d>`e`#f|g~h!i\j") == r"a\*b\[c\]\<d\>\`e\`\#f\|g\~h\!i\\j"


def test_plain_qualified_names_are_unchanged():
    for name in ("Cart.total", "pkg.Type.Method", "ns::Class::method", "Type::fn"):
        assert markdown_literal(name) == name
