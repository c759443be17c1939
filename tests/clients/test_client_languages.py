"""Both editor clients start ragls for exactly the languages the server parses.

A language added to the server (ragls.core.languages.PARSED_LANGUAGES) fails this test until
both clients list its editor language ids.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ragls.core.languages import PARSED_LANGUAGES

CLIENTS = Path(__file__).resolve().parents[2] / "clients"

# The server's language -> the ids editors give such files (VS Code language ids and Neovim
# filetypes agree on these).
EDITOR_IDS = {
    "python": {"python"},
    "javascript": {"javascript", "javascriptreact"},
    "typescript": {"typescript"},
    "tsx": {"typescriptreact"},
    "go": {"go"},
    "rust": {"rust"},
    "java": {"java"},
    "c": {"c"},
    "cpp": {"cpp"},
    "ruby": {"ruby"},
}
EXPECTED = set().union(*EDITOR_IDS.values())


def test_every_server_language_has_editor_ids():
    assert set(EDITOR_IDS) == set(PARSED_LANGUAGES)


def test_vscode_activates_on_every_language():
    manifest = json.loads((CLIENTS / "vscode" / "package.json").read_text())
    events = {e.removeprefix("onLanguage:") for e in manifest["activationEvents"] if e.startswith("onLanguage:")}
    assert events == EXPECTED
    for menu in manifest["contributes"]["menus"]["editor/context"]:
        assert set(re.findall(r"editorLangId == (\w+)", menu["when"])) == EXPECTED, menu["command"]


def test_neovim_attaches_on_every_filetype():
    config = (CLIENTS / "neovim" / "lsp" / "ragls.lua").read_text()
    filetypes = re.search(r"filetypes = \{([^}]*)\}", config).group(1)
    assert set(re.findall(r"'(\w+)'", filetypes)) == EXPECTED
