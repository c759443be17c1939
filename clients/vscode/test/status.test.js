const test = require("node:test");
const assert = require("node:assert/strict");
const { statusText, statusTooltip } = require("../out/common/status.js");

const base = { roots: ["file:///w/shop"], files: 120, chunks: 1834, pendingFiles: 0, embeddedChunks: 950, model: "m", device: "cpu" };

test("ready shows the number of functions", () => {
  assert.equal(statusText({ ...base, state: "ready" }), "$(search) ragls: 1834 functions");
});

test("indexing shows the server's message, shortened", () => {
  assert.equal(
    statusText({ ...base, state: "indexing", message: "indexing shop: 80/120 files read" }),
    "$(sync~spin) ragls: indexing shop: 80/120 files read",
  );
  assert.ok(statusText({ ...base, state: "indexing", message: "x".repeat(200) }).length < 90);
  assert.match(statusText({ ...base, state: "indexing", pendingFiles: 40 }), /40 files left/);
});

test("starting and error states", () => {
  assert.match(statusText({ ...base, state: "starting" }), /starting/);
  assert.match(statusText({ ...base, state: "error", message: "no model" }), /error/);
});

test("the tooltip lists the details and the message", () => {
  const tip = statusTooltip({ ...base, state: "error", message: "cannot load model" });
  assert.match(tip, /files: 120, chunks: 1834/);
  assert.match(tip, /model: m \(cpu\)/);
  assert.match(tip, /cannot load model/);
});

test("the tooltip names the backend, each folder's base and why a base is not used", () => {
  const folder = { uri: "file:///w/shop", files: 120, chunks: 1834, cacheDir: "/c", indexBytes: 1, lastRun: null };
  const tip = statusTooltip({
    ...base,
    state: "ready",
    backend: "onnx-int8",
    folders: [
      { ...folder, base: { file: "/srv/shop.ragls", commit: "9f1c2e4b7a0d11", functions: 1790, searched: 1786 }, overlayChunks: 48, baseError: null },
      { ...folder, base: null, overlayChunks: 10, baseError: "/srv/x.ragls is damaged or altered" },
    ],
  });
  assert.match(tip, /model: m \(cpu, onnx-int8\)/);
  assert.match(tip, /base: \/srv\/shop\.ragls at 9f1c2e4b7a0d, 1790 functions; 48 of the working copy's own/);
  assert.match(tip, /base not used: \/srv\/x\.ragls is damaged or altered/);
});
