const test = require("node:test");
const assert = require("node:assert/strict");
const { toServerSettings, affectsServer, userValue } = require("../out/common/settings.js");

const getter = (values) => (key) => values[key];

test("only what the user set is sent, empty strings and nulls left out, client keys never", () => {
  const settings = toServerSettings(
    getter({ serverPath: "/usr/bin/ragls", cacheDir: "", maxFileSize: null, "ollama.host": "", "ollama.model": "phi3" }),
  );
  assert.deepEqual(settings, { ollama: { model: "phi3" } });
  assert.equal("serverPath" in settings, false);
});

test("the user's value is the folder's, else the workspace's, else the user settings'", () => {
  assert.equal(userValue(undefined), undefined);
  assert.equal(userValue({ defaultValue: 5 }), undefined);
  assert.equal(userValue({ globalValue: 1, workspaceValue: 2 }), 2);
  assert.equal(userValue({ globalValue: 1, workspaceValue: 2, workspaceFolderValue: 3 }), 3);
  assert.equal(userValue({ globalValue: 0 }), 0);
});

test("every key is mapped to the protocol's nested shape", () => {
  const settings = toServerSettings(
    getter({
      model: " all-MiniLM-L6-v2 ",
      device: "cpu",
      cacheDir: "/tmp/ragls",
      ignore: ["*.min.js", "", "vendor/"],
      maxFileSize: 500000,
      debounceMs: 0,
      "ollama.host": "http://10.0.0.2:11434",
      "ollama.model": "llama3",
      "hover.explain": "off",
    }),
  );
  assert.deepEqual(settings, {
    model: "all-MiniLM-L6-v2",
    device: "cpu",
    cacheDir: "/tmp/ragls",
    ignore: ["*.min.js", "vendor/"],
    maxFileSize: 500000,
    debounceMs: 0,
    ollama: { host: "http://10.0.0.2:11434", model: "llama3" },
    hover: { explain: "off" },
  });
});

test("an empty prompt is sent (it means no prompt), unset ones are not", () => {
  assert.deepEqual(toServerSettings(getter({ queryPrompt: "", documentPrompt: undefined })), { queryPrompt: "" });
  assert.deepEqual(toServerSettings(getter({ queryPrompt: "search_query: " })), { queryPrompt: "search_query: " });
});

test("backend, index threads and the base index are sent; an empty base index means none", () => {
  assert.deepEqual(toServerSettings(getter({ backend: "onnx-int8", indexThreads: 3, baseIndex: " /srv/team.ragls " })), {
    backend: "onnx-int8",
    indexThreads: 3,
    baseIndex: "/srv/team.ragls",
  });
  assert.deepEqual(toServerSettings(getter({ baseIndex: "" })), { baseIndex: "" });
  assert.deepEqual(toServerSettings(getter({ baseIndex: null, indexThreads: null })), {});
  assert.equal(affectsServer((section) => section === "ragls.baseIndex"), true);
});

test("nothing configured gives an empty object", () => {
  assert.deepEqual(toServerSettings(() => undefined), {});
});

test("wrongly typed values are passed on for the server to report", () => {
  const settings = toServerSettings(getter({ maxFileSize: "big", ignore: "vendor/" }));
  assert.equal(settings.maxFileSize, "big");
  assert.equal(settings.ignore, "vendor/");
});

test("affectsServer ignores client-only keys", () => {
  assert.equal(affectsServer((s) => s === "ragls.serverPath"), false);
  assert.equal(affectsServer((s) => s === "ragls.ollama"), true);
  assert.equal(affectsServer((s) => s === "ragls.model"), true);
});
