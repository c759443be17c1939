"""One embedding model shared by the index worker and the queries, queries first.

The index worker embeds thousands of chunks; a query embeds one line and a user is waiting for
it. Both use the same model (loading it twice would double the memory and the start-up time),
and Hugging Face tokenizers must not be used by two threads at once. So every call goes through
a gate that lets one call in at a time, and a waiting query always goes before the indexer's
next call. Indexers embed one model batch per call, so a query waits for at most one batch (a
fraction of a second on a CPU).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from ragls.core.embedding import Embedder


class QueriesFirstGate:
    """A lock that foreground callers get before any waiting background caller."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._busy = False
        self._foreground_waiting = 0

    @contextmanager
    def foreground(self) -> Iterator[None]:
        """Hold the gate for a query."""
        with self._condition:
            self._foreground_waiting += 1
            while self._busy:
                self._condition.wait()
            self._foreground_waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def background(self) -> Iterator[None]:
        """Hold the gate for one slice of background work, after every waiting query."""
        with self._condition:
            while self._busy or self._foreground_waiting:
                self._condition.wait()
            self._busy = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        with self._condition:
            self._busy = False
            self._condition.notify_all()


class SharedEmbedder:
    """The one embedding model of the server, shared between threads, queries first.

    It is an `Embedder` whose calls are queries (they go first); `for_indexing()` gives the view
    the indexers embed through, whose calls wait for every waiting query. The sentence-
    transformers embedder inside is created on first use, so that building this object never
    imports torch nor checks a GPU: that happens on the worker thread, where errors are reported.
    """

    def __init__(self, create: Callable[[], Embedder]):
        self._create = create
        self._inner: Embedder | None = None
        self._create_lock = threading.Lock()  # guards the creation of `_inner`
        self._gate = QueriesFirstGate()  # one call in the model at a time, queries first

    @property
    def inner(self) -> Embedder:
        """The embedder inside (created now if needed; EmbeddingError if it cannot be)."""
        with self._create_lock:
            if self._inner is None:
                self._inner = self._create()
            return self._inner

    @property
    def model_id(self) -> str:
        """The id embeddings are cached under."""
        return self.inner.model_id

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._inner is not None and self._inner.loaded

    @property
    def loaded_device(self) -> str:
        """The device the model runs on, or "" while it is not loaded (never loads it)."""
        return self._inner.loaded_device if self._inner is not None else ""

    @property
    def backend(self) -> str:
        """The backend of the model ("torch", "onnx-int8", ...), or "" before it was created."""
        return self._inner.backend if self._inner is not None else ""

    @property
    def dim(self) -> int:
        """Length of every vector (loads the model)."""
        return self.inner.dim

    @property
    def device(self) -> str:
        """The device the model runs on (loads the model)."""
        return self.inner.device

    @property
    def batch_size(self) -> int:
        """Texts per forward pass (loads the model)."""
        return self.inner.batch_size

    def load(self) -> None:
        """Load the model now."""
        with self._gate.background():
            self.inner.load()

    def embed(self, texts: Sequence[str], as_query: bool = False) -> np.ndarray:
        """Normalized vectors for a query's texts, before any waiting background work."""
        with self._gate.foreground():
            return self.inner.embed(texts, as_query)

    def embed_in_background(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized vectors of code for index work, after every waiting query."""
        with self._gate.background():
            return self.inner.embed(texts)

    def for_indexing(self) -> Embedder:
        """The view index runs embed through: each call waits for every waiting query. An index
        run embeds one model batch per call, so a query waits for one batch at most."""
        return _IndexingView(self)


class _IndexingView:
    """The shared model as an `Embedder` whose calls are background work."""

    def __init__(self, shared: SharedEmbedder):
        self._shared = shared

    model_id = property(lambda self: self._shared.model_id)
    loaded = property(lambda self: self._shared.loaded)
    backend = property(lambda self: self._shared.backend)
    loaded_device = property(lambda self: self._shared.loaded_device)
    dim = property(lambda self: self._shared.dim)
    device = property(lambda self: self._shared.device)
    batch_size = property(lambda self: self._shared.batch_size)

    def load(self) -> None:
        """Load the model now."""
        self._shared.load()

    def embed(self, texts: Sequence[str], as_query: bool = False) -> np.ndarray:
        """Normalized vectors of code, after every waiting query (index work never embeds
        queries)."""
        return self._shared.embed_in_background(texts)
