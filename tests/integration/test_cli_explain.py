"""`ragls explain FILE:LINE` as a user runs it: a subprocess, the real index and model, and the
stand-in Ollama server (tests/ollama_server.py) over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE_FILES, write_files
from ollama_server import FakeOllama

pytestmark = pytest.mark.slow

ADD_ITEM_LINE = SAMPLE_FILES["shop/cart.py"].split("\n").index("    def add_item(self, name, price, quantity=1):") + 1


def ragls(*args: str, cache: Path, host: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "RAGLS_CACHE_DIR": str(cache),
        "OPENBLAS_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "OLLAMA_HOST": host,
    }
    return subprocess.run([sys.executable, "-m", "ragls", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli-explain")
    root, cache = base / "workspace", base / "cache"
    write_files(root, SAMPLE_FILES)
    ollama = FakeOllama(reply="It appends the item to `self.items` [1].").start()
    result = ragls("index", str(root), cache=cache, host=ollama.host)
    assert result.returncode == 0, result.stderr
    yield root, cache, ollama
    ollama.stop_listening()


def test_explain_streams_the_answer_then_lists_the_sources(indexed):
    root, cache, ollama = indexed
    result = ragls("explain", f"{root / 'shop/cart.py'}:{ADD_ITEM_LINE}", "--question", "Why a tuple?", cache=cache, host=ollama.host)
    assert result.returncode == 0, result.stderr
    answer, _, sources = result.stdout.partition("\nsources:\n")
    assert answer.strip() == ollama.reply
    lines = sources.splitlines()
    assert lines and lines[0].startswith("[1] ") and any("Cart.total_price" in line for line in lines)
    assert all(line.split()[1].split(":")[0] in SAMPLE_FILES for line in lines)
    prompt = ollama.bodies("/api/chat")[-1]["messages"][-1]["content"]
    assert "def add_item(self, name, price, quantity=1):" in prompt and prompt.endswith("Question: Why a tuple?")


def test_explain_with_a_missing_model_is_one_line_and_exit_2(indexed):
    root, cache, ollama = indexed
    result = ragls("explain", f"{root / 'shop/cart.py'}:{ADD_ITEM_LINE}", "--ollama-model", "nope:1b", cache=cache, host=ollama.host)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("ragls: error: the Ollama model 'nope:1b' is not installed")
    assert "ollama pull nope:1b" in result.stderr


def test_explain_without_ollama_is_one_line_and_exit_2(indexed):
    root, cache, _ = indexed
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = ragls("explain", f"{root / 'shop/cart.py'}:{ADD_ITEM_LINE}", cache=cache, host=f"127.0.0.1:{port}")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        f"ragls: error: cannot reach Ollama at http://127.0.0.1:{port}: start it with `ollama serve` (or point ragls at it: ollama.host, --ollama-host or $OLLAMA_HOST)"
    )
