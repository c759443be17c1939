"""Building the VS Code extension (clients/vscode) from the tests: npm with the lock file."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

EXTENSION = Path(__file__).resolve().parents[2] / "clients" / "vscode"
NPM = shutil.which("npm")


def npm(*args: str, timeout: float = 300) -> str:
    """Run `npm ARGS` in clients/vscode; fail the test with npm's output unless it exits 0."""
    assert NPM is not None, "npm is not on PATH"
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


def install_dependencies() -> None:
    """`npm ci` from package-lock.json when node_modules is missing."""
    if not (EXTENSION / "node_modules").is_dir():
        npm("ci", "--no-audit", timeout=480)


def package_vsix(out: Path) -> Path:
    """Bundle the extension and package it as the .vsix `out`."""
    install_dependencies()
    npm("run", "build")
    npm("run", "package", "--", "--out", str(out))
    assert out.is_file()
    return out
