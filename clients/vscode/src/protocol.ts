// The ragls protocol as the extension uses it: the method names and the shapes of
// docs/protocol.md, written once. Types only (and the names): nothing here talks to VS Code.

export const SEARCH = "ragls/search";
export const FIND_RELATED = "ragls/findRelated";
export const EXPLAIN = "ragls/explain";
export const STATUS = "ragls/status";
export const REINDEX_COMMAND = "ragls.reindex";
export const PULL_MODEL_COMMAND = "ragls.pullModel";
/** The server commands its code actions and hover links run; the extension gives them its UI. */
export const EXPLAIN_COMMAND = "ragls.explain";
export const ASK_COMMAND = "ragls.ask";
export const FIND_RELATED_COMMAND = "ragls.findRelated";

export interface LspRange {
  start: { line: number; character: number };
  end: { line: number; character: number };
}

/** `Result` (with `score`) and `Symbol` (without). */
export interface Result {
  uri: string;
  range: LspRange;
  selectionRange: LspRange;
  name: string;
  kind: string;
  language: string;
  score?: number;
  preview: string;
}

export interface SearchResult {
  results: Result[];
  partial: boolean;
}

export interface RelatedResult {
  symbol: Result | null;
  results: Result[];
}

export interface ExplainResult {
  markdown: string;
  symbol: Result | null;
  sources: Result[];
  model: string;
  incomplete?: boolean;
  cached?: boolean;
}

/** The argument of ragls.explain / ragls.ask / ragls.findRelated, and the explain params. */
export interface PositionArg {
  textDocument: { uri: string };
  position: { line: number; character: number };
  question?: string;
  regenerate?: boolean;
}

export interface FolderStatus {
  uri: string;
  files: number;
  chunks: number;
  cacheDir: string;
  indexBytes: number;
  lastRun: { finished: string; device: string; embedded: number; seconds: number } | null;
  /** The bundle this folder's index is the overlay of (setting baseIndex), or null. */
  base?: { file: string; commit: string | null; functions: number; searched: number } | null;
  overlayChunks?: number;
  baseError?: string | null;
}

export interface Status {
  state: string;
  roots: string[];
  files: number;
  chunks: number;
  pendingFiles: number;
  embeddedChunks: number;
  model: string;
  device: string;
  backend?: string;
  message?: string;
  folders?: FolderStatus[];
}

/** The settings object (initializationOptions and the `ragls` configuration section). */
export interface ServerSettings {
  model?: string;
  device?: string;
  cacheDir?: string | null;
  ignore?: string[];
  maxFileSize?: number;
  batchSize?: number;
  backend?: string;
  indexThreads?: number;
  baseIndex?: string;
  queryPrompt?: string;
  documentPrompt?: string;
  debounceMs?: number;
  ollama?: { host?: string; model?: string };
  hover?: { explain?: string };
}
