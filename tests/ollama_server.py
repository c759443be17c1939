"""A small real HTTP server that speaks the parts of Ollama's REST API ragls uses (tests only).

It listens on 127.0.0.1 (stdlib `http.server` in a thread) and answers `/api/tags`,
`/api/show`, `/api/chat` and `/api/generate` (NDJSON streams, or one object with
`"stream": false`) and `/api/pull` (a progress stream). An unknown model answers 404
`{"error": "model 'x' not found"}`, as Ollama does. Every request is recorded (path and JSON
body), and so is every stream the client closed before its end (a write failed:
`closed_streams` has its path, `closed_requests` its request).

Tests steer it through `FakeOllama` attributes: `reply` (split into tokens), `token_delay`
(seconds per token), `fail_after` (send an `{"error": ...}` line after that many tokens),
`garbage_after` (send a line that is not JSON, or `{"oops": 1}` when `garbage` says so, after
that many tokens), `endless` (repeat the reply forever, ignoring `num_predict` as a broken server
would) and `stop_listening()` (connections are refused from then on). Like Ollama, it stops an
answer after `options.num_predict` tokens with `"done_reason": "length"`.

Run it by hand with `python tests/ollama_server.py PORT`.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "qwen2.5-coder:7b"
DEFAULT_REPLY = "This function adds an item to the cart [1]."


@dataclass
class Recorded:
    """One request the server received."""

    path: str
    body: Any


@dataclass
class FakeOllama:
    """The server's behaviour and what it saw; attributes may change while it runs."""

    models: dict[str, int] = field(default_factory=lambda: {DEFAULT_MODEL: 32768})  # name -> context
    reply: str = DEFAULT_REPLY
    token_delay: float = 0.0
    fail_after: int | None = None
    failure: str = "an error was encountered while running the model: out of memory"
    garbage_after: int | None = None
    garbage: str = "this is not JSON"
    endless: bool = False
    requests: list[Recorded] = field(default_factory=list)
    closed_streams: list[str] = field(default_factory=list)  # paths whose client went away mid-stream
    closed_requests: list[Recorded] = field(default_factory=list)  # the same streams' requests
    _server: ThreadingHTTPServer | None = None
    _connections: set[socket.socket] = field(default_factory=set)
    _thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------
    def start(self, port: int = 0) -> FakeOllama:
        """Listen on 127.0.0.1 (a free port unless given) in a background thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def host(self) -> str:
        """Its base URL, as `ollama.host` takes it."""
        return f"http://127.0.0.1:{self.port}"

    def stop_listening(self) -> None:
        """Close the listening socket and the open connections: Ollama is gone."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for connection in list(self._connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # what tests read -------------------------------------------------------------------
    def bodies(self, path: str) -> list[Any]:
        """The JSON bodies of every request to `path`, oldest first."""
        return [request.body for request in self.requests if request.path == path]

    def tokens(self) -> list[str]:
        """`reply` split into the tokens the stream sends (words with their spaces)."""
        return re.findall(r"\S+\s*|\s+", self.reply)


def _handler_for(fake: FakeOllama) -> type[BaseHTTPRequestHandler]:
    class Handler(_OllamaHandler):
        state = fake

    return Handler


class _OllamaHandler(BaseHTTPRequestHandler):
    state: FakeOllama
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:  # the client dropped a kept-alive connection between requests
            pass

    def setup(self) -> None:
        super().setup()
        self.state._connections.add(self.connection)

    def finish(self) -> None:
        self.state._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    # routing ---------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._record(None)
        if self.path == "/api/tags":
            models = [{"name": name, "model": name, "size": 1} for name in self.state.models]
            self._send_json(200, {"models": models})
        elif self.path == "/api/version":
            self._send_json(200, {"version": "0.6.3"})
        else:
            self._send_json(404, {"error": "not found"})

    def do_HEAD(self) -> None:
        self._send_json(200, {})

    def do_POST(self) -> None:
        body = self._read_json()
        self._record(body)
        routes = {
            "/api/show": self._show,
            "/api/chat": self._chat,
            "/api/generate": self._generate,
            "/api/pull": self._pull,
        }
        route = routes.get(self.path)
        if route is None:
            self._send_json(404, {"error": "not found"})
            return
        route(body)

    # endpoints -------------------------------------------------------------------------
    def _show(self, body: dict) -> None:
        name = body.get("model") or body.get("name")
        if not self._known(name):
            return
        context = self.state.models[name]
        self._send_json(
            200,
            {
                "modelfile": f"FROM {name}",
                "parameters": 'stop "<|im_end|>"',
                "details": {"family": "qwen2", "format": "gguf"},
                "model_info": {"general.architecture": "qwen2", "qwen2.context_length": context},
            },
        )

    def _chat(self, body: dict) -> None:
        self._answer(body, lambda text: {"message": {"role": "assistant", "content": text}})

    def _generate(self, body: dict) -> None:
        self._answer(body, lambda text: {"response": text})

    def _pull(self, body: dict) -> None:
        name = body.get("model") or body.get("name")
        steps = [
            {"status": "pulling manifest"},
            {"status": "pulling 60e05f210007", "digest": "sha256:60e05f210007", "total": 1000, "completed": 0},
            {"status": "pulling 60e05f210007", "digest": "sha256:60e05f210007", "total": 1000, "completed": 500},
            {"status": "pulling 60e05f210007", "digest": "sha256:60e05f210007", "total": 1000, "completed": 1000},
            {"status": "verifying sha256 digest"},
            {"status": "writing manifest"},
            {"status": "success"},
        ]
        if body.get("stream") is False:
            self.state.models.setdefault(name, 32768)
            self._send_json(200, {"status": "success"})
            return
        self._start_stream()
        for step in steps:
            if not self._send_line(step):
                return
            time.sleep(self.state.token_delay)
        self.state.models.setdefault(name, 32768)
        self._end_stream()

    # streaming -------------------------------------------------------------------------
    def _answer(self, body: dict, piece: Any) -> None:
        model = body.get("model")
        if not self._known(model):
            return
        tokens = self.state.tokens()
        if body.get("stream") is False:
            self._send_json(200, {**self._head(model), **piece(self.state.reply), **self._final(tokens)})
            return
        limit = (body.get("options") or {}).get("num_predict")
        self._start_stream()
        sent = 0
        for token in itertools.cycle(tokens) if self.state.endless else tokens:
            if self.state.fail_after is not None and sent == self.state.fail_after:
                self._send_line({"error": self.state.failure})
                self._end_stream()
                return
            if self.state.garbage_after is not None and sent == self.state.garbage_after:
                self._send_raw(self.state.garbage)
                self._end_stream()
                return
            if limit and sent == limit and not self.state.endless:
                self._send_line({**self._head(model), **piece(""), **self._final(tokens[:sent], "length")})
                self._end_stream()
                return
            time.sleep(self.state.token_delay)
            if not self._send_line({**self._head(model), **piece(token), "done": False}):
                return
            sent += 1
        self._send_line({**self._head(model), **piece(""), **self._final(tokens)})
        self._end_stream()

    def _head(self, model: str) -> dict:
        return {"model": model, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    @staticmethod
    def _final(tokens: list[str], reason: str = "stop") -> dict:
        return {
            "done": True,
            "done_reason": reason,
            "total_duration": 1_000_000 * len(tokens),
            "load_duration": 1000,
            "prompt_eval_count": 42,
            "prompt_eval_duration": 1000,
            "eval_count": len(tokens),
            "eval_duration": 1000 * len(tokens),
        }

    def _known(self, model: Any) -> bool:
        if model in self.state.models:
            return True
        self._send_json(404, {"error": f"model '{model}' not found"})
        return False

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _send_line(self, obj: dict) -> bool:
        """Send one NDJSON line as one chunk; False (and recorded) when the client went away."""
        return self._send_raw(json.dumps(obj))

    def _send_raw(self, line: str) -> bool:
        """Send one line of text as one chunk of the stream."""
        data = (line + "\n").encode()
        try:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            return True
        except OSError:
            self._client_went_away()
            return False

    def _end_stream(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self._client_went_away()

    # plumbing --------------------------------------------------------------------------
    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except json.JSONDecodeError:
            return raw.decode("utf-8", "replace")

    def _record(self, body: Any) -> None:
        self._request = Recorded(self.path, body)
        self.state.requests.append(self._request)

    def _client_went_away(self) -> None:
        self.state.closed_streams.append(self.path)
        self.state.closed_requests.append(self._request)
        self.close_connection = True

    def _send_json(self, status: int, obj: dict) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":  # pragma: no cover - a manual helper for e2e tests in a subprocess
    import sys

    fake = FakeOllama().start(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(fake.host, flush=True)
    threading.Event().wait()
