"""The engine: files -> function chunks -> embeddings -> a persistent vector index.

Nothing in this package imports pygls or lsprotocol, so every part can be used and tested alone.
"""
