const test = require("node:test");
const assert = require("node:assert/strict");
const { toServerSettings, affectsServer } = require("../out/common/settings.js");

const getter = (values) => (key) => values[key];

test("defaults of package.json map to the server's defaults, empty strings left out", () => {
  const settings = toServerSettings(
    getter({
      serverPath: "/usr/bin/ragls",
      model: "sentence-transformers/all-MiniLM-L6-v2",
      device: "auto",
      cacheDir: "",
      ignore: [],
      maxFileSize: 1000000,
      debounceMs: 300,
      "ollama.host": "",
      "ollama.model": "qwen2.5-coder:7b",
      "hover.explain": "cached",
    }),
  );
  assert.deepEqual(settings, {
    model: "sentence-transformers/all-MiniLM-L6-v2",
    device: "auto",
    ignore: [],
    maxFileSize: 1000000,
    debounceMs: 300,
    ollama: { model: "qwen2.5-coder:7b" },
    hover: { explain: "cached" },
  });
  assert.equal("serverPath" in settings, false);
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
