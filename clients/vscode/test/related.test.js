const test = require("node:test");
const assert = require("node:assert/strict");
const { relatedItem, relatedMessage } = require("../out/common/related.js");

const result = {
  uri: "file:///w/shop/cart.py",
  name: "Cart.total_price",
  kind: "method",
  score: 0.6149,
  range: { start: { line: 15, character: 4 } },
  preview: Array.from({ length: 20 }, (_, i) => `line ${i}`).join("\n"),
};
const describe = (uri) => uri.replace("file:///w/", "");

test("a related function shows its score, then its file and 1-based line", () => {
  const item = relatedItem(result, describe);
  assert.equal(item.label, "Cart.total_price");
  assert.equal(item.description, "0.61 · shop/cart.py:16");
  assert.equal(item.icon, "symbol-method");
});

test("functions get the function icon and results without a score show no score", () => {
  const item = relatedItem({ ...result, kind: "function", score: undefined }, describe);
  assert.equal(item.description, "shop/cart.py:16");
  assert.equal(item.icon, "symbol-function");
});

test("the tooltip preview is cut to the first 12 lines", () => {
  const lines = relatedItem(result, describe).preview.split("\n");
  assert.equal(lines.length, 12);
  assert.equal(lines[11], "line 11");
});

test("the message names the symbol and counts the results", () => {
  assert.equal(relatedMessage("Cart.add_item", 3), "Related to Cart.add_item: 3 functions, best first");
  assert.equal(relatedMessage(undefined, 1), "Related code: 1 function, best first");
});
