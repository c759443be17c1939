"""`ragls eval` as a user runs it, on real code nobody here wrote (the standard library's json
package): queries from its docs, a doc-less copy, the real model, every ranking."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from test_cli import ragls

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    base = tmp_path_factory.mktemp("eval")
    root = base / "json"
    shutil.copytree(Path(os.__file__).parent / "json", root, ignore=shutil.ignore_patterns("__pycache__", "tool.py"))
    result = ragls("eval", str(root), "--limit", "8", "--json", "--keep", str(base / "kept"), cache=base / "cache")
    assert result.returncode == 0, result.stderr
    return root, base, json.loads(result.stdout)


def test_eval_reports_every_ranking_overall_and_per_language(kept):
    _, _, report = kept
    assert report["queries"] == 8 and report["default"] == "hybrid"
    assert set(report["rankings"]) == {"dense", "lexical", "hybrid"}
    for scores in report["rankings"].values():
        assert set(scores) == {"mrr@10", "recall@1", "recall@10"}
        assert 0 <= scores["recall@1"] <= scores["mrr@10"] <= scores["recall@10"] <= 1
    assert report["languages"]["python"]["queries"] == 8
    assert report["rankings"]["hybrid"]["recall@10"] > 0.3, "the model finds some of json's functions"


def test_the_copy_has_no_function_docs_and_keeps_every_line(kept):
    root, base, _ = kept
    original, copy = (root / "decoder.py").read_text(), (base / "kept" / "code" / "decoder.py").read_text()
    assert "Return the Python representation of ``s``" in original and "Return the Python representation" not in copy
    assert original.count("\n") == copy.count("\n")
    assert not (base / "cache").exists(), "the user's own cache is left alone"
    queries = json.loads((base / "kept" / "queries.json").read_text())["queries"]
    assert all(6 <= len(q["text"].split()) <= 40 for q in queries)


def test_a_kept_copy_is_reused_and_gives_the_same_answer(kept):
    root, base, report = kept
    again = ragls("eval", str(root), "--limit", "8", "--json", "--keep", str(base / "kept"), cache=base / "cache")
    assert again.returncode == 0 and json.loads(again.stdout) == report
    assert "embedding" not in again.stderr, "nothing is embedded again"


def test_a_folder_without_documented_functions_says_so(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    return 1\n")
    result = ragls("eval", str(tmp_path), cache=tmp_path / "cache")
    assert result.returncode == 2 and "no documented function" in result.stderr
