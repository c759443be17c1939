// The status bar text and tooltip for a `ragls/status` answer (docs/protocol.md). Pure.

import type { Status } from "../protocol";

export function statusText(s: Status): string {
  switch (s.state) {
    case "starting":
      return "$(sync~spin) ragls: starting";
    case "indexing":
      return `$(sync~spin) ragls: ${truncate(s.message ?? `indexing (${s.pendingFiles} files left)`, 60)}`;
    case "error":
      return "$(error) ragls: error";
    default:
      return `$(search) ragls: ${s.chunks} functions`;
  }
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function statusTooltip(s: Status): string {
  const lines = [
    `state: ${s.state}`,
    `folders: ${s.roots.length}`,
    `files: ${s.files}, chunks: ${s.chunks}, pending files: ${s.pendingFiles}`,
    `embedded by this server: ${s.embeddedChunks}`,
    `model: ${s.model}${s.device ? ` (${s.device}${s.backend ? `, ${s.backend}` : ""})` : ""}`,
  ];
  for (const folder of s.folders ?? []) {
    if (folder.base) {
      const commit = folder.base.commit ? ` at ${folder.base.commit.slice(0, 12)}` : "";
      lines.push(`base: ${folder.base.file}${commit}, ${folder.base.functions} functions; ${folder.overlayChunks ?? 0} of the working copy's own`);
    }
    if (folder.baseError) lines.push(`base not used: ${folder.baseError}`);
  }
  if (s.message) lines.push(s.message);
  return lines.join("\n");
}
