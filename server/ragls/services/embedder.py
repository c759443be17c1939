"""One embedding model shared by the index worker and the queries, queries first.

The index worker embeds thousands of chunks; a query embeds one line and a user is waiting for
it. Both use the same model (loading it twice would double the memory and the start-up time),
and Hugging Face tokenizers must not be used by two threads at once. So every call goes through
a gate that lets one call in at a time, and a waiting query always goes before the worker's
next slice. The worker embeds in slices of one model batch, so a query waits for at most one
batch (a fraction of a second on a CPU), and a cancelled index run stops within one batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ragls.core.embedding import SentenceTransformerEmbedder, default_batch_size
from ragls.core.indexer import IndexCancelled


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


@dataclass
class _BackgroundWork:
    cancel: threading.Event
    on_slice: Callable[[int], None]


class SharedEmbedder:
    """An `Embedder` shared between threads, around a sentence-transformers one.

    The inner embedder is created on first use, so that building this object never imports
    torch nor checks a GPU: that happens on the worker thread, where errors are reported.
    """

    def __init__(self, create: Callable[[], SentenceTransformerEmbedder]):
        self._create = create
        self._inner: SentenceTransformerEmbedder | None = None
        self._create_lock = threading.Lock()
        self._gate = QueriesFirstGate()
        self._local = threading.local()

    @property
    def inner(self) -> SentenceTransformerEmbedder:
        """The sentence-transformers embedder (created now if needed; EmbeddingError if it cannot be)."""
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
    def dim(self) -> int:
        """Length of every vector (loads the model)."""
        return self.inner.dim

    @property
    def device(self) -> str:
        """The device the model runs on (loads the model)."""
        return self.inner.device

    @property
    def loaded_device(self) -> str:
        """The device the model runs on, or "" while it is not loaded (never loads it)."""
        return self.inner.device if self.loaded else ""

    def load(self) -> None:
        """Load the model now."""
        self.inner.load()

    @contextmanager
    def background(self, cancel: threading.Event, on_slice: Callable[[int], None]) -> Iterator[None]:
        """Mark this thread's embedding calls as background work for the duration of the block.

        They then yield to queries between slices, call `on_slice(texts_done)` after each slice,
        and raise IndexCancelled between slices once `cancel` is set.
        """
        self._local.work = _BackgroundWork(cancel, on_slice)
        try:
            yield
        finally:
            self._local.work = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized vectors for `texts`, shape (len(texts), dim)."""
        work: _BackgroundWork | None = getattr(self._local, "work", None)
        if work is None:
            with self._gate.foreground():
                return self.inner.embed(texts)
        return self._embed_in_slices(list(texts), work)

    def _embed_in_slices(self, texts: list[str], work: _BackgroundWork) -> np.ndarray:
        inner = self.inner
        if not texts:
            return inner.embed([])
        size = default_batch_size(inner.device)
        parts = []
        for start in range(0, len(texts), size):
            if work.cancel.is_set():
                raise IndexCancelled("indexing was cancelled")
            with self._gate.background():
                parts.append(inner.embed(texts[start : start + size]))
            work.on_slice(len(parts[-1]))
        return np.concatenate(parts)
