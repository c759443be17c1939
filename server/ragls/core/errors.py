"""The base of every error ragls raises for the user to read (not a bug): each part of ragls
derives its own errors from it, the CLI prints them as one line and the server answers them as
JSON-RPC errors (lsp/base.py has the table)."""

from __future__ import annotations


class RaglsError(Exception):
    """Something went wrong that the message explains to the user."""
