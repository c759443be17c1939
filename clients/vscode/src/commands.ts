// The commands of the extension (palette, context menu, the server's code actions and hover
// links): search, related code, explain/ask, reindex, pull model, status.

import * as vscode from "vscode";
import { ProgressType, ResponseError } from "vscode-languageclient/node";
import type { Ragls } from "./client";
import { renderPage, Source, OPEN_SOURCE_COMMAND } from "./common/markdown";
import {
  ASK_COMMAND,
  EXPLAIN,
  EXPLAIN_COMMAND,
  FIND_RELATED,
  FIND_RELATED_COMMAND,
  PULL_MODEL_COMMAND,
  REINDEX_COMMAND,
  SEARCH,
  type ExplainResult,
  type LspRange,
  type PositionArg,
  type RelatedResult,
  type Result,
  type SearchResult,
} from "./protocol";

const toRange = (r: LspRange) => new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);

function client(ragls: Ragls) {
  const c = ragls.client;
  if (!c || !c.isRunning()) {
    void vscode.window.showWarningMessage('ragls: the server is not running. Run "ragls: Restart Server" (see the ragls output).');
    return undefined;
  }
  return c;
}

function errorMessage(err: unknown): string {
  if (err instanceof ResponseError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

function isCancelled(err: unknown): boolean {
  return err instanceof ResponseError && err.code === -32800;
}

function cursorArg(): PositionArg | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showWarningMessage("ragls: open a file and put the cursor in a function first.");
    return undefined;
  }
  const p = editor.selection.active;
  return { textDocument: { uri: editor.document.uri.toString() }, position: { line: p.line, character: p.character } };
}

/** The path shown for `uri`: relative to its folder, with the folder's name when there are several. */
export function describePath(uri: string): string {
  return vscode.workspace.asRelativePath(vscode.Uri.parse(uri));
}

/** Opens `uri` in the first editor column with `selection` selected. */
async function showLocation(uri: string, selection: vscode.Range): Promise<void> {
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
  await vscode.window.showTextDocument(doc, { selection, preview: true, viewColumn: vscode.ViewColumn.One });
}

const openResult = (r: Result) => showLocation(r.uri, toRange(r.selectionRange));

// ---------------------------------------------------------------- search

interface ResultItem extends vscode.QuickPickItem {
  result: Result;
}

export async function semanticSearch(ragls: Ragls, initial = ""): Promise<void> {
  const c = client(ragls);
  if (!c) return;
  const pick = vscode.window.createQuickPick<ResultItem>();
  pick.placeholder = "Describe the code you are looking for (e.g. 'parse the config file')";
  pick.matchOnDescription = true;
  pick.matchOnDetail = true;
  pick.value = initial;
  let timer: NodeJS.Timeout | undefined;
  let pending: vscode.CancellationTokenSource | undefined;
  let seq = 0;

  const run = async (query: string) => {
    pending?.cancel();
    if (query.trim() === "") {
      pick.items = [];
      pick.busy = false;
      return;
    }
    const source = (pending = new vscode.CancellationTokenSource());
    const mine = ++seq;
    pick.busy = true;
    try {
      const res = await c.sendRequest<SearchResult>(
        SEARCH,
        { query, limit: 30 },
        source.token,
      );
      if (mine !== seq) return;
      pick.items = res.results.map((r) => ({
        label: `$(symbol-${r.kind === "method" || r.kind === "constructor" ? "method" : "function"}) ${r.name}`,
        description: `${r.score?.toFixed(2) ?? ""}${res.partial ? " · still indexing" : ""}`,
        detail: `${describePath(r.uri)}:${r.range.start.line + 1} — ${r.preview.split("\n")[0].trim()}`,
        alwaysShow: true,
        result: r,
      }));
      pick.title = res.partial ? "ragls: semantic search (still indexing: results may be incomplete)" : "ragls: semantic search";
    } catch (err) {
      if (mine === seq && !isCancelled(err)) pick.title = `ragls: ${errorMessage(err)}`;
    } finally {
      if (mine === seq) pick.busy = false;
    }
  };

  pick.onDidChangeValue((value) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void run(value), 250);
  });
  pick.onDidAccept(() => {
    const item = pick.selectedItems[0];
    pick.hide();
    if (item) void openResult(item.result);
  });
  pick.onDidHide(() => {
    if (timer) clearTimeout(timer);
    pending?.cancel();
    pick.dispose();
  });
  pick.show();
  if (initial) void run(initial);
}

// ---------------------------------------------------------------- related

export async function findRelated(ragls: Ragls, arg?: PositionArg): Promise<void> {
  const c = client(ragls);
  const where = arg ?? cursorArg();
  if (!c || !where) return;
  let res: RelatedResult | null;
  try {
    res = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: "ragls: finding related code" },
      (_p, token) =>
        c.sendRequest<RelatedResult>(FIND_RELATED, { textDocument: where.textDocument, position: where.position, limit: 20 }, token),
    );
  } catch (err) {
    if (!isCancelled(err)) void vscode.window.showErrorMessage(`ragls: ${errorMessage(err)}`);
    return;
  }
  if (!res) return;
  if (res.results.length === 0) {
    void vscode.window.showInformationMessage(
      res.symbol ? `ragls: nothing related to ${res.symbol.name} found.` : "ragls: no function here.",
    );
    return;
  }
  await ragls.related.show(res.symbol?.name, res.results);
}

// ---------------------------------------------------------------- explain / ask

let explainCounter = 0;

export async function explain(ragls: Ragls, arg: PositionArg | undefined, askQuestion: boolean): Promise<void> {
  const c = client(ragls);
  const where = arg ?? cursorArg();
  if (!c || !where) return;
  let question = where.question;
  if (askQuestion && !question) {
    question = await vscode.window.showInputBox({
      title: "ragls: ask about this function",
      prompt: "Your question about the function at the cursor",
      placeHolder: "Why is the price not checked?",
      ignoreFocusOut: true,
    });
    if (!question || question.trim() === "") return;
  }
  const id = ++explainCounter;
  const token = `ragls-vscode-explain-${process.pid}-${id}`;
  const title = question ? `ragls: ${question}` : "ragls: explanation";
  const panel = vscode.window.createWebviewPanel(
    "ragls.explain",
    question ? "ragls: answer" : "ragls: explanation",
    { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
    // No scripts; the only command links that work are our sources' (the model's text has none).
    { enableScripts: false, enableCommandUris: [OPEN_SOURCE_COMMAND], enableForms: false, localResourceRoots: [] },
  );
  const cancel = new vscode.CancellationTokenSource();
  let markdown = "";
  let sources: Source[] = [];
  let status = "Asking the model…";
  let disposed = false;
  let renderTimer: NodeJS.Timeout | undefined;
  const render = () => {
    renderTimer = undefined;
    if (!disposed) panel.webview.html = renderPage({ title, markdown, status, sources, describe: describePath });
  };
  const scheduleRender = () => {
    if (!renderTimer) renderTimer = setTimeout(render, 100);
  };
  render();
  panel.onDidDispose(() => {
    disposed = true;
    cancel.cancel(); // vscode-languageclient sends $/cancelRequest
    if (renderTimer) clearTimeout(renderTimer);
  });
  const progress = c.onProgress(new ProgressType<{ delta?: string }>(), token, (value) => {
    if (typeof value?.delta === "string") {
      markdown += value.delta;
      status = "Answering…";
      scheduleRender();
    }
  });
  try {
    const params: Record<string, unknown> = {
      textDocument: where.textDocument,
      position: where.position,
      partialResultToken: token,
    };
    if (question) params.question = question;
    if (where.regenerate) params.regenerate = true;
    // The notification's Cancel and closing the panel both cancel the request.
    const res = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: question ? "ragls: answering…" : "ragls: explaining…", cancellable: true },
      (_p, notificationToken) => {
        const stop = notificationToken.onCancellationRequested(() => cancel.cancel());
        return c.sendRequest<ExplainResult>(EXPLAIN, params, cancel.token).finally(() => stop.dispose());
      },
    );
    // vscode-languageclient resolves a request cancelled through its token with null.
    if (!res) throw new vscode.CancellationError();
    markdown = res.markdown;
    sources = res.sources;
    const about = res.symbol ? `${res.symbol.name} · ` : "";
    status = `${about}${res.model}${res.cached ? " · cached" : ""}${res.incomplete ? " · incomplete: the answer broke off" : ""}`;
    if (renderTimer) clearTimeout(renderTimer);
    render();
  } catch (err) {
    if (disposed) return;
    const cancelled = isCancelled(err) || err instanceof vscode.CancellationError || cancel.token.isCancellationRequested;
    status = cancelled ? "Cancelled." : `Failed: ${errorMessage(err)}`;
    if (renderTimer) clearTimeout(renderTimer);
    render();
  } finally {
    progress.dispose();
    cancel.dispose();
  }
}

// ---------------------------------------------------------------- other commands

async function reindex(ragls: Ragls): Promise<void> {
  const c = client(ragls);
  if (!c) return;
  try {
    const res = await c.sendRequest<{ roots: string[] }>("workspace/executeCommand", { command: REINDEX_COMMAND, arguments: [] });
    void vscode.window.showInformationMessage(`ragls: re-checking ${res.roots.length} folder(s) in the background.`);
    void ragls.refreshStatus();
  } catch (err) {
    void vscode.window.showErrorMessage(`ragls: ${errorMessage(err)}`);
  }
}

async function pullModel(ragls: Ragls): Promise<void> {
  const c = client(ragls);
  if (!c) return;
  // No model named: the server pulls the one it is configured with (ragls.ollama.model or its default).
  try {
    const res = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: "ragls: pulling the Ollama model…", cancellable: true },
      (_p, token) =>
        c.sendRequest<{ model: string; status: string }>(
          "workspace/executeCommand",
          { command: PULL_MODEL_COMMAND, arguments: [] },
          token,
        ),
    );
    void vscode.window.showInformationMessage(`ragls: ${res.model}: ${res.status}`);
  } catch (err) {
    if (!isCancelled(err)) void vscode.window.showErrorMessage(`ragls: ${errorMessage(err)}`);
  }
}

async function showStatus(ragls: Ragls): Promise<void> {
  await ragls.refreshStatus();
  const s = ragls.lastStatus;
  if (!s) {
    ragls.output.show();
    return;
  }
  const detail = [
    `State: ${s.state}${s.message ? ` — ${s.message}` : ""}`,
    `Folders: ${s.roots.map(describePath).join(", ") || "none"}`,
    `Files: ${s.files}   Functions/chunks: ${s.chunks}   Pending files: ${s.pendingFiles}`,
    `Embedded by this server: ${s.embeddedChunks}`,
    `Model: ${s.model}${s.device ? ` on ${s.device}` : ""}`,
  ].join("\n");
  const choice = await vscode.window.showInformationMessage("ragls status", { modal: true, detail }, "Reindex", "Show Output");
  if (choice === "Reindex") await reindex(ragls);
  if (choice === "Show Output") ragls.output.show();
}

/**
 * Commands the server announces (code actions, hover links) come through the client's
 * executeCommand middleware: explain/ask/findRelated get the editor UI instead of a bare request.
 */
export async function handleServerCommand(
  ragls: Ragls,
  command: string,
  args: any[],
  next: () => Promise<unknown>,
): Promise<unknown> {
  const arg = Array.isArray(args) && args.length === 1 && typeof args[0] === "object" ? (args[0] as PositionArg) : undefined;
  switch (command) {
    case EXPLAIN_COMMAND:
      return arg ? explain(ragls, arg, false) : next();
    case ASK_COMMAND:
      return arg ? explain(ragls, arg, true) : next();
    case FIND_RELATED_COMMAND:
      return arg ? findRelated(ragls, arg) : next();
    default:
      return next();
  }
}

export function registerCommands(context: vscode.ExtensionContext, ragls: Ragls): void {
  const reg = (id: string, fn: (...a: any[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  reg("ragls.explainFunction", () => explain(ragls, undefined, false));
  reg("ragls.askFunction", () => explain(ragls, undefined, true));
  reg("ragls.findRelatedCode", () => findRelated(ragls));
  reg("ragls.semanticSearch", () => {
    const editor = vscode.window.activeTextEditor;
    const selected = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : "";
    return semanticSearch(ragls, selected.length < 200 ? selected : "");
  });
  reg("ragls.reindexWorkspace", () => reindex(ragls));
  reg("ragls.pullOllamaModel", () => pullModel(ragls));
  reg("ragls.restartServer", () => ragls.restart());
  reg("ragls.showStatus", () => showStatus(ragls));
  // The explain panel's source links and the Related Code view's items (0-based line and character).
  reg(OPEN_SOURCE_COMMAND, (uri: string, line: number, character: number) =>
    showLocation(uri, new vscode.Range(line, character, line, character)),
  );
}
