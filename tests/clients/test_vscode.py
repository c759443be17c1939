"""The VS Code extension (clients/vscode): install its npm dependencies when they are missing
(`npm ci`, from package-lock.json), bundle it, run its unit tests (`node --test`) and package it
as a .vsix with `vsce package --no-dependencies`, then check what the .vsix holds.

This does not run the extension in a real VS Code (see clients/vscode/README.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parents[2] / "clients" / "vscode"
NPM = shutil.which("npm")

pytestmark = pytest.mark.skipif(
    NPM is None, reason="npm is not on PATH: the VS Code extension cannot be built"
)


def npm(*args: str, timeout: float = 300) -> str:
    assert NPM is not None
    proc = subprocess.run(
        [NPM, *args],
        cwd=EXTENSION,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"},
    )
    output = proc.stdout + proc.stderr
    command = " ".join(args)
    assert proc.returncode == 0, f"npm {command} failed ({proc.returncode}):\n{output[-6000:]}"
    return output


def test_vscode_extension_builds_tests_and_packages(tmp_path: Path) -> None:
    if not (EXTENSION / "node_modules").is_dir():
        npm("ci", "--no-audit", timeout=480)
    npm("run", "build")
    assert (EXTENSION / "dist" / "extension.js").is_file()

    output = npm("test")
    assert "# fail 0" in output, output[-4000:]

    vsix = tmp_path / "ragls.vsix"
    npm("run", "package", "--", "--out", str(vsix))
    assert vsix.is_file()
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        assert {"extension/dist/extension.js", "extension/package.json"} <= names, sorted(names)
        leaked = [n for n in names if n.startswith(("extension/node_modules/", "extension/src/"))]
        assert not leaked, leaked
        manifest = archive.read("extension/package.json").decode()
    assert '"main": "./dist/extension.js"' in manifest
