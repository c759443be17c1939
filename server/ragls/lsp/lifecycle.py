"""The server's lifecycle: `initialize`, `initialized` and `shutdown`.

- `initialize` reads the settings (initializationOptions) and the workspace folders, and
  answers at once: nothing heavy is imported or loaded before the handshake is over.
- `initialized` reports invalid settings (window/showMessage), builds the `Engine` and the
  `Explainer` and starts the engine (the model loads in the background, then every folder is
  indexed); then the features' own start-up steps run (`RaglsServer.on_initialized`: the file
  watcher, the configuration registration).
- `shutdown` stops the index worker and saves every index.

Settings changes are lsp/configuration.py's.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types

from ragls.config import load_settings
from ragls.lsp.base import RaglsServer
from ragls.lsp.convert import file_path
from ragls.lsp.logs import send_log_to_client
from ragls.lsp.progress import ClientReporter
from ragls.services.engine import Engine
from ragls.services.explain import Explainer

log = logging.getLogger(__name__)


def register(server: RaglsServer) -> None:
    """Register initialize, initialized and shutdown."""

    @server.feature(types.INITIALIZE)
    def initialize(ls: RaglsServer, params: types.InitializeParams) -> None:
        ls.settings, ls.settings_problems = load_settings(params.initialization_options)
        ls.folders = _folders_of(params)

    @server.feature(types.INITIALIZED)
    def initialized(ls: RaglsServer, params: types.InitializedParams) -> None:
        ls.loop = asyncio.get_running_loop()
        send_log_to_client(ls)
        for problem in ls.settings_problems:
            ls.show_message(problem)
        start_services(ls)
        for step in ls.on_initialized:
            step(ls)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: RaglsServer, params: None) -> None:
        ls.shut_down = True
        ls.stop_pool()
        if ls.engine is not None:
            await asyncio.get_running_loop().run_in_executor(None, ls.engine.close)


def start_services(ls: RaglsServer) -> None:
    """Build and start the engine and the explainer from the settings."""
    settings = ls.settings
    ls.engine = Engine(settings.engine, ClientReporter(ls), settings.debounce_ms / 1000, background=True)
    ls.explainer = Explainer(ls.engine.queries, settings.ollama.host, settings.ollama.model, ls.in_pool)
    ls.engine.start(ls.folders)


def _folders_of(params: types.InitializeParams) -> list[Path]:
    """The workspace folders (the root URI or path for clients without folders)."""
    if params.workspace_folders:
        uris = [folder.uri for folder in params.workspace_folders]
    elif params.root_uri:
        uris = [params.root_uri]
    else:
        return [Path(params.root_path)] if params.root_path else []
    folders = []
    for uri in uris:
        path = file_path(uri)
        if path is None:
            log.warning("ignoring workspace folder %s: only file: URIs are indexed", uri)
        else:
            folders.append(path)
    return folders
