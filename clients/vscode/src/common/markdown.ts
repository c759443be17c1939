// Renders an LLM answer (untrusted Markdown) to HTML for a webview with no scripts: raw HTML is
// escaped, only http(s) and file links survive (no command:, javascript:, data: ...), images are
// shown as their alt text. The sources list is ours (trusted): each source is a link running
// OPEN_SOURCE_COMMAND, the one command the panel allows.
import MarkdownIt from "markdown-it";

const SAFE_LINK = /^(https?:|file:)/i;

function makeRenderer(): MarkdownIt {
  const md = new MarkdownIt({ html: false, linkify: false, typographer: false });
  md.validateLink = (url: string) => SAFE_LINK.test(url.trim());
  md.renderer.rules.image = (tokens, idx) => escapeHtml(tokens[idx].content);
  return md;
}

const renderer = makeRenderer();

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

export function renderMarkdown(markdown: string): string {
  return renderer.render(markdown);
}

export interface Source {
  uri: string;
  name: string;
  range: { start: { line: number; character: number } };
  score?: number;
}

export const OPEN_SOURCE_COMMAND = "ragls.openSource";

/** A `command:` link that opens the source at the start of its range. */
export function sourceLink(source: Source): string {
  const args = [source.uri, source.range.start.line, source.range.start.character];
  return `command:${OPEN_SOURCE_COMMAND}?${encodeURIComponent(JSON.stringify(args))}`;
}

export interface PageInput {
  title: string;
  markdown: string;
  status: string;
  sources: Source[];
  /** How a source's file is named on the page (the workspace-relative path); default: its path. */
  describe?: (uri: string) => string;
}

/** The whole webview page: a strict CSP (no scripts at all), the answer and its sources. */
export function renderPage(input: PageInput): string {
  const sources = input.sources
    .map((s, i) => {
      const score = s.score === undefined ? "" : ` · ${s.score.toFixed(2)}`;
      const where = `${(input.describe ?? shortPath)(s.uri)}:${s.range.start.line + 1}`;
      return `<li>[${i + 1}] <a href="${escapeHtml(sourceLink(s))}"><code>${escapeHtml(s.name)}</code> — ${escapeHtml(where)}</a>${escapeHtml(score)}</li>`;
    })
    .join("\n");
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; script-src 'none'; form-action 'none'; frame-src 'none';">
<title>${escapeHtml(input.title)}</title>
<style>
body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 1em; line-height: 1.5; }
pre { background: var(--vscode-textCodeBlock-background); padding: .5em; overflow-x: auto; }
code { font-family: var(--vscode-editor-font-family); }
.status { color: var(--vscode-descriptionForeground); font-style: italic; }
</style></head><body>
<h2>${escapeHtml(input.title)}</h2>
<p class="status">${escapeHtml(input.status)}</p>
<div class="answer">${renderMarkdown(input.markdown)}</div>
${sources ? `<h3>Sources</h3><ol style="list-style:none;padding:0">${sources}</ol>` : ""}
</body></html>`;
}

function shortPath(uri: string): string {
  try {
    return decodeURIComponent(uri.replace(/^file:\/\//, ""));
  } catch {
    return uri;
  }
}
