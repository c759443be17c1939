"""ragls: a language server that answers questions about your code with a local LLM."""

__version__ = "0.1.0"
