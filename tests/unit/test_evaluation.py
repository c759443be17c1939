"""The pieces of `ragls eval` that need no model: queries from docs, test code, doc stripping."""

from __future__ import annotations

import pytest

from ragls.core.chunking import chunk_source, function_docs, strip_docs
from ragls.core.roles import EXAMPLE, IMPLEMENTATION, TEST, code_role
from ragls.services.evaluation import first_sentence, query_of

PYTHON = b'''class Cart:
    def total(self, rate):
        """Sum the prices of every item in the cart, with the `tax` rate applied.

        Returns a float.
        """
        subtotal = sum(self.prices)
        taxed = subtotal * (1 + rate)
        rounded = round(taxed, 2)
        return rounded

    def short(self):
        """Too short to be a query."""
        return 1
'''
GO = b'''package cart

// Total sums the prices of every item of the cart
// with the given tax rate applied.
func Total(prices []float64, rate float64) float64 {
	sum := 0.0
	for _, p := range prices {
		sum += p
	}
	return sum * (1 + rate)
}
'''


@pytest.mark.parametrize(
    ("doc", "sentence"),
    [
        ("Sum the prices of every item. Then round them.", "Sum the prices of every item."),
        ("Parse the {@link Config} file and return its `sections`.\n@param path the file", "Parse the Config file and return its sections."),
        ("Read [the docs](https://x.y) about <code>foo</code> and :func:`bar` now.", "Read the docs about foo and bar now."),
        ("First paragraph\nwraps here\n\nSecond paragraph.", "First paragraph wraps here"),
        ("Returns the value.\n\nArgs:\n    x: the thing", "Returns the value."),
        ("Creates a `Foo` from `e.g. bar`.", "Creates a Foo from e.g. bar."),
    ],
)
def test_the_first_sentence_of_a_doc_without_markup(doc, sentence):
    assert first_sentence(doc) == sentence


def test_python_docs_are_found_stripped_and_lines_kept():
    docs = function_docs("shop/cart.py", PYTHON, "python")
    assert [doc.chunk.name for doc in docs] == ["Cart.total", "Cart.short"]
    stripped = strip_docs(PYTHON, "python", docs)
    assert stripped.count(b"\n") == PYTHON.count(b"\n") and b"Sum the prices" not in stripped
    chunks = {c.name: c for c in chunk_source("shop/cart.py", stripped, "python")}
    assert chunks["Cart.total"].docstring == "" and chunks["Cart.total"].name_span == docs[0].chunk.name_span
    query = query_of(docs[0], chunks["Cart.total"])
    assert query.text == "Sum the prices of every item in the cart, with the tax rate applied."
    assert (query.path, query.name, query.line, query.language) == ("shop/cart.py", "Cart.total", 1, "python")
    assert query_of(docs[1], chunks["Cart.short"]) is None  # too few words and lines


def test_comment_docs_are_stripped_to_empty_lines():
    docs = function_docs("cart/total.go", GO, "go")
    stripped = strip_docs(GO, "go", docs)
    assert stripped.split(b"\n")[2:4] == [b"", b""] and stripped.count(b"\n") == GO.count(b"\n")
    (chunk,) = [c for c in chunk_source("cart/total.go", stripped, "go") if c.name == "cart.Total"]
    assert query_of(docs[0], chunk).text == "Total sums the prices of every item of the cart with the given tax rate applied."


@pytest.mark.parametrize(
    ("path", "name", "role"),
    [
        ("src/cart.py", "Cart.total", IMPLEMENTATION),
        ("tests/test_cart.py", "test_total", TEST),
        ("src/test_helpers.py", "make", TEST),
        ("cart/total_test.go", "cart.TestTotal", TEST),
        ("cart/total.go", "cart.BenchmarkTotal", TEST),
        ("cart/example_test.go", "cart.ExampleTotal", TEST),
        ("cart/doc.go", "cart.ExampleTotal", EXAMPLE),
        ("src/cart.spec.ts", "describe", TEST),
        ("spec/cart_spec.rb", "Cart#total", TEST),
        ("examples/basic.rs", "main", EXAMPLE),
        ("src/latest.py", "contest", IMPLEMENTATION),
        ("src/protest.ts", "attestation", IMPLEMENTATION),
    ],
)
def test_code_roles_follow_the_test_tools_conventions(path, name, role):
    assert code_role(path, name) == role
