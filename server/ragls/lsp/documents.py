"""Keeping the index in step with the files: documents, file watching, workspace folders.

- `textDocument/didOpen` / `didClose`: the engine remembers open files; a folder's first index
  run reads them before the rest. (pygls keeps their text, which findRelated and hover read.)
- `textDocument/didSave`: the saved file is re-indexed (only changed functions are embedded);
  a burst of saves becomes one update after `debounceMs` of quiet.
- `workspace/didChangeWatchedFiles`: files changed outside the editor (git checkout, code
  generators) are re-indexed the same way; deleted files and folders leave the index. The
  watcher (`**/*`) is registered dynamically when the client allows it.
- `workspace/didChangeWorkspaceFolders`: added folders are indexed, removed ones dropped.
"""

from __future__ import annotations

from lsprotocol import types

from ragls.lsp.convert import file_path
from ragls.lsp.base import RaglsServer

WATCHER_ID = "ragls-watched-files"


def register(server: RaglsServer) -> None:
    """Register the document and workspace notifications, and the file watcher at start-up."""
    server.on_initialized.append(register_file_watcher)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: RaglsServer, params: types.DidOpenTextDocumentParams) -> None:
        path = file_path(params.text_document.uri)
        if ls.engine is not None and path is not None:
            ls.engine.document_opened(path)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: RaglsServer, params: types.DidCloseTextDocumentParams) -> None:
        path = file_path(params.text_document.uri)
        if ls.engine is not None and path is not None:
            ls.engine.document_closed(path)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: RaglsServer, params: types.DidSaveTextDocumentParams) -> None:
        path = file_path(params.text_document.uri)
        if ls.engine is not None and path is not None:
            ls.engine.files_changed([path])

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: RaglsServer, params: types.DidChangeWatchedFilesParams) -> None:
        paths = [file_path(change.uri) for change in params.changes]
        if ls.engine is not None:
            ls.engine.files_changed([path for path in paths if path is not None])

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_workspace_folders(ls: RaglsServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        if ls.engine is None:
            return
        for path in filter(None, (file_path(folder.uri) for folder in params.event.removed)):
            ls.engine.remove_folder(path)
        for path in filter(None, (file_path(folder.uri) for folder in params.event.added)):
            ls.engine.add_folder(path)


def register_file_watcher(server: RaglsServer) -> None:
    """Ask the client to watch every file of the workspace, if it allows dynamic registration.

    Sent without waiting for the answer: a client that never answers must not hold up anything.
    """
    capabilities = server.client_capabilities.workspace
    watched = capabilities.did_change_watched_files if capabilities else None
    if not (watched and watched.dynamic_registration):
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern="**/*")]
    )
    registration = types.Registration(
        id=WATCHER_ID, method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
    )
    server.register_in_background(registration)
