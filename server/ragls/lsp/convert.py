"""Between LSP messages and the services: params in, results out, errors as JSON-RPC errors.

pygls hands custom-request params over as nested named tuples (and command arguments as plain
JSON values); `params_object` turns either into dicts, and the `*_param` readers check each
field so that a bad request answers a clear JSON-RPC error instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.uris import to_fs_path
from pygls.workspace import Workspace

from ragls.services.queries import Found
from ragls.services.results import result_json

DEFAULT_LIMIT = 10


class RequestFailed(JsonRpcException):
    """LSP's RequestFailed: the params were fine but the server could not answer."""

    CODE = -32803
    MESSAGE = "Request Failed"


def invalid_params(message: str) -> JsonRpcInvalidParams:
    """An InvalidParams error whose message is exactly `message`."""
    return JsonRpcInvalidParams(message=message)


def plain(value: Any) -> Any:
    """JSON-like data from pygls' named tuples: objects become dicts, recursively."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def params_object(params: Any) -> dict:
    """The params of a custom request or command as a dict; `null` counts as `{}`."""
    value = plain(params)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_params("params must be an object")
    return value


def command_params(arguments: tuple) -> dict:
    """The one argument of a ragls command: the same object as the matching request's params."""
    if len(arguments) != 1:
        raise invalid_params(f"this command takes one argument (an object), got {len(arguments)}")
    return params_object(arguments[0])


def string_param(params: dict, key: str) -> str:
    """A required string field (lone surrogates replaced, see clean_text)."""
    value = params.get(key)
    if not isinstance(value, str):
        raise invalid_params(f"'{key}' must be a string")
    return clean_text(value)


def limit_param(params: dict) -> int:
    """The optional `limit` (1 to 1000, default 10)."""
    value = params.get("limit", DEFAULT_LIMIT)
    if value is None:
        return DEFAULT_LIMIT
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
        raise invalid_params(f"'limit' must be a whole number from 1 to 1000, got {value!r}")
    return value


def uri_param(params: dict) -> str:
    """`textDocument.uri`."""
    document = params.get("textDocument")
    if not isinstance(document, dict) or not isinstance(document.get("uri"), str):
        raise invalid_params("'textDocument' must be an object with a 'uri' string")
    return document["uri"]


def position_param(params: dict) -> tuple[int, int]:
    """`position` as (line, character), both whole numbers from 0."""
    position = params.get("position")
    if not isinstance(position, dict):
        raise invalid_params("'position' must be an object with 'line' and 'character'")
    line, character = position.get("line"), position.get("character")
    for name, value in (("line", line), ("character", character)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise invalid_params(f"'position.{name}' must be a whole number from 0, got {value!r}")
    return line, character


def file_path(uri: str) -> Path | None:
    """The file system path of a `file:` URI; None for other schemes (`untitled:`, ...)."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return Path(path) if path else None


def path_of(uri: str) -> Path:
    """The file system path of a `file:` URI; InvalidParams for any other URI."""
    path = file_path(uri)
    if path is None:
        raise invalid_params(f"only file: URIs are supported, got {uri!r}")
    return path


def open_text(workspace: Workspace, uri: str) -> str | None:
    """The editor's current text of a document, or None when it is not open (the services then
    read the file, after checking that they may)."""
    if unquote(uri) in workspace.text_documents:
        return clean_text(workspace.get_text_document(uri).source)
    return None


def clean_text(text: str) -> str:
    """`text` with lone surrogates (valid in JSON strings, not in Unicode text) replaced by
    U+FFFD, which keeps every UTF-16 position as it was."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if _has_surrogate(text) else text


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_position(text: str, line: int, character: int, uri: str) -> None:
    """InvalidParams unless (line, character) lies inside `text` (UTF-16 columns, as LSP)."""
    lines = text.split("\n")
    if line >= len(lines):
        raise invalid_params(f"line {line} is past the end of {uri} ({len(lines)} lines)")
    width = len(lines[line].rstrip("\r").encode("utf-16-le")) // 2
    if character > width:
        raise invalid_params(
            f"character {character} is past the end of line {line} of {uri} ({width} characters)"
        )


def result(found: Found) -> dict:
    """A `Result` (found by a query, with its score) or a `Symbol` (no score)."""
    return result_json(found.folder, found.chunk, found.score)
