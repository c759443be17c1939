"""ragls' own requests and commands (docs/protocol.md has the exact shapes).

- `ragls/search` `{query, limit?}` -> `{results: [Result], partial}`: the functions that best
  match a natural-language or identifier query, over every workspace folder.
- `ragls/findRelated` `{textDocument: {uri}, position, limit?}` -> `{symbol, results}`: the
  function enclosing the position in the document's current text (saved or not), then the
  functions most like it.
- `ragls/status` `{}` -> state, folders, counts, model and device of the index.
- `workspace/executeCommand` `ragls.search` / `ragls.findRelated` take the same object as the
  request as their one argument and answer the same; `ragls.reindex` re-checks every folder.

Queries run in a thread pool so the event loop keeps answering (status stays instant while a
folder is indexed); `$/cancelRequest` cancels them.
"""

from __future__ import annotations

from typing import Any

from ragls.lsp.convert import (
    check_position,
    command_params,
    limit_param,
    params_object,
    path_of,
    position_param,
    result,
    string_param,
    uri_param,
)
from ragls.lsp.base import RaglsServer
from ragls.services.status import Status
from ragls.services.results import status_json
from ragls.services.worker import STARTING

SEARCH = "ragls/search"
FIND_RELATED = "ragls/findRelated"
STATUS = "ragls/status"
SEARCH_COMMAND = "ragls.search"
FIND_RELATED_COMMAND = "ragls.findRelated"
REINDEX_COMMAND = "ragls.reindex"


def register(server: RaglsServer) -> None:
    """Register the custom requests and the commands."""

    @server.feature(SEARCH)
    async def search_request(ls: RaglsServer, params: Any) -> dict:
        return await search(ls, params_object(params))

    @server.feature(FIND_RELATED)
    async def find_related_request(ls: RaglsServer, params: Any) -> dict:
        return await find_related(ls, params_object(params))

    @server.feature(STATUS)
    def status_request(ls: RaglsServer, params: Any) -> dict:
        return server_status(ls)

    @server.command(SEARCH_COMMAND)
    async def search_command(ls: RaglsServer, *arguments: Any) -> dict:
        return await search(ls, command_params(arguments))

    @server.command(FIND_RELATED_COMMAND)
    async def find_related_command(ls: RaglsServer, *arguments: Any) -> dict:
        return await find_related(ls, command_params(arguments))

    @server.command(REINDEX_COMMAND)
    def reindex_command(ls: RaglsServer, *arguments: Any) -> dict:
        folders = ls.require_engine().reindex()
        return {"roots": [folder.as_uri() for folder in folders]}


async def search(ls: RaglsServer, params: dict) -> dict:
    """`ragls/search`: results over every folder, best first."""
    query, limit = string_param(params, "query"), limit_param(params)
    outcome = await ls.run_query(ls.require_engine().queries.search, query, limit)
    return {"results": [result(found) for found in outcome.results], "partial": outcome.partial}


async def find_related(ls: RaglsServer, params: dict) -> dict:
    """`ragls/findRelated`: the enclosing function of a position, then the most related ones."""
    uri, (line, character), limit = uri_param(params), position_param(params), limit_param(params)
    engine = ls.require_engine()
    text = await ls.read_document(uri)
    check_position(text, line, character, uri)
    outcome = await ls.run_query(engine.queries.related, path_of(uri), text, line, limit)
    return {
        "symbol": result(outcome.symbol) if outcome.symbol else None,
        "results": [result(found) for found in outcome.results],
    }


def server_status(ls: RaglsServer) -> dict:
    """`ragls/status`: answered on the event loop, from counts, without waiting for anything."""
    return status_json(ls.engine.status() if ls.engine is not None else _status_before_start(ls))


def _status_before_start(ls: RaglsServer) -> Status:
    return Status(
        state=STARTING,
        roots=ls.folders,
        files=0,
        chunks=0,
        pending_files=0,
        embedded_chunks=0,
        model=ls.settings.engine.model,
        device="",
        backend="",
        message="waiting for the client's initialized notification",
        folders=[],
    )
