const test = require("node:test");
const assert = require("node:assert/strict");
const { renderMarkdown, renderPage, escapeHtml, sourceLink } = require("../out/common/markdown.js");

test("Markdown is rendered", () => {
  const html = renderMarkdown("`add_item` appends **items** [1]\n\n```py\nx = 1 < 2\n```");
  assert.match(html, /<code>add_item<\/code>/);
  assert.match(html, /<strong>items<\/strong>/);
  assert.match(html, /x = 1 &lt; 2/);
});

test("raw HTML in the answer is escaped, never rendered", () => {
  const html = renderMarkdown('<script>alert(1)</script>\n\n<img src=x onerror="alert(1)"> <b>bold</b>');
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /<img/i);
  assert.doesNotMatch(html, /<b>/);
  assert.match(html, /&lt;script&gt;/);
});

test("command:, javascript: and data: links are not links", () => {
  const html = renderMarkdown(
    "[run](command:workbench.action.terminal.sendSequence?%7B%7D) [js](javascript:alert(1)) [d](data:text/html,x) [ok](https://example.com/) [f](file:///tmp/a.py#L3)",
  );
  assert.doesNotMatch(html, /href="command:/i);
  assert.doesNotMatch(html, /href="javascript:/i);
  assert.doesNotMatch(html, /href="data:/i);
  assert.match(html, /href="https:\/\/example.com\/"/);
  assert.match(html, /href="file:\/\/\/tmp\/a.py#L3"/);
});

test("images are shown as their alt text", () => {
  const html = renderMarkdown("![tracking pixel](https://evil.example/p.png)");
  assert.doesNotMatch(html, /<img/i);
  assert.match(html, /tracking pixel/);
});

test("the page has a strict CSP without scripts and escapes every field", () => {
  const page = renderPage({
    title: "ragls: why <b>?",
    markdown: "hi <script>x</script>",
    status: "<i>status</i>",
    sources: [{ uri: "file:///w/a%20b.py", name: "A.<f>", range: { start: { line: 4, character: 2 } }, score: 0.51234 }],
  });
  assert.match(page, /Content-Security-Policy" content="default-src 'none';[^"]*script-src 'none'/);
  assert.doesNotMatch(page, /<script/i);
  assert.doesNotMatch(page, /<b>|<i>/);
  assert.match(page, /A\.&lt;f&gt;/);
  assert.match(page, /\/w\/a b\.py:5/);
  assert.match(page, /0\.51/);
});

test("escapeHtml escapes quotes too", () => {
  assert.equal(escapeHtml(`<a href="x" title='y'>&`), "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;");
});

test("each source is a link running ragls.openSource with its uri, line and character", () => {
  const source = { uri: "file:///w/a%20b.py", name: "f", range: { start: { line: 4, character: 2 } } };
  const link = sourceLink(source);
  assert.match(link, /^command:ragls\.openSource\?/);
  assert.deepEqual(JSON.parse(decodeURIComponent(link.split("?")[1])), ["file:///w/a%20b.py", 4, 2]);
  const page = renderPage({ title: "t", markdown: "", status: "", sources: [source] });
  assert.ok(page.includes(`href="${escapeHtml(link)}"`));
});

test("the answer cannot link to ragls.openSource itself", () => {
  const html = renderMarkdown("[open](command:ragls.openSource?%5B%22file%3A%2F%2F%2Fetc%2Fpasswd%22%2C0%2C0%5D)");
  assert.doesNotMatch(html, /href=/);
});
