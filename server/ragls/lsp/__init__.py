"""The LSP face of ragls: the only package that imports pygls and lsprotocol.

One feature per module; `server.build_server()` puts them together and `server.serve()` runs it.
"""
