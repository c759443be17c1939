"""What the language server does, without the protocol: indexing jobs, queries, results.

Nothing here imports pygls or lsprotocol; the `lsp` package only translates between these
services and LSP messages, and the CLI uses the same result shapes.
"""
