"""Names in hovers are code spans, shown as written whatever Markdown would make of them."""

from ragls.lsp.hover import markdown_code


def test_names_become_code_spans():
    assert markdown_code("Cart.__init__") == "`Cart.__init__`"
    assert markdown_code("a*b[c]<d>") == "`a*b[c]<d>`"


def test_backticks_in_a_name_get_a_longer_fence():
    assert markdown_code("a`b") == "``a`b``"
    assert markdown_code("`x") == "`` `x ``"
