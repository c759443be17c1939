const test = require("node:test");
const assert = require("node:assert/strict");
const { resolveServerCommand, ServerNotFoundError } = require("../out/common/server.js");

function deps({ executables = [], importable = [] } = {}) {
  const calls = [];
  return {
    calls,
    isExecutable: async (p) => {
      calls.push(["exec?", p]);
      return executables.includes(p);
    },
    succeeds: async (cmd, args) => {
      calls.push(["run", cmd, ...args]);
      return importable.includes(cmd) && args.join(" ") === "-c import ragls";
    },
  };
}

const base = { serverPath: "", platform: "linux", envPath: "/usr/local/bin:/usr/bin" };

test("ragls.serverPath wins when it is executable", async () => {
  const d = deps({ executables: ["/opt/ragls/bin/ragls", "/usr/bin/ragls"] });
  const cmd = await resolveServerCommand({ ...base, serverPath: "/opt/ragls/bin/ragls", pythonPath: "/venv/bin/python" }, d);
  assert.deepEqual([cmd.command, cmd.args], ["/opt/ragls/bin/ragls", []]);
});

test("a wrong ragls.serverPath is an error naming the setting, without falling back", async () => {
  const d = deps({ executables: ["/usr/bin/ragls"] });
  await assert.rejects(resolveServerCommand({ ...base, serverPath: "/nope/ragls" }, d), (err) => {
    assert.ok(err instanceof ServerNotFoundError);
    assert.match(err.message, /ragls\.serverPath/);
    assert.match(err.message, /\/nope\/ragls/);
    return true;
  });
});

test("the ragls next to the selected Python comes before PATH", async () => {
  const d = deps({ executables: ["/venv/bin/ragls", "/usr/bin/ragls"] });
  const cmd = await resolveServerCommand({ ...base, pythonPath: "/venv/bin/python" }, d);
  assert.equal(cmd.command, "/venv/bin/ragls");
});

test("the selected Python with ragls importable runs python -m ragls", async () => {
  const d = deps({ executables: ["/usr/bin/ragls"], importable: ["/venv/bin/python"] });
  const cmd = await resolveServerCommand({ ...base, pythonPath: "/venv/bin/python" }, d);
  assert.deepEqual([cmd.command, cmd.args], ["/venv/bin/python", ["-m", "ragls"]]);
});

test("without a Python extension: ragls on PATH, else python3 -m ragls", async () => {
  let cmd = await resolveServerCommand(base, deps({ executables: ["/usr/bin/ragls"] }));
  assert.equal(cmd.command, "/usr/bin/ragls");
  cmd = await resolveServerCommand(base, deps({ importable: ["python3"] }));
  assert.deepEqual([cmd.command, cmd.args], ["python3", ["-m", "ragls"]]);
});

test("Windows paths use ragls.exe and ;-separated PATH", async () => {
  const d = deps({ executables: ["C:\\venv\\Scripts\\ragls.exe"] });
  const cmd = await resolveServerCommand(
    { serverPath: "", platform: "win32", envPath: "C:\\bin;D:\\x", pythonPath: "C:\\venv\\Scripts\\python.exe" },
    d,
  );
  assert.equal(cmd.command, "C:\\venv\\Scripts\\ragls.exe");
});

test("nothing found: a clear error that says what was tried and how to fix it", async () => {
  await assert.rejects(resolveServerCommand({ ...base, pythonPath: "/venv/bin/python" }, deps()), (err) => {
    assert.ok(err instanceof ServerNotFoundError);
    assert.match(err.message, /cannot find the ragls language server/);
    assert.match(err.message, /\/venv\/bin\/ragls/);
    assert.match(err.message, /pip install/);
    assert.match(err.message, /ragls\.serverPath/);
    assert.ok(err.tried.includes("python3 -m ragls"));
    return true;
  });
});

test("the server runs as `serve` with the log level's verbosity, info by default", () => {
  const { serveArgs } = require("../out/common/server.js");
  assert.deepEqual(serveArgs("warning"), ["serve"]);
  assert.deepEqual(serveArgs("info"), ["serve", "-v"]);
  assert.deepEqual(serveArgs("debug"), ["serve", "-vv"]);
  assert.deepEqual(serveArgs(undefined), ["serve", "-v"]);
  assert.deepEqual(serveArgs("loud"), ["serve", "-v"]);
});
