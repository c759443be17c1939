"""The errors of the services: what the server answers as JSON-RPC errors and the CLI as one line."""

from __future__ import annotations

from ragls.core.errors import RaglsError


class EngineError(RaglsError):
    """A request the engine cannot answer; the message tells the user why."""


class InvalidRequest(EngineError):
    """A request about something ragls does not index: the asker must change the request."""


class OutsideRootsError(InvalidRequest):
    """A file that is not inside any workspace folder (or leads outside it through a symlink)."""
