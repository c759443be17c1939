// Drives a real VS Code (code-server in Debian's Chromium, through playwright-core) with the
// ragls extension installed, and records what the user would see at each step.
//
//   node e2e/drive.mjs CONFIG.json
//
// CONFIG: { url, screenshots, results, file, searchQuery, searchExpect, relatedLine,
//           relatedExpect, relatedOpen, hoverWord, hoverExpect, hoverLinkWord, hoverLinkExpect,
//           explainLine, askLine, askQuestion, cancelLine, model }
// Each step records its observations (texts read off the page) or its error and a screenshot,
// then the next step runs; tests/clients/test_vscode_e2e.py checks the results. The script
// exits 0 when it could write the results, whatever they say.
import { chromium } from "playwright-core";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const results = { steps: {} };
mkdirSync(config.screenshots, { recursive: true });

const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

function log(text) {
  process.stderr.write(`[drive ${new Date().toISOString().slice(11, 23)}] ${text}\n`);
}

async function shot(page, name) {
  const path = join(config.screenshots, `${name}.png`);
  try {
    await page.screenshot({ path });
  } catch (err) {
    log(`screenshot ${name} failed: ${err}`);
  }
  return path;
}

/** Runs one step; records its observations, or its error, plus a screenshot either way. */
async function step(page, name, body) {
  const started = Date.now();
  const record = { ok: false };
  results.steps[name] = record;
  log(`step ${name}`);
  try {
    Object.assign(record, await body());
    record.ok = true;
  } catch (err) {
    record.error = String(err?.stack ?? err);
    log(`step ${name} failed: ${record.error}`);
  }
  record.seconds = (Date.now() - started) / 1000;
  record.screenshot = await shot(page, name);
  if (!record.ok) {
    // Leave no widget open that would swallow the next step's keys.
    await page.keyboard.press("Escape").catch(() => {});
    await page.keyboard.press("Escape").catch(() => {});
  }
}

// ------------------------------------------------------------------ workbench helpers

/** The visible text of LOCATOR, with the editor's non-breaking spaces made plain. */
async function textOf(locator, options = {}) {
  return (await locator.innerText(options)).replace(/\u00a0/g, " ");
}

async function textsOf(locator) {
  return (await locator.allInnerTexts()).map((t) => t.replace(/\u00a0/g, " "));
}

/** Runs TITLE from the command palette and waits for the palette to close. */
async function runCommand(page, title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input.input");
  await input.waitFor({ state: "visible", timeout: 10000 });
  await input.fill(`>${title}`);
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first();
  await row.waitFor({ state: "visible", timeout: 10000 });
  await row.click();
  await page.waitForFunction(() => {
    const box = document.querySelector(".quick-input-widget input.input");
    return !box || box.offsetParent === null || !box.value.startsWith(">");
  }, null, { timeout: 10000 });
}

/** The quick input a command opened, found by its placeholder. */
async function quickInput(page, placeholderStart) {
  const input = page.locator(`.quick-input-widget input.input[placeholder^="${placeholderStart}"]`);
  await input.waitFor({ state: "visible", timeout: 15000 });
  return input;
}

async function openFile(page, relativePath) {
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget input.input");
  await input.waitFor({ state: "visible", timeout: 10000 });
  await input.fill(relativePath);
  const base = relativePath.split("/").pop();
  // Click the file's row: Enter could take the first row of the history before the list filters.
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: base }).first();
  await row.waitFor({ timeout: 15000 });
  await row.click();
  await page.locator(".tab.active", { hasText: base }).waitFor({ timeout: 15000 });
  await focusEditor(page);
}

async function focusEditor(page) {
  await page.locator(".editor-group-container.active .monaco-editor .view-lines").first().click({ position: { x: 5, y: 5 } });
}

/** Puts the cursor at LINE (1-based), column COLUMN with Go to Line. */
async function goToLine(page, line, column = 1) {
  await focusEditor(page);
  await page.keyboard.press("Control+G");
  const input = page.locator(".quick-input-widget input.input");
  await input.waitFor({ state: "visible", timeout: 10000 });
  await input.fill(`:${line}:${column}`);
  await page.keyboard.press("Enter");
  await page.locator(".quick-input-widget").waitFor({ state: "hidden", timeout: 10000 });
  await cursorAt(page, line);
}

async function cursorAt(page, line) {
  const selection = page.locator(".statusbar-item", { hasText: /Ln \d+, Col \d+/ }).first();
  await selection.filter({ hasText: new RegExp(`Ln ${line},`) }).waitFor({ timeout: 10000 });
  return (await textOf(selection)).trim();
}

/** The active editor tab's label, e.g. "cart.py". */
async function activeTabLabel(page) {
  return (await textOf(page.locator(".editor-group-container.active .tab.active").first())).replace(/\s+/g, "");
}

async function raglsStatusText(page) {
  const item = page.locator(".statusbar-item", { hasText: "ragls" }).first();
  return (await textOf(item).catch(() => "")).trim();
}

/** The frame of the webview whose page shows HEADING, or undefined. */
async function webviewFrame(page, heading) {
  for (const frame of page.frames()) {
    if (frame === page.mainFrame()) continue; // the workbench shows the panel's title on its tab
    try {
      const text = await frame.evaluate(() => (document.body ? document.body.innerText : ""));
      if (text.includes(heading)) return { frame, text };
    } catch {
      // A frame that navigated or closed meanwhile.
    }
  }
  return undefined;
}

async function webviewText(page, heading) {
  return (await webviewFrame(page, heading))?.text;
}

async function waitFor(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls the panel's text until STATUS_DONE shows, recording each distinct text on the way. */
async function followPanel(page, heading, isDone, timeoutMs) {
  const seen = [];
  await waitFor(
    async () => {
      const text = await webviewText(page, heading);
      if (text !== undefined && text !== seen[seen.length - 1]) seen.push(text);
      return text !== undefined && isDone(text);
    },
    timeoutMs,
    `the panel "${heading}" to finish`,
  );
  return seen;
}

/** Rests the mouse on WORD in the active editor until a hover containing EXPECT shows. */
async function hoverOn(page, word, expect) {
  await page.mouse.move(0, 0);
  await focusEditor(page);
  const target = page
    .locator(".editor-group-container.active .view-lines .view-line span span", { hasText: new RegExp(`^${word}$`) })
    .first();
  await target.waitFor({ timeout: 10000 });
  const hover = page.locator(".monaco-hover:not(.hidden) .monaco-hover-content, .monaco-resizable-hover .hover-contents").first();
  const text = await waitFor(
    async () => {
      await target.hover({ force: true });
      await page.waitForTimeout(700);
      const t = await textOf(hover, { timeout: 500 }).catch(() => "");
      return t.includes(expect) ? t : undefined;
    },
    30000,
    `a hover containing ${expect}`,
  );
  return { hover, text };
}

/** Runs "ragls: Show Status" and returns the modal dialog's text, then closes it. */
async function statusDialogText(page) {
  await runCommand(page, "ragls: Show Status");
  const dialog = page.locator(".monaco-dialog-box", { hasText: "ragls status" }).first();
  await dialog.waitFor({ state: "visible", timeout: 15000 });
  const text = await textOf(dialog);
  await shot(page, `status-dialog-${Date.now()}`);
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden", timeout: 10000 });
  return text;
}

async function closeTab(page, label) {
  const tab = page.locator(".tab", { hasText: label }).first();
  await tab.hover();
  await tab.locator(".tab-actions .action-label").first().click();
  await tab.waitFor({ state: "detached", timeout: 10000 });
}

// ------------------------------------------------------------------ the session

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_FLAGS });
const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
const page = await context.newPage();
page.on("pageerror", (err) => log(`page error: ${err}`));

try {
  await step(page, "01-workbench", async () => {
    const started = Date.now();
    await page.goto(config.url);
    await page.locator(".monaco-workbench .part.statusbar").waitFor({ timeout: 60000 });
    await page.locator(".explorer-folders-view, .explorer-viewlet").first().waitFor({ timeout: 30000 }).catch(() => {});
    await openFile(page, config.file);
    return { title: await page.title(), secondsToEditor: (Date.now() - started) / 1000 };
  });

  await step(page, "02-status-ready", async () => {
    const seen = [];
    const text = await waitFor(
      async () => {
        const t = await raglsStatusText(page);
        if (t && t !== seen[seen.length - 1]) seen.push(t);
        return /ragls: \d+ functions/.test(t) ? t : undefined;
      },
      180000,
      "the ragls status bar item to show the function count",
    );
    return { text, seen };
  });

  await step(page, "03-semantic-search", async () => {
    await runCommand(page, "ragls: Semantic Search…");
    const input = await quickInput(page, "Describe the code");
    await input.fill(config.searchQuery);
    const rows = page.locator(".quick-input-list .monaco-list-row");
    const wanted = rows.filter({ hasText: config.searchExpect.name }).first();
    await wanted.waitFor({ timeout: 30000 });
    const items = await textsOf(rows);
    await shot(page, "03-semantic-search-results");
    await wanted.click();
    const base = config.searchExpect.file.split("/").pop();
    await page.locator(".tab.active", { hasText: base }).waitFor({ timeout: 15000 });
    const cursor = await cursorAt(page, config.searchExpect.line);
    return { items, activeTab: await activeTabLabel(page), cursor };
  });

  await step(page, "04-find-related", async () => {
    await openFile(page, config.file);
    await goToLine(page, config.relatedLine, 9);
    await runCommand(page, "ragls: Find Related Code");
    const pane = page.locator(".pane", { has: page.locator(".pane-header", { hasText: /Related Code/i }) }).first();
    await pane.locator(".monaco-list-row", { hasText: config.relatedExpect }).first().waitFor({ timeout: 30000 });
    const rows = await textsOf(pane.locator(".monaco-list-row"));
    const body = await textOf(pane.locator(".pane-body"));
    await shot(page, "04-find-related-view");
    // Clicking a result opens the function.
    await pane.locator(".monaco-list-row", { hasText: config.relatedOpen.name }).first().click();
    const cursor = await cursorAt(page, config.relatedOpen.line);
    return { rows, body, cursor, activeTab: await activeTabLabel(page) };
  });

  await step(page, "05-hover", async () => {
    const { text } = await hoverOn(page, config.hoverWord, config.hoverExpect);
    return { text };
  });

  await step(page, "05b-hover-explain-link", async () => {
    // The hover's "Explain with ragls" is a command link VS Code must trust and run.
    const { hover } = await hoverOn(page, config.hoverLinkWord, config.hoverLinkExpect);
    await hover.locator("a", { hasText: "Explain with ragls" }).first().click();
    const seen = await followPanel(page, "ragls: explanation", (t) => t.includes(`${config.hoverLinkExpect} · ${config.model}`), 60000);
    await closeTab(page, "ragls: explanation");
    return { final: seen[seen.length - 1] };
  });

  await step(page, "06-code-actions", async () => {
    await page.mouse.move(0, 0);
    await page.keyboard.press("Escape");
    await goToLine(page, config.explainLine, 9);
    await page.keyboard.press("Control+.");
    const menu = page.locator(".action-widget").first();
    await menu.waitFor({ state: "visible", timeout: 15000 });
    await menu.locator(".monaco-list-row", { hasText: "Explain" }).first().waitFor({ timeout: 15000 });
    const items = await textsOf(menu.locator(".monaco-list-row"));
    await page.keyboard.press("Escape");
    return { items };
  });

  await step(page, "07-explain-streams", async () => {
    await goToLine(page, config.explainLine, 9);
    await runCommand(page, "ragls: Explain This Function");
    const seen = await followPanel(page, "ragls: explanation", (t) => t.includes(config.model), 90000);
    await shot(page, "07-explain-final");
    const { frame } = await webviewFrame(page, "ragls: explanation");
    const anchors = frame.locator("a");
    const links = await anchors.evaluateAll((all) => all.map((a) => ({ text: a.innerText, href: a.getAttribute("href") })));
    // A source link opens its file in the editor.
    const first = anchors.filter({ hasText: "—" }).first();
    const clicked = (await first.innerText()).trim();
    const base = clicked.split("—").pop().trim().split(":")[0].split("/").pop();
    await first.click();
    await page.locator(".tab.active", { hasText: base }).first().waitFor({ timeout: 15000 });
    const activeTab = await activeTabLabel(page);
    await shot(page, "07-explain-source-opened");
    await closeTab(page, "ragls: explanation");
    return { seen, final: seen[seen.length - 1], links, clicked, activeTab };
  });

  await step(page, "08-ask-then-close-panel", async () => {
    await openFile(page, config.file);
    await goToLine(page, config.askLine, 9);
    await runCommand(page, "ragls: Ask About This Function…");
    const input = await quickInput(page, "Why is the price");
    await input.fill(config.askQuestion);
    await page.keyboard.press("Enter");
    // Close the panel while the answer streams: the request must be cancelled.
    const partial = await waitFor(
      async () => {
        const t = await webviewText(page, `ragls: ${config.askQuestion}`);
        return t && t.includes("Answering") ? t : undefined;
      },
      60000,
      "the answer to start streaming",
    );
    await shot(page, "08-ask-streaming");
    await closeTab(page, "ragls: answer");
    return { partial, closedAt: Date.now() / 1000 };
  });

  await step(page, "09-explain-cancel-notification", async () => {
    await openFile(page, config.file);
    await goToLine(page, config.cancelLine, 9);
    await runCommand(page, "ragls: Explain This Function");
    await waitFor(
      async () => {
        const t = await webviewText(page, "ragls: explanation");
        return t && t.includes("Answering") ? t : undefined;
      },
      60000,
      "the explanation to start streaming",
    );
    const toast = page.locator(".notification-toast", { hasText: "ragls: explaining" }).first();
    await toast.waitFor({ state: "visible", timeout: 10000 });
    await toast.locator(".monaco-button", { hasText: "Cancel" }).first().click();
    const seen = await followPanel(page, "ragls: explanation", (t) => t.includes("Cancelled."), 30000);
    await shot(page, "09-explain-cancelled");
    await closeTab(page, "ragls: explanation");
    return { final: seen[seen.length - 1] };
  });

  await step(page, "10-pull-model", async () => {
    await runCommand(page, "ragls: Pull Ollama Model");
    const toast = page.locator(".notification-toast", { hasText: `ragls: ${config.model}:` }).first();
    await toast.waitFor({ state: "visible", timeout: 30000 });
    return { text: (await textOf(toast)).trim() };
  });

  await step(page, "11-output-channel", async () => {
    await runCommand(page, "Output: Show Output Channels...");
    const row = page.locator(".quick-input-list .monaco-list-row", { hasText: "ragls" }).first();
    await row.waitFor({ timeout: 10000 });
    await row.click();
    // The output view renders only the lines in sight: give it the whole window.
    await page.locator('.part.panel .action-label[aria-label*="Maximize"]').first().click();
    const output = page.locator(".part.panel .monaco-editor .view-lines").first();
    const text = await waitFor(
      async () => {
        const t = await textOf(output).catch(() => "");
        return t.includes("ragls: starting") && t.includes("indexed") ? t : undefined;
      },
      15000,
      "the ragls output channel",
    );
    return { text: text.slice(0, 4000) };
  });

  await step(page, "12-show-status", async () => ({ text: await statusDialogText(page) }));

  await step(page, "13-restart-server", async () => {
    await runCommand(page, "ragls: Restart Server");
    // The item leaves the old count at once (unless the restart was quicker than this look).
    const seen = await waitFor(
      async () => {
        const t = await raglsStatusText(page);
        return /ragls: \d+ functions/.test(t) ? undefined : t;
      },
      10000,
      "the status bar to show the restart",
    ).catch(() => undefined);
    // A new server process: it starts warm from the index on disk.
    const text = await waitFor(
      async () => {
        const t = await raglsStatusText(page);
        return /ragls: \d+ functions/.test(t) ? t : undefined;
      },
      120000,
      "the restarted server to be ready",
    );
    return { seen, text, dialog: await statusDialogText(page) };
  });
} finally {
  writeFileSync(config.results, JSON.stringify(results, null, 2));
  await browser.close();
}
