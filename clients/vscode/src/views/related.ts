// The "Related Code" view in the Explorer.

import * as vscode from "vscode";
import type { Result } from "../protocol";
import { OPEN_SOURCE_COMMAND } from "../common/markdown";
import { relatedItem, relatedMessage } from "../common/related";

const RELATED_VIEW = "ragls.related";

/** The "Related Code" view in the Explorer: the last Find Related results, best first. */
export class RelatedView implements vscode.TreeDataProvider<Result> {
  private results: Result[] = [];
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<Result>;

  constructor(
    context: vscode.ExtensionContext,
    private readonly describe: (uri: string) => string,
  ) {
    this.view = vscode.window.createTreeView(RELATED_VIEW, { treeDataProvider: this });
    context.subscriptions.push(this.view, this.changed);
  }

  async show(symbol: string | undefined, results: Result[]): Promise<void> {
    this.results = results;
    this.view.message = relatedMessage(symbol, results.length);
    this.changed.fire();
    await vscode.commands.executeCommand("setContext", "ragls.hasRelated", true);
    await vscode.commands.executeCommand(`${RELATED_VIEW}.focus`);
  }

  getTreeItem(result: Result): vscode.TreeItem {
    const shown = relatedItem(result, this.describe);
    const item = new vscode.TreeItem(shown.label, vscode.TreeItemCollapsibleState.None);
    item.description = shown.description;
    item.iconPath = new vscode.ThemeIcon(shown.icon);
    item.tooltip = new vscode.MarkdownString().appendCodeblock(shown.preview, result.language);
    const at = result.selectionRange.start;
    item.command = { title: "Open", command: OPEN_SOURCE_COMMAND, arguments: [result.uri, at.line, at.character] };
    return item;
  }

  getChildren(element?: Result): Result[] {
    return element ? [] : this.results;
  }
}
