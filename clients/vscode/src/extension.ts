// The extension's entry point: it only wires the parts together (nothing imports it).

import * as vscode from "vscode";
import { affectsServer } from "./common/settings";
import { Ragls } from "./client";
import { describePath, handleServerCommand, registerCommands } from "./commands";
import { RelatedView } from "./views/related";

let ragls: Ragls | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  ragls = new Ragls(context, new RelatedView(context, describePath), handleServerCommand);
  registerCommands(context, ragls);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      const restartKey = ["ragls.serverPath", "ragls.logLevel"].find((key) => e.affectsConfiguration(key));
      if (restartKey) {
        void vscode.window
          .showInformationMessage(`${restartKey} changed: restart the server to use it.`, "Restart Server")
          .then((c) => c && vscode.commands.executeCommand("ragls.restartServer"));
      } else if (affectsServer((s) => e.affectsConfiguration(s))) {
        // vscode-languageclient forwards didChangeConfiguration; the server re-reads the section.
        void ragls?.refreshStatus();
      }
    }),
  );
  await ragls.start();
}

export async function deactivate(): Promise<void> {
  await ragls?.stop();
}
