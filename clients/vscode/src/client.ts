// The ragls server's lifecycle in VS Code: find it, start it with the user's settings, stop and
// restart it, and show its status in the status bar.

import * as vscode from "vscode";
import * as fs from "fs";
import { execFile } from "child_process";
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind, State } from "vscode-languageclient/node";
import { toServerSettings, userValue } from "./common/settings";
import { resolveServerCommand, serveArgs, ServerNotFoundError } from "./common/server";
import { statusText, statusTooltip } from "./common/status";
import { STATUS, type Status } from "./protocol";
import type { RelatedView } from "./views/related";

export const LANGUAGES = [
  "python",
  "javascript",
  "javascriptreact",
  "typescript",
  "typescriptreact",
  "go",
  "rust",
  "java",
  "c",
  "cpp",
  "ruby",
];

/** Runs a server command (code action, hover link) with the editor's UI, or passes it on (`next`). */
export type ServerCommandHandler = (
  ragls: Ragls,
  command: string,
  args: any[],
  next: () => Promise<unknown>,
) => Promise<unknown>;

export class Ragls {
  client: LanguageClient | undefined;
  lastStatus: Status | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  readonly output = vscode.window.createOutputChannel("ragls", { log: true });
  readonly statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);

  /**
   * `onServerCommand`: what to do when a server command (a code action, a hover link) runs;
   * the commands module gives them the editor's UI (extension.ts wires it).
   */
  constructor(
    context: vscode.ExtensionContext,
    readonly related: RelatedView,
    private readonly onServerCommand: ServerCommandHandler,
  ) {
    this.statusItem.command = "ragls.showStatus";
    this.statusItem.text = "$(search) ragls";
    this.statusItem.show();
    context.subscriptions.push(this.output, this.statusItem, { dispose: () => this.stopPolling() });
  }

  /** The server's settings: only what the user set, so that the server's defaults apply. */
  settings() {
    const config = vscode.workspace.getConfiguration("ragls");
    return toServerSettings((key) => userValue(config.inspect(key)));
  }

  async start(): Promise<void> {
    const config = vscode.workspace.getConfiguration("ragls");
    let server;
    try {
      server = await resolveServerCommand(
        {
          serverPath: config.get<string>("serverPath") ?? "",
          pythonPath: await selectedPython(),
          platform: process.platform,
          envPath: process.env.PATH ?? "",
        },
        {
          isExecutable: (p) =>
            fs.promises.access(p, fs.constants.X_OK).then(
              () => fs.promises.stat(p).then((s) => s.isFile()),
              () => false,
            ),
          succeeds: (cmd, args) =>
            new Promise((resolve) => execFile(cmd, args, { timeout: 15000 }, (err) => resolve(!err))),
        },
      );
    } catch (err) {
      const message = err instanceof ServerNotFoundError ? err.message : `ragls: ${String(err)}`;
      this.output.appendLine(message);
      this.setStatus("$(error) ragls", message);
      const choice = await vscode.window.showErrorMessage(message, "Open Settings", "Show Output");
      if (choice === "Open Settings") void vscode.commands.executeCommand("workbench.action.openSettings", "ragls.serverPath");
      if (choice === "Show Output") this.output.show();
      return;
    }
    const args = [...server.args, ...serveArgs(config.get("logLevel"))];
    this.output.appendLine(`ragls: starting ${server.command} ${args.join(" ")} (from ${server.source})`);

    const serverOptions: ServerOptions = {
      command: server.command,
      args,
      transport: TransportKind.stdio,
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: LANGUAGES.map((language) => ({ scheme: "file", language })),
      initializationOptions: this.settings(),
      outputChannel: this.output,
      // Hovers carry `command:ragls.explain?...` links ("Explain with ragls", "Regenerate"):
      // trust that one command and nothing else; no raw HTML.
      markdown: { isTrusted: { enabledCommands: ["ragls.explain"] }, supportHtml: false },
      middleware: {
        workspace: {
          // The server asks for the section "ragls": answer in its own shape, without the
          // client-only keys (ragls.serverPath) it would warn about.
          configuration: (params, token, next) =>
            params.items.map((item) =>
              item.section === "ragls" ? this.settings() : null,
            ),
        },
        executeCommand: (command, args, next) => this.onServerCommand(this, command, args, () => next(command, args)),
      },
    };
    this.client = new LanguageClient("ragls", "ragls", serverOptions, clientOptions);
    this.client.onDidChangeState((e) => {
      if (e.newState === State.Stopped) this.showStopped();
    });
    try {
      await this.client.start();
    } catch (err) {
      const message = `ragls: the server did not start: ${err instanceof Error ? err.message : String(err)}`;
      this.output.appendLine(message);
      void vscode.window.showErrorMessage(message, "Show Output").then((c) => c && this.output.show());
      return;
    }
    this.startPolling();
  }

  async stop(): Promise<void> {
    this.stopPolling();
    const client = this.client;
    this.client = undefined;
    this.showStopped();
    if (client) {
      try {
        await client.stop(5000);
      } catch (err) {
        this.output.appendLine(`ragls: stopping the server: ${String(err)}`);
      }
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  private startPolling(): void {
    this.stopPolling();
    const tick = async () => {
      const next = await this.refreshStatus();
      this.statusTimer = setTimeout(tick, next === "ready" ? 10000 : 1000);
    };
    void tick();
  }

  private stopPolling(): void {
    if (this.statusTimer) clearTimeout(this.statusTimer);
    this.statusTimer = undefined;
  }

  /** Asks the server for ragls/status and shows it in the status bar; returns the state. */
  async refreshStatus(): Promise<string | undefined> {
    const client = this.client;
    if (!client || !client.isRunning()) return undefined;
    try {
      const status = await client.sendRequest<Status>(STATUS, {});
      this.lastStatus = status;
      this.setStatus(statusText(status), statusTooltip(status));
      return status.state;
    } catch (err) {
      return undefined;
    }
  }

  /** The status bar of a stopped server: never its last numbers, as if they were current. */
  private showStopped(): void {
    this.lastStatus = undefined;
    this.setStatus("$(debug-disconnect) ragls: stopped", "The ragls server is stopped.");
  }

  setStatus(text: string, tooltip: string): void {
    this.statusItem.text = text;
    this.statusItem.tooltip = tooltip;
  }
}

async function selectedPython(): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension("ms-python.python");
  if (!ext) return undefined;
  try {
    const api: any = ext.isActive ? ext.exports : await ext.activate();
    const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
    const active = api?.environments?.getActiveEnvironmentPath?.(resource);
    if (active) {
      // The path may be an environment folder: resolve it to the interpreter.
      const resolved = await api.environments.resolveEnvironment?.(active);
      const executable = resolved?.executable?.uri?.fsPath ?? active.path;
      if (typeof executable === "string" && executable) return executable;
    }
    const exec = api?.settings?.getExecutionDetails?.(resource)?.execCommand;
    if (Array.isArray(exec) && typeof exec[0] === "string") return exec[0];
  } catch {
    // No usable Python extension API: fall back to PATH.
  }
  return undefined;
}
