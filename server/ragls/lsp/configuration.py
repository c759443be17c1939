"""Settings changes: `workspace/didChangeConfiguration`, then a `workspace/configuration` pull.

Clients that support `workspace/configuration` are asked for the `ragls` section; others are
read from the notification's `settings.ragls`. A `null` section means "nothing configured" and
changes nothing. Invalid values are shown with window/showMessage and replaced by defaults; a
change of model, device, cache folder, ignore globs or size limit re-opens the indexes (a new
model re-embeds, anything else only re-checks the files).
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types

from ragls.config import SECTION, load_settings
from ragls.lsp.base import RaglsServer

log = logging.getLogger(__name__)

REGISTRATION_ID = "ragls-configuration"


def register(server: RaglsServer) -> None:
    """Register workspace/didChangeConfiguration, and its registration at start-up."""
    server.on_initialized.append(register_for_changes)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: RaglsServer, params: types.DidChangeConfigurationParams) -> None:
        raw = await _pull(ls) if _can_pull(ls) else _pushed(params.settings)
        if raw is not None:
            apply_settings(ls, raw)


def register_for_changes(server: RaglsServer) -> None:
    """Ask for didChangeConfiguration notifications about `ragls`, where registration is dynamic."""
    capabilities = server.client_capabilities.workspace
    change = capabilities.did_change_configuration if capabilities else None
    if change and change.dynamic_registration:
        options = types.DidChangeConfigurationRegistrationOptions(section=SECTION)
        server.register_in_background(
            types.Registration(
                id=REGISTRATION_ID, method=types.WORKSPACE_DID_CHANGE_CONFIGURATION, register_options=options
            )
        )


def apply_settings(ls: RaglsServer, raw: Any) -> None:
    """Take new settings from the client: report invalid values, reconfigure the services."""
    ls.settings, problems = load_settings(raw)
    for problem in problems:
        ls.show_message(problem)
    if ls.engine is not None:
        ls.engine.set_debounce(ls.settings.debounce_ms / 1000)
        ls.engine.reconfigure(ls.settings.engine)
    if ls.explainer is not None:
        ls.explainer.configure(ls.settings.ollama.host, ls.settings.ollama.model)


def _can_pull(server: RaglsServer) -> bool:
    capabilities = server.client_capabilities.workspace
    return bool(capabilities and capabilities.configuration)


async def _pull(server: RaglsServer) -> Any:
    try:
        answer = await server.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
        )
    except Exception as exc:  # a client that fails the pull keeps the current settings
        log.warning("workspace/configuration failed: %s", exc)
        return None
    return answer[0] if answer else None


def _pushed(settings: Any) -> Any:
    return settings.get(SECTION) if isinstance(settings, dict) else None
