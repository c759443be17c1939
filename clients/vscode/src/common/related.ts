// How one Find Related result shows in the "Related Code" tree view. Pure.

export interface RelatedResult {
  uri: string;
  name: string;
  kind: string;
  score?: number;
  range: { start: { line: number; character: number } };
  preview: string;
}

export interface RelatedItem {
  label: string;
  /** Score first (results are listed best first), then where the function is. */
  description: string;
  icon: string;
  /** The first lines of the function, for the tooltip's code block. */
  preview: string;
}

const PREVIEW_LINES = 12;

/** The tree item's texts for `result`; `describe` names its file (workspace-relative path). */
export function relatedItem(result: RelatedResult, describe: (uri: string) => string): RelatedItem {
  const score = result.score === undefined ? "" : `${result.score.toFixed(2)} · `;
  return {
    label: result.name,
    description: `${score}${describe(result.uri)}:${result.range.start.line + 1}`,
    icon: result.kind === "method" || result.kind === "constructor" ? "symbol-method" : "symbol-function",
    preview: result.preview.split("\n").slice(0, PREVIEW_LINES).join("\n"),
  };
}

/** The line above the results: what they are related to. */
export function relatedMessage(symbol: string | undefined, count: number): string {
  const what = symbol ? `Related to ${symbol}` : "Related code";
  return `${what}: ${count} function${count === 1 ? "" : "s"}, best first`;
}
