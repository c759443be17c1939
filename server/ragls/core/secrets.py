"""Secrets inside source text: found by content, so that they never reach a prompt.

Files named like secrets (`.env*`, `*.pem`, `id_rsa*`, ...) are never indexed at all
(core/workspace.py). This module catches what hides in files with innocent names: a
`config.py` holding an AWS key or a private-key block, a `deploy.sh` exporting a token.

Only high-confidence patterns are used (the formats of well-known credentials, key blocks,
passwords in URLs, and a quoted or exported value assigned to a name that says it is a secret,
when the value looks random). A false positive costs little (one source is left out of a prompt,
or a preview shows `«redacted»`); a miss would send a credential to the LLM host. docs/security.md
lists the patterns.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

REDACTED = "«redacted»"

# (what it is, pattern); the whole match is the secret.
_KNOWN_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "a private key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|.*)",
            re.DOTALL,
        ),
    ),
    ("an AWS access key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Slack webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}")),
    ("a Stripe key", re.compile(r"\b(?:sk|rk)_live_[A-Za-z0-9]{16,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("an OpenAI or Anthropic key", re.compile(r"\bsk-(?:proj-|ant-[a-z0-9]*-?)?[A-Za-z0-9_-]{32,}")),
    ("an npm token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("a PyPI token", re.compile(r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{40,}")),
    ("a JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
)

# user:password@ in a URL; the password is the secret.
_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:(?P<value>[^\s:/@'\"]{3,})@")

# A name that says it holds a secret, assigned a literal: `API_SECRET = "..."`,
# `password: '...'`, `"token" => "..."`, `export DB_PASSWORD=...`, `--token=...`.
_SECRET_NAME = (
    r"[A-Za-z0-9_.-]*?(?:secret|passw(?:or)?d|passwd|pwd|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|client[_-]?secret|auth[_-]?key|credentials?)[A-Za-z0-9_]*"
)
_QUOTED_ASSIGNMENT = re.compile(
    rf"""(?i)["']?{_SECRET_NAME}["']?\s*(?::=|=>|[:=])\s*[bru]?(?P<quote>["'`])(?P<value>[^"'`\s]{{8,}})(?P=quote)"""
)
_SHELL_ASSIGNMENT = re.compile(
    rf"""(?im)(?:^|\s)(?:export\s+|--)?{_SECRET_NAME}=(?P<value>[^\s"'`$;&|]{{8,}})"""
)
# Values that are obviously not secrets: references, templates, placeholders.
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\$|%|\{|<|\*+$|x{4,}|\.{3})|\$\{|\{\{|%\(|%s|<[a-z_ -]+>|changeme|example|placeholder"
    r"|your[_-]|dummy|redacted|replace[_-]?me|^(?:none|null|true|false|undefined)$"
)
MIN_ENTROPY_BITS = 3.0  # per character; English words are below it, random keys well above
# A value made only of plain words (`access_token`, `X-Api-Key`, `Bearer`) is a name, not a key.
_WORDS = re.compile(r"^(?:(?:[A-Z]?[a-z]+|[A-Z]+)(?:[_\-. /:]|$))+$")


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret found in a text: what it looks like and where it is (character offsets)."""

    kind: str
    start: int
    end: int


def find_secrets(text: str) -> list[Secret]:
    """Every secret in `text`, in order, without overlaps."""
    found: list[Secret] = []
    for kind, pattern in _KNOWN_FORMATS:
        found.extend(Secret(kind, match.start(), match.end()) for match in pattern.finditer(text))
    for match in _URL_PASSWORD.finditer(text):
        if not _PLACEHOLDER.search(match.group("value")):
            found.append(Secret("a password in a URL", match.start("value"), match.end("value")))
    for pattern in (_QUOTED_ASSIGNMENT, _SHELL_ASSIGNMENT):
        for match in pattern.finditer(text):
            value = match.group("value")
            if _looks_random(value):
                found.append(Secret("a secret assigned to a variable", match.start("value"), match.end("value")))
    return _without_overlaps(found)


def has_secret(text: str) -> bool:
    """True when `text` holds at least one secret."""
    return bool(find_secrets(text))


def redact(text: str) -> tuple[str, list[str]]:
    """`text` with every secret replaced by «redacted», and the kinds replaced."""
    secrets = find_secrets(text)
    if not secrets:
        return text, []
    parts, last = [], 0
    for secret in secrets:
        parts.append(text[last : secret.start])
        parts.append(REDACTED)
        last = secret.end
    parts.append(text[last:])
    return "".join(parts), list(dict.fromkeys(secret.kind for secret in secrets))


def _looks_random(value: str) -> bool:
    """A credential, not a word, a reference or a placeholder."""
    if _PLACEHOLDER.search(value) or _WORDS.match(value):
        return False
    classes = sum(
        (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value),
         any(not c.isalnum() for c in value))
    )
    return classes >= 2 and _entropy(value) >= MIN_ENTROPY_BITS


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _without_overlaps(found: list[Secret]) -> list[Secret]:
    kept: list[Secret] = []
    for secret in sorted(found, key=lambda s: (s.start, -s.end)):
        if kept and secret.start < kept[-1].end:
            if secret.end > kept[-1].end:
                kept[-1] = Secret(kept[-1].kind, kept[-1].start, secret.end)
            continue
        kept.append(secret)
    return kept
