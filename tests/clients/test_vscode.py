"""The VS Code extension (clients/vscode): install its npm dependencies when they are missing
(`npm ci`, from package-lock.json), bundle it, run its unit tests (`node --test`) and package it
as a .vsix with `vsce package --no-dependencies`, then check what the .vsix holds.

tests/clients/test_vscode_e2e.py runs the packaged extension in a real VS Code.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from vscode_build import EXTENSION, NPM, install_dependencies, npm, package_vsix

pytestmark = pytest.mark.skipif(
    NPM is None, reason="npm is not on PATH: the VS Code extension cannot be built"
)


def test_vscode_extension_builds_tests_and_packages(tmp_path: Path) -> None:
    install_dependencies()
    output = npm("test")
    assert "# fail 0" in output, output[-4000:]
    assert (EXTENSION / "dist" / "extension.js").is_file()

    vsix = package_vsix(tmp_path / "ragls.vsix")
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        assert {"extension/dist/extension.js", "extension/package.json"} <= names, sorted(names)
        leaked = [n for n in names if n.startswith(("extension/node_modules/", "extension/src/"))]
        assert not leaked, leaked
        manifest = archive.read("extension/package.json").decode()
    assert '"main": "./dist/extension.js"' in manifest
