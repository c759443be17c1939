"""The small rules under portable indexes: which bundle a folder uses, which files a part
export walks, how an embedding key is named in a refusal."""

from __future__ import annotations

from pathlib import Path

from conftest import write_files
from ragls.core.base import base_file_for
from ragls.core.bundle import BundleMismatch, Manifest, check_compatible, describe_key
from ragls.core.workspace import WalkOptions, Workspace, patterns_keeping_only

import pytest


def test_the_setting_wins_and_a_relative_file_is_the_folders_own(tmp_path):
    folder = tmp_path / "project"
    write_files(folder, {"team.ragls": "x"})
    remembered = tmp_path / "old.ragls"
    assert base_file_for(None, folder, remembered) == remembered
    assert base_file_for(None, folder, None) is None
    assert base_file_for("", folder, remembered) is None
    assert base_file_for("team.ragls", folder, remembered) == folder / "team.ragls"
    assert base_file_for("missing.ragls", folder, remembered) is None  # this folder has none
    assert base_file_for(str(tmp_path / "any.ragls"), folder, None) == tmp_path / "any.ragls"


def test_a_part_export_walks_only_its_folders(tmp_path):
    files = {f"{folder}/x.py": "def f():\n    return 1\n" for folder in ("src/a", "src/b", "src/c", "lib", "docs")}
    write_files(tmp_path, {**files, "top.py": "def g():\n    return 2\n", "src/a/deep/y.py": "def h():\n    return 3\n"})
    patterns = patterns_keeping_only(["src/a", "lib/", "src/b", "src/a/deep"])
    walked = sorted(f.rel for f in Workspace(tmp_path, WalkOptions(ignore=patterns)).files())
    assert walked == ["lib/x.py", "src/a/deep/y.py", "src/a/x.py", "src/b/x.py"]


def test_a_refusal_names_model_and_backend():
    manifest = Manifest(model_id="org/model|onnx-int8", dim=384, files={}, chunks=0)
    assert describe_key("org/model|onnx-int8") == "org/model (onnx-int8)"
    assert describe_key("org/model") == "org/model (torch)"
    assert describe_key("org/model|document-prompt:abc") == "org/model (torch)"
    with pytest.raises(BundleMismatch, match=r"built with org/model \(onnx-int8\), this index embeds with org/model \(torch\)"):
        check_compatible(manifest, "org/model", 384, "b.ragls")
    with pytest.raises(BundleMismatch, match="document-prompt"):
        check_compatible(manifest, "org/model|onnx-int8|document-prompt:abc", 384, "b.ragls")
    with pytest.raises(BundleMismatch, match="384-dimensional"):
        check_compatible(manifest, "org/model|onnx-int8", 768, "b.ragls")
    check_compatible(manifest, "org/model|onnx-int8", 384, "b.ragls")
