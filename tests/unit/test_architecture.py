"""The structure of server/ragls, read from the code's own imports with `ast`: every import
counts, function-local and TYPE_CHECKING ones too.

- no module imports, directly or through others, a module that imports it back;
- layers import downward only: lsp -> services -> core; core and services never import pygls,
  lsprotocol or the layers above them; the CLI reaches the engine only through the services;
- no file in services/ is over 450 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "ragls"
MAX_SERVICE_LINES = 450


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (names of ragls modules, or top-level names)."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return found


def ragls_imports(name: str) -> set[str]:
    """The ragls modules `name` imports (a package stands for its __init__)."""
    return {other for other in imported(MODULES[name]) if other in MODULES and other != name}


GRAPH = {name: ragls_imports(name) for name in MODULES}


def cycles() -> list[list[str]]:
    """Every import circle, as the list of modules on it."""
    found, index, low, stack, on_stack, counter = [], {}, {}, [], set(), [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in GRAPH[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    return found


def test_the_graph_is_read_from_the_code():
    assert len(MODULES) > 40
    assert "ragls.core.indexer" in GRAPH["ragls.services.roots"]
    assert "ragls.lsp.base" in GRAPH["ragls.lsp.hover"]


def test_no_module_imports_itself_back_through_any_chain():
    assert cycles() == []


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("ragls.core", ("pygls", "lsprotocol", "ragls.services", "ragls.lsp", "ragls.config", "ragls.__main__")),
        ("ragls.services", ("pygls", "lsprotocol", "ragls.lsp", "ragls.__main__")),
        ("ragls.lsp", ("ragls.__main__",)),
    ],
)
def test_layers_import_downward_only(layer, forbidden):
    wrong = {
        (name, other)
        for name, path in MODULES.items()
        if name == layer or name.startswith(layer + ".")
        for other in imported(path)
        if any(other == bad or other.startswith(bad + ".") for bad in forbidden)
    }
    assert wrong == set()


def test_the_cli_goes_through_the_services():
    assert not {"ragls.core.indexer", "ragls.core.retrieval"} & imported(MODULES["ragls.__main__"])


def test_the_server_class_imports_no_feature():
    features = {name for name in MODULES if name.startswith("ragls.lsp.") and name not in ("ragls.lsp.base", "ragls.lsp.convert")}
    assert not GRAPH["ragls.lsp.base"] & features


def test_no_service_module_is_over_450_lines():
    long = {path.name: n for path in (PACKAGE / "services").glob("*.py") if (n := len(path.read_text().splitlines())) > MAX_SERVICE_LINES}
    assert long == {}


def test_a_circle_would_be_seen():
    GRAPH["ragls.core.chunk"].add("ragls.core.store")  # store imports chunk: a circle of two
    try:
        assert ["ragls.core.chunk", "ragls.core.store"] in cycles()
    finally:
        GRAPH["ragls.core.chunk"].discard("ragls.core.store")
