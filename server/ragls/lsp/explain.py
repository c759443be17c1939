"""Asking the local LLM about a function: `ragls/explain`, its commands and its code actions.

- `ragls/explain` `{textDocument, position, question?, regenerate?, partialResultToken?,
  workDoneToken?}` -> `{markdown, symbol, sources, model, incomplete?, cached?}`. With a
  `partialResultToken` every text delta is sent as it arrives, as `$/progress` `{"delta": ...}`
  on that token, in order; the response carries the whole text. `$/cancelRequest` cancels the
  handler's task, which closes the Ollama stream at once.
- Commands: `ragls.explain` and `ragls.ask` take the request's params as their one argument
  (`ragls.ask` needs a `question`: clients ask the user for one first); `ragls.pullModel`
  downloads the model with `$/progress` begin/report/end.
- Code actions on a function: explain, ask, find related, regenerate (when an answer is cached).

Errors (Ollama down, model missing, timeouts) are shown once with `window/showMessage` and
answered as RequestFailed with the same message; an answer that broke off mid-stream is
returned as far as it came, with `incomplete: true`.
"""

from __future__ import annotations

import itertools
from typing import Any

from lsprotocol import types

from ragls.core.chunk import MODULE, WINDOW
from ragls.lsp.base import RaglsServer, answering_errors
from ragls.lsp.convert import (
    RequestFailed,
    check_position,
    command_params,
    invalid_params,
    params_object,
    path_of,
    position_param,
    result,
    uri_param,
)
from ragls.services.explain import Explanation

EXPLAIN = "ragls/explain"
EXPLAIN_COMMAND = "ragls.explain"
ASK_COMMAND = "ragls.ask"
PULL_MODEL_COMMAND = "ragls.pullModel"
FIND_RELATED_COMMAND = "ragls.findRelated"
_pull_ids = itertools.count(1)


def register(server: RaglsServer) -> None:
    """Register ragls/explain, the explain/ask/pullModel commands and the code actions."""

    @server.feature(EXPLAIN)
    async def explain_request(ls: RaglsServer, params: Any) -> dict:
        return await explain(ls, params_object(params))

    @server.command(EXPLAIN_COMMAND)
    async def explain_command(ls: RaglsServer, *arguments: Any) -> dict:
        return await explain(ls, command_params(arguments))

    @server.command(ASK_COMMAND)
    async def ask_command(ls: RaglsServer, *arguments: Any) -> dict:
        params = command_params(arguments)
        if not isinstance(params.get("question"), str) or not params["question"].strip():
            raise invalid_params("ragls.ask needs a 'question': ask the user for one, then run it again")
        return await explain(ls, params)

    @server.command(PULL_MODEL_COMMAND)
    async def pull_model_command(ls: RaglsServer, *arguments: Any) -> dict:
        params = command_params(arguments) if arguments else {}
        return await pull_model(ls, _optional_string(params, "model"))

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.Empty]),
    )
    async def code_actions(ls: RaglsServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return await function_code_actions(ls, params.text_document.uri, params.range.start)


async def explain(ls: RaglsServer, params: dict) -> dict:
    """`ragls/explain`: stream the answer (partial results) and return it whole."""
    uri, (line, character) = uri_param(params), position_param(params)
    question = _optional_string(params, "question")
    regenerate = params.get("regenerate") is True
    partial_token = params.get("partialResultToken")
    work_token = params.get("workDoneToken")
    explainer = ls.require_explainer()
    text = await ls.read_document(uri)
    check_position(text, line, character, uri)

    def send_delta(delta: str) -> None:
        if partial_token is not None:
            ls.progress(types.ProgressParams(token=partial_token, value={"delta": delta}))

    _work_done(ls, work_token, {"kind": "begin", "title": f"ragls: asking {explainer.model}", "cancellable": True})
    try:
        with answering_errors():
            explanation = await explainer.explain(path_of(uri), text, line, question, send_delta, regenerate)
    except RequestFailed as exc:
        message = f"ragls: {exc.message}"
        ls.show_message_once(message, types.MessageType.Error)
        raise RequestFailed(message=message) from None
    finally:
        _work_done(ls, work_token, {"kind": "end"})
    for note in explanation.withheld:  # told once per file and secret, not at every answer
        ls.tell_once(f"ragls: {note}")
    if explanation.incomplete:
        ls.show_message_once(f"ragls: the answer is incomplete: {explanation.error}", types.MessageType.Warning)
    return explanation_json(explanation)


def explanation_json(explanation: Explanation) -> dict:
    """The `ragls/explain` result."""
    payload: dict = {
        "markdown": explanation.markdown,
        "symbol": result(explanation.symbol),
        "sources": explanation.sources,
        "model": explanation.model,
    }
    if explanation.incomplete:
        payload["incomplete"] = True
    if explanation.cached:
        payload["cached"] = True
    return payload


async def pull_model(ls: RaglsServer, model: str | None) -> dict:
    """`ragls.pullModel`: download the model, reporting `/api/pull` as work-done progress."""
    explainer = ls.require_explainer()
    name = model or explainer.model
    token = f"ragls-pull-{next(_pull_ids)}"
    progress = await _create_progress(ls, token)
    if progress:
        ls.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title=f"ragls: pulling {name}", cancellable=False, percentage=0)
        )
    outcome = "failed"
    try:
        with answering_errors():
            async for step in explainer.pull(name):
                if progress:
                    ls.work_done_progress.report(
                        token, types.WorkDoneProgressReport(message=step.status, percentage=step.percentage)
                    )
        outcome = "success"
    except RequestFailed as exc:
        message = f"ragls: {exc.message}"
        ls.show_message_once(message, types.MessageType.Error)
        raise RequestFailed(message=message) from None
    finally:
        if progress:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=f"{name}: {outcome}"))
    return {"model": name, "status": outcome}


async def function_code_actions(ls: RaglsServer, uri: str, start: types.Position) -> list[types.CodeAction]:
    """The ragls actions for the function at `start` (none outside functions)."""
    explainer = ls.explainer
    if explainer is None or ls.engine is None:
        return []
    try:
        text = await ls.read_document(uri)
        check_position(text, start.line, start.character, uri)
        lookup = await explainer.cached(path_of(uri), text, start.line)
    except Exception:  # no actions where ragls has nothing to offer (unknown file, no code)
        return []
    if lookup.symbol.chunk.kind in (MODULE, WINDOW):
        return []
    at = {"textDocument": {"uri": uri}, "position": {"line": start.line, "character": start.character}}
    name = lookup.symbol.chunk.name
    actions = [
        _action("ragls: Explain this function", EXPLAIN_COMMAND, at, name),
        _action("ragls: Ask about this function…", ASK_COMMAND, at, name),
        _action("ragls: Find related code", FIND_RELATED_COMMAND, at, name),
    ]
    if lookup.fresh is not None or lookup.stale is not None:
        actions.append(_action("ragls: Regenerate explanation", EXPLAIN_COMMAND, {**at, "regenerate": True}, name))
    return actions


def _action(title: str, command: str, argument: dict, name: str) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=types.CodeActionKind.Empty,
        command=types.Command(title=f"{title} ({name})", command=command, arguments=[argument]),
    )


async def _create_progress(ls: RaglsServer, token: str) -> bool:
    capabilities = ls.client_capabilities.window
    if not (capabilities and capabilities.work_done_progress):
        return False
    try:
        await ls.work_done_progress.create_async(token)
    except Exception:  # the client refused the token: pull without progress
        return False
    return True


def _work_done(ls: RaglsServer, token: Any, value: dict) -> None:
    if token is not None:
        ls.progress(types.ProgressParams(token=token, value=value))


def _optional_string(params: dict, key: str) -> str | None:
    value = params.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid_params(f"'{key}' must be a string")
    return value
