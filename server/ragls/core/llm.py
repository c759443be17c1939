"""The local LLM: a small `LLM` interface and `OllamaLLM`, backed by the official ollama client.

Every failure becomes one of a few exceptions with a message meant for the user:
`OllamaUnavailable` (nothing listens at the host), `ModelNotFound` (pull it first),
`LLMTimeout` (no byte for `read_timeout` seconds) and `StreamError` (the model failed mid-answer;
it carries the text that did arrive). Streams are async generators: closing one (or cancelling
the task that iterates it) closes the HTTP response at once, so Ollama stops generating.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from ragls.core.errors import RaglsError

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "qwen2.5-coder:7b"
FALLBACK_CONTEXT_LENGTH = 4096  # what Ollama itself gives a model that says nothing
CONNECT_TIMEOUT = 3.0  # seconds; a local server answers in milliseconds
READ_TIMEOUT = 120.0  # seconds without a byte (the first token may wait for the model to load)


class LLMError(RaglsError):
    """The LLM cannot answer; the message tells the user why and what to do."""


class OllamaUnavailable(LLMError):
    """Nothing answers at the Ollama host."""


class ModelNotFound(LLMError):
    """The model is not pulled on the Ollama host."""

    def __init__(self, model: str):
        super().__init__(
            f"the Ollama model '{model}' is not installed: run `ollama pull {model}` "
            "or the command `ragls.pullModel`"
        )
        self.model = model


class LLMTimeout(LLMError):
    """Ollama stopped sending for longer than the read timeout."""


class StreamError(LLMError):
    """The answer broke off mid-stream; `partial` is the text that arrived before."""

    def __init__(self, message: str, partial: str):
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class PullProgress:
    """One step of a model download, as `/api/pull` reports it."""

    status: str
    completed: int | None = None
    total: int | None = None

    @property
    def percentage(self) -> int | None:
        """0 to 100 while a layer downloads, else None."""
        if not self.total or self.completed is None:
            return None
        return min(100, 100 * self.completed // self.total)


class LLM(Protocol):
    """What ragls needs from a chat model."""

    model: str
    host: str

    def stream_chat(self, messages: list[dict], options: dict | None = None) -> AsyncIterator[str]:
        """The answer to `messages` as text deltas, in order."""

    async def context_length(self, model: str | None = None) -> int:
        """How many tokens a model (this one by default) reads, prompt and answer together."""

    def pull(self, model: str | None = None) -> AsyncIterator[PullProgress]:
        """Download a model (this one by default), reporting progress."""


def ollama_llm(host: str, model: str) -> LLM:
    """The LLM backend for these settings: a model on an Ollama server."""
    return OllamaLLM(model, host)


def default_host() -> str:
    """`$OLLAMA_HOST`, else Ollama's default local address."""
    host = os.environ.get("OLLAMA_HOST", "").strip()
    if not host:
        return DEFAULT_HOST
    return host if "://" in host else f"http://{host}"


class OllamaLLM:
    """One model on one Ollama server, through `ollama.AsyncClient`."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        host: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ):
        self.model = model
        self.host = host or default_host()
        self.read_timeout = read_timeout
        # imported here: the ollama client (pydantic) takes most of a second to import, and the
        # language server must answer `initialize` before anything asks the LLM
        import httpx
        import ollama

        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._client = ollama.AsyncClient(host=self.host, timeout=timeout)

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()

    async def stream_chat(self, messages: list[dict], options: dict | None = None) -> AsyncIterator[str]:
        """The answer as text deltas; closing the generator closes the HTTP stream.

        With `num_predict` in `options` the answer also stops here once it is clearly longer
        than that many tokens (a server that ignores the option, or a model that never stops),
        as a StreamError that carries what arrived.
        """
        received: list[str] = []
        limit = (options or {}).get("num_predict")
        stream = None
        try:
            stream = await self._client.chat(self.model, messages=messages, options=options, stream=True)
            async for part in stream:
                delta = part.message.content or ""
                if delta:
                    received.append(delta)
                    yield delta
                if limit and _past_limit(received, limit):
                    raise StreamError(f"the answer passed the limit of {limit} tokens and was cut there", "".join(received))
        except Exception as exc:
            raise self._translate(exc, "".join(received)) from None
        finally:
            if stream is not None:
                await stream.aclose()

    async def context_length(self, model: str | None = None) -> int:
        """`num_ctx` from a model's parameters (this model by default), else its trained context
        length, else 4096."""
        try:
            shown = await self._client.show(model or self.model)
        except Exception as exc:
            raise self._translate(exc, "") from None
        return context_length_of(shown.parameters or "", dict(shown.modelinfo or {}))

    async def pull(self, model: str | None = None) -> AsyncIterator[PullProgress]:
        """Download a model (this one by default) on the Ollama host, step by step."""
        stream = None
        try:
            stream = await self._client.pull(model or self.model, stream=True)
            async for part in stream:
                yield PullProgress(part.status or "", part.completed, part.total)
        except Exception as exc:
            raise self._translate(exc, "") from None
        finally:
            if stream is not None:
                await stream.aclose()

    def _translate(self, exc: Exception, partial: str) -> Exception:
        """The LLMError the user should see for an exception of the client (or httpx)."""
        import httpx
        import ollama

        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError)):
            return OllamaUnavailable(
                f"cannot reach Ollama at {self.host}: start it with `ollama serve` "
                "(or point ragls at it: ollama.host, --ollama-host or $OLLAMA_HOST)"
            )
        if isinstance(exc, httpx.TimeoutException):
            error = LLMTimeout(f"Ollama at {self.host} sent nothing for {self.read_timeout:.0f}s")
            return StreamError(str(error), partial) if partial else error
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404 and "not found" in exc.error:
                return ModelNotFound(self.model)
            if exc.status_code == -1:  # an {"error": ...} line inside a 200 stream
                return StreamError(f"Ollama failed mid-answer: {exc.error}", partial)
            return LLMError(f"Ollama answered an error: {exc.error} (HTTP {exc.status_code})")
        if isinstance(exc, httpx.HTTPError):
            return StreamError(f"the connection to Ollama at {self.host} broke: {exc}", partial)
        if isinstance(exc, (ValueError, TypeError, KeyError, AttributeError)):  # JSON or pydantic
            what = "a line ragls cannot read" if isinstance(exc, ValueError) else "an answer of the wrong shape"
            return StreamError(f"Ollama at {self.host} sent {what} ({type(exc).__name__}); is it Ollama?", partial)
        return exc


# A streamed delta is one token, or a few characters each: past either bound the answer is over.
CHARS_PER_TOKEN_AT_MOST = 16


def _past_limit(received: list[str], limit: int) -> bool:
    return len(received) > limit or sum(map(len, received)) > limit * CHARS_PER_TOKEN_AT_MOST


_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)", re.MULTILINE)


def context_length_of(parameters: str, model_info: dict[str, Any]) -> int:
    """The context a model runs with: `num_ctx` in its parameters, else `<arch>.context_length`."""
    match = _NUM_CTX.search(parameters)
    if match:
        return int(match.group(1))
    for key, value in model_info.items():
        if key.endswith(".context_length") and isinstance(value, int) and value > 0:
            return value
    return FALLBACK_CONTEXT_LENGTH
