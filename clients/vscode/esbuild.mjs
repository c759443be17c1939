// Bundles the extension into dist/extension.js (vscode stays external) and, with --tests,
// compiles the pure modules under src/common to out/common for `node --test`.
import * as esbuild from "esbuild";

const production = process.argv.includes("--production");
const watch = process.argv.includes("--watch");
const tests = process.argv.includes("--tests");

const extension = {
  entryPoints: ["src/extension.ts"],
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node18",
  outfile: "dist/extension.js",
  external: ["vscode"],
  sourcemap: !production,
  minify: production,
  logLevel: "info",
};

const common = {
  entryPoints: ["src/common/settings.ts", "src/common/server.ts", "src/common/markdown.ts", "src/common/status.ts", "src/common/related.ts"],
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node18",
  outdir: "out/common",
  logLevel: "warning",
};

if (watch) {
  const ctx = await esbuild.context(extension);
  await ctx.watch();
} else {
  await esbuild.build(tests ? common : extension);
}
