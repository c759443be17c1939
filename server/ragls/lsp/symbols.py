"""`workspace/symbol`: functions by name, then, for queries of several words, by meaning.

Name matches come first (the exact name, then names ending in the query, then shorter names
containing it, ignoring case), so the symbol picker behaves as usual. A query of two words or
more ("parse the config file") also gets the best semantic matches after them, so the picker
finds code by what it does. Each symbol's container is its file's path in its folder.
"""

from __future__ import annotations

from lsprotocol import types

from ragls.core.chunk import CONSTRUCTOR, FUNCTION, METHOD
from ragls.lsp.base import RaglsServer
from ragls.services.queries import Found
from ragls.services.results import chunk_uri

SYMBOL_KINDS = {
    FUNCTION: types.SymbolKind.Function,
    METHOD: types.SymbolKind.Method,
    CONSTRUCTOR: types.SymbolKind.Constructor,
}


def register(server: RaglsServer) -> None:
    """Register workspace/symbol."""

    @server.feature(types.WORKSPACE_SYMBOL)
    async def workspace_symbol(
        ls: RaglsServer, params: types.WorkspaceSymbolParams
    ) -> list[types.WorkspaceSymbol]:
        if ls.engine is None:
            return []
        found = await ls.run_query(ls.engine.queries.symbols, params.query)
        return [workspace_symbol_of(item) for item in found]


def workspace_symbol_of(found: Found) -> types.WorkspaceSymbol:
    """The LSP symbol of a found function."""
    chunk = found.chunk
    span = chunk.span
    return types.WorkspaceSymbol(
        name=chunk.name,
        kind=SYMBOL_KINDS.get(chunk.kind, types.SymbolKind.File),
        container_name=chunk.path,
        location=types.Location(
            uri=chunk_uri(found.folder, chunk),
            range=types.Range(
                start=types.Position(line=span.start_line, character=span.start_col),
                end=types.Position(line=span.end_line, character=span.end_col),
            ),
        ),
    )
