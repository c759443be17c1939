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


def test_the_extension_states_no_default_of_a_server_setting() -> None:
    """The server's defaults are written once, in the server: the extension sends a setting only
    when the user set it, and its package.json gives each server setting no value of its own."""
    import json

    from ragls.config import Settings, settings_json

    properties = json.loads((EXTENSION / "package.json").read_text())["contributes"]["configuration"]["properties"]
    server_keys = {f"ragls.{key}" for key in _flat_keys(settings_json(Settings()))}
    declared = server_keys & set(properties)
    assert declared >= {"ragls.model", "ragls.maxFileSize", "ragls.ollama.model", "ragls.hover.explain"}
    stated = {key: properties[key]["default"] for key in declared if properties[key].get("default") is not None}
    assert stated == {}


def _flat_keys(settings: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in settings.items():
        keys.extend(_flat_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"])
    return keys
