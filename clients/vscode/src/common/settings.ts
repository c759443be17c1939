// Maps the `ragls.*` VS Code settings to the server's settings object (docs/protocol.md,
// "Settings"). Pure: `get` reads the value the user set for one key below the `ragls` section,
// undefined when they set none, so that the server's own default applies (the defaults are
// the server's, written once there; package.json states none of them).

import type { ServerSettings } from "../protocol";

export type { ServerSettings };
export type Getter = (key: string) => unknown;

/** Keys that only the client uses: never sent to the server (it would warn about them). */
export const CLIENT_ONLY_KEYS = ["serverPath", "logLevel", "trace.server"];

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

/**
 * Builds the server's settings from the `ragls.*` settings the user set. Unset keys and empty
 * strings are left out, so the server takes its own default (for `ollama.host` that default
 * depends on $OLLAMA_HOST). Values of the wrong type are passed as they are: the server reports
 * them.
 */
export function toServerSettings(get: Getter): ServerSettings {
  const out: ServerSettings = {};
  const model = get("model");
  if (nonEmptyString(model) !== undefined) out.model = nonEmptyString(model);
  else if (model !== undefined && model !== null && typeof model !== "string") out.model = model as string;

  const device = get("device");
  if (nonEmptyString(device) !== undefined) out.device = nonEmptyString(device);

  const backend = get("backend");
  if (nonEmptyString(backend) !== undefined) out.backend = nonEmptyString(backend);

  const cacheDir = get("cacheDir");
  if (nonEmptyString(cacheDir) !== undefined) out.cacheDir = nonEmptyString(cacheDir);

  const ignore = get("ignore");
  if (Array.isArray(ignore)) out.ignore = ignore.filter((g) => typeof g === "string" && g.trim() !== "");
  else if (ignore !== undefined && ignore !== null) out.ignore = ignore as string[];

  for (const key of ["maxFileSize", "debounceMs", "indexThreads"] as const) {
    const value = get(key);
    if (value !== undefined && value !== null && value !== "") out[key] = value as number;
  }

  const host = nonEmptyString(get("ollama.host"));
  const ollamaModel = nonEmptyString(get("ollama.model"));
  if (host !== undefined || ollamaModel !== undefined) {
    out.ollama = {};
    if (host !== undefined) out.ollama.host = host;
    if (ollamaModel !== undefined) out.ollama.model = ollamaModel;
  }

  for (const key of ["queryPrompt", "documentPrompt"] as const) {
    const value = get(key);
    if (typeof value === "string") out[key] = value; // "" means "no prompt", unlike unset
  }

  const baseIndex = get("baseIndex");
  if (typeof baseIndex === "string") out.baseIndex = baseIndex.trim(); // "": stop using one, unlike unset

  const explain = nonEmptyString(get("hover.explain"));
  if (explain !== undefined) out.hover = { explain };
  return out;
}

/** The value the user set for a key (folder over workspace over user settings), or undefined. */
export function userValue(
  inspected: { globalValue?: unknown; workspaceValue?: unknown; workspaceFolderValue?: unknown } | undefined,
): unknown {
  if (!inspected) return undefined;
  return inspected.workspaceFolderValue ?? inspected.workspaceValue ?? inspected.globalValue;
}

/** Whether a configuration change concerns the server's settings (not only client-only keys). */
export function affectsServer(affects: (section: string) => boolean): boolean {
  return ["model", "device", "backend", "indexThreads", "baseIndex", "queryPrompt", "documentPrompt", "cacheDir", "ignore",
    "maxFileSize", "debounceMs", "ollama", "hover"].some((k) =>
    affects(`ragls.${k}`),
  );
}
