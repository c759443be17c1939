"""The `ragls` command as a user runs it: a real subprocess on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLE_FILES, write_files


def ragls(*args: str, cache: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAGLS_CACHE_DIR": str(cache), "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ragls", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
    )


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A sample workspace indexed once by `ragls index`, shared by the read-only CLI tests."""
    base = tmp_path_factory.mktemp("cli")
    root, cache = base / "workspace", base / "cache"
    write_files(root, SAMPLE_FILES)
    result = ragls("index", str(root), cache=cache)
    return root, cache, result


def test_index_prints_a_summary_and_progress_goes_to_stderr(indexed):
    root, _, result = indexed
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"indexed {root}: {len(SAMPLE_FILES)} files")
    assert "embedding" in result.stderr and "chunks/s" in result.stderr


def test_second_index_embeds_nothing(indexed):
    root, cache, _ = indexed
    result = ragls("index", str(root), "--json", cache=cache)
    report = json.loads(result.stdout)
    assert report["embedded"] == 0 and report["files_changed"] == 0 and report["files"] == len(SAMPLE_FILES)


def test_search_json_has_lsp_ranges(indexed):
    root, cache, _ = indexed
    result = ragls("search", "add an item to the shopping cart", "--json", "--limit", "3", cache=cache, cwd=root / "shop")
    assert result.returncode == 0, result.stderr
    top = json.loads(result.stdout)["results"][0]
    assert top["name"] == "Cart.add_item" and top["path"] == "shop/cart.py"
    assert top["uri"] == (root / "shop/cart.py").as_uri()
    assert top["range"] == {"start": {"line": 11, "character": 4}, "end": {"line": 13, "character": 50}}
    assert top["kind"] == "method" and top["language"] == "python" and 0 < top["score"] <= 1
    assert top["preview"].startswith("def add_item(self, name, price, quantity=1):")


def test_related_human_output(indexed):
    root, cache, _ = indexed
    result = ragls("related", f"{root}/shop/discounts.py:3", "--limit", "2", cache=cache)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("shop/discounts.py:1  apply_discount")
    assert len(lines) == 3 and all(line.count("  ") >= 2 for line in lines[1:])


def test_status_json(indexed):
    root, cache, _ = indexed
    status = json.loads(ragls("status", str(root), "--json", cache=cache).stdout)
    assert status["files"] == len(SAMPLE_FILES) and status["chunks"] > 10
    assert status["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert status["state"] == "ready" and status["roots"] == [root.as_uri()]
    (folder,) = status["folders"]
    assert folder["lastRun"]["device"] == "cpu" and folder["indexBytes"] > 0 and folder["uri"] == root.as_uri()


def test_status_text_names_the_device_the_model_ran_on(indexed):
    root, cache, _ = indexed
    lines = ragls("status", str(root), cache=cache).stdout.splitlines()
    assert any(line.split() == ["device", "cpu"] for line in lines), lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("related", "nowhere.py:3"), "no such file: nowhere.py"),
        (("related", "README"), "expected FILE:LINE"),
        (("index", "/does/not/exist"), "not a folder: /does/not/exist"),
        (("search", "   "), "the query is empty"),
        (("search", "x", "--limit", "0"), "limit must be"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(indexed, args, message):
    root, cache, _ = indexed
    result = ragls(*args, cache=cache, cwd=root)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_search_in_an_unindexed_folder_says_how_to_fix_it(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    pass\n")
    result = ragls("search", "anything", "--root", str(tmp_path), cache=tmp_path / "cache")
    assert result.returncode == 2 and "run `ragls index" in result.stderr


def test_missing_model_is_a_clear_error(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    pass\n")
    result = ragls("index", str(tmp_path), "--model", "no-such-org/no-such-model", cache=tmp_path / "cache")
    assert result.returncode == 2
    assert "cannot load embedding model 'no-such-org/no-such-model'" in result.stderr
    assert "Traceback" not in result.stderr


def test_device_cuda_without_a_gpu_is_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    (tmp_path / "a.py").write_text("def f():\n    pass\n")
    result = ragls("index", str(tmp_path), "--device", "cuda", cache=tmp_path / "cache")
    assert result.returncode == 2 and "no CUDA GPU" in result.stderr and "Traceback" not in result.stderr
