"""The words of code, as the lexical index holds them and as queries are matched against them.

Identifiers are split into lower-case sub-words (`parseHTTPRequest_v2` -> parse, http, request,
v, 2) and kept whole too (`parsehttprequest_v2`), so that `parse request` finds `parseRequest`
and `parseRequest` finds itself. The abbreviations programmers use for common words (`int`,
`str`, `ctx`, `cfg`, ...) are read as the words (`integer`, `string`, `context`, `config`) on
both sides, so that a query in prose meets an abbreviated identifier. Stemming (`parses`,
`parsing` -> `pars`) is SQLite FTS5's Porter tokenizer, in core/store.py.

The abbreviation list is general: the short forms that recur across languages and code bases
(and their standard libraries), each with one clear meaning; ambiguous ones (`res`: result,
resource or response?) are left out.
"""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[^\W\d_]+", re.UNICODE)
_CAMEL_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[^\W\d_]+", re.UNICODE)

ABBREVIATIONS = {
    "addr": "address", "arg": "argument", "args": "arguments", "attr": "attribute", "attrs": "attributes",
    "auth": "authentication", "buf": "buffer", "calc": "calculate", "cb": "callback", "cfg": "config",
    "char": "character", "chars": "characters", "cmd": "command", "cnt": "count", "col": "column",
    "cols": "columns", "conf": "config", "conn": "connection", "ctx": "context", "cur": "current",
    "db": "database", "dec": "decimal", "del": "delete", "desc": "description", "dest": "destination",
    "dict": "dictionary", "dir": "directory", "dirs": "directories", "doc": "document", "docs": "documents",
    "dst": "destination", "elem": "element", "elems": "elements", "env": "environment", "eq": "equal",
    "err": "error", "errs": "errors", "expr": "expression", "ext": "extension", "fmt": "format",
    "fn": "function", "func": "function", "funcs": "functions", "gen": "generate", "hdr": "header",
    "id": "identifier", "ids": "identifiers", "idx": "index", "img": "image", "impl": "implementation",
    "info": "information", "init": "initialize", "int": "integer", "ints": "integers", "iter": "iterator",
    "len": "length", "lib": "library", "ln": "line", "lst": "list", "max": "maximum", "mgr": "manager",
    "min": "minimum", "msg": "message", "msgs": "messages", "mut": "mutable", "num": "number",
    "nums": "numbers", "obj": "object", "objs": "objects", "opt": "option", "opts": "options",
    "param": "parameter", "params": "parameters", "pkg": "package", "pos": "position", "prev": "previous",
    "proc": "process", "ptr": "pointer", "pwd": "password", "recv": "receive", "ref": "reference",
    "refs": "references", "regex": "regexp", "repo": "repository", "req": "request", "reqs": "requests",
    "resp": "response", "ret": "return", "sep": "separator", "seq": "sequence", "srv": "server",
    "src": "source", "stmt": "statement", "str": "string", "strs": "strings", "sys": "system",
    "tbl": "table", "tmp": "temporary", "tx": "transaction", "txt": "text", "usr": "user",
    "util": "utility", "utils": "utilities", "val": "value", "vals": "values", "var": "variable",
    "vars": "variables", "vec": "vector", "ver": "version",
}

# Words too common in natural-language queries to carry meaning for BM25.
STOPWORDS = frozenset(
    "a an and are as at be by do does for from how i in is it its of on or that the this to "
    "what when where which who why with".split()
)


def split_identifier(word: str) -> list[str]:
    """Lower-case sub-words of an identifier: `parseHTTPRequest_v2` -> parse, http, request, v, 2."""
    parts: list[str] = []
    for piece in word.split("_"):
        parts.extend(p.lower() for p in _CAMEL_PARTS.findall(piece))
    return parts


def lexical_terms(text: str) -> list[str]:
    """Searchable terms of a text: every identifier's sub-words (abbreviations read as their
    words), plus the whole identifier."""
    terms: list[str] = []
    for word in _IDENTIFIER.findall(text):
        parts = split_identifier(word)
        terms.extend(ABBREVIATIONS.get(part, part) for part in parts)
        if len(parts) > 1:
            terms.append(word.lower())
    return terms
