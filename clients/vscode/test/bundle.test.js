// Loads the bundled extension (dist/extension.js) with a stand-in for the `vscode` module and
// runs activate(): the bundle loads, every command in package.json is registered, and a missing
// server is reported with the fix instead of throwing. (Not a real VS Code: see README.md.)
const test = require("node:test");
const assert = require("node:assert/strict");
const Module = require("node:module");
const path = require("node:path");
const fs = require("node:fs");

const root = path.join(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));

function fakeVscode(registered, errors) {
  // Anything not listed is a callable, constructible stub returning more stubs.
  const stub = () =>
    new Proxy(function () {}, {
      get: (_t, prop) => (prop === "then" ? undefined : prop === Symbol.toPrimitive ? () => "" : stub()),
      apply: () => stub(),
      construct: () => stub(),
    });
  const disposable = { dispose() {} };
  const config = { get: (key) => ({ serverPath: "/nonexistent/ragls-for-test" })[key] };
  const api = {
    commands: {
      registerCommand: (id) => {
        registered.push(id);
        return disposable;
      },
      executeCommand: async () => undefined,
    },
    window: {
      createOutputChannel: () => ({ appendLine() {}, show() {}, dispose() {}, info() {}, error() {} }),
      createStatusBarItem: () => ({ show() {}, dispose() {} }),
      createTreeView: () => ({ dispose() {} }),
      showErrorMessage: async (message) => {
        errors.push(message);
        return undefined;
      },
      showInformationMessage: async () => undefined,
      showWarningMessage: async () => undefined,
    },
    workspace: {
      getConfiguration: () => config,
      onDidChangeConfiguration: () => disposable,
      workspaceFolders: [],
    },
    extensions: { getExtension: () => undefined },
    StatusBarAlignment: { Left: 1, Right: 2 },
    EventEmitter: class {
      event = () => disposable;
      fire() {}
      dispose() {}
    },
  };
  return new Proxy(api, { get: (t, prop) => (prop in t ? t[prop] : stub()) });
}

test("the bundle activates, registers every contributed command and reports a missing server", async () => {
  const bundle = path.join(root, "dist", "extension.js");
  assert.ok(fs.existsSync(bundle), "run `npm run build` first");
  const registered = [];
  const errors = [];
  const vscode = fakeVscode(registered, errors);
  const load = Module._load;
  Module._load = function (request, ...rest) {
    return request === "vscode" ? vscode : load.call(this, request, ...rest);
  };
  try {
    delete require.cache[bundle];
    const ext = require(bundle);
    await ext.activate({ subscriptions: [] });
    const contributed = pkg.contributes.commands.map((c) => c.command).sort();
    assert.deepEqual([...registered].sort(), contributed);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /ragls\.serverPath.*\/nonexistent\/ragls-for-test/);
    await ext.deactivate();
  } finally {
    Module._load = load;
  }
});

test("activation events cover every language of the document selector", () => {
  const events = pkg.activationEvents.filter((e) => e.startsWith("onLanguage:")).map((e) => e.slice(11));
  const source = fs.readFileSync(path.join(root, "src", "client.ts"), "utf8");
  const list = source.match(/LANGUAGES = \[([^\]]*)\]/)[1].match(/"([^"]+)"/g).map((s) => s.slice(1, -1));
  assert.deepEqual(events, list);
});
