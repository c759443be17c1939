"""Settings of the engine, and where each workspace's cache lives."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ragls.core.cache_home import user_cache
from ragls.core.embedding import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder
from ragls.core.workspace import DEFAULT_MAX_FILE_SIZE


@dataclass(frozen=True)
class EngineSettings:
    """What the indexing engine can be told; every field has a working default, written here
    once (the server's settings and the CLI's options nest this object, they do not copy it)."""

    model: str = DEFAULT_MODEL
    device: str = "auto"
    cache_dir: str | None = None  # base folder; each root gets a subfolder. None: XDG cache
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # bytes; larger files are not indexed
    ignore: tuple[str, ...] = field(default_factory=tuple)
    batch_size: int | None = None  # texts per forward pass; None: chosen from the device
    query_prompt: str | None = None  # before each query; None: the model's own, if it has one
    document_prompt: str | None = None  # before each chunk; None: the model's own
    backend: str = "auto"  # one of BACKENDS
    index_threads: int | None = None  # threads the model uses; None: chosen (see model_threads)
    # A bundle (`ragls export`) to use as the read-only base of each folder's index: a path,
    # relative ones against each folder; None: the one the index remembers; "": none (forgotten).
    base_index: str | None = None


BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
# What `auto` runs on the CPU when onnxruntime is installed (docs/benchmarks.md: the int8 model
# is the fastest and ranks as well as fp32 on the benchmark).
CPU_BACKEND = "onnx-int8"


def make_embedder(settings: EngineSettings, threads: int | None = None) -> Embedder:
    """The embedder the settings ask for (nothing is loaded yet); `threads` when the caller
    chose how many the model may use (the settings' `index_threads` wins)."""
    backend = resolve_backend(settings)
    threads = settings.index_threads or threads
    if backend == "torch":
        return SentenceTransformerEmbedder(
            settings.model, settings.device, settings.batch_size, settings.query_prompt, settings.document_prompt,
            threads,
        )
    from ragls.core.onnx_embedding import OnnxEmbedder

    return OnnxEmbedder(
        settings.model, backend == "onnx-int8", settings.batch_size, settings.query_prompt, settings.document_prompt,
        threads,
    )


def resolve_backend(settings: EngineSettings) -> str:
    """The backend `settings.backend` means here: `auto` is torch on a CUDA device, else the
    int8 ONNX model when onnxruntime is installed, else torch."""
    from ragls.core.embedding import EmbeddingError, cuda_available
    from ragls.core.onnx_embedding import onnx_available

    if settings.backend not in BACKENDS:
        raise EmbeddingError(f"unknown backend {settings.backend!r}: use one of {', '.join(BACKENDS)}")
    if settings.backend != "auto":
        if settings.backend.startswith("onnx") and settings.device == "cuda":
            raise EmbeddingError(f"the {settings.backend} backend runs on the CPU: use device cpu or auto, or backend torch")
        return settings.backend
    if settings.device == "cuda" or (settings.device == "auto" and cuda_available()):
        return "torch"
    return CPU_BACKEND if onnx_available() else "torch"


def model_threads(leave_a_core: bool) -> int:
    """Threads for the model: every core, or all but one on machines with more than two when
    the editor needs one (the language server's background indexing)."""
    cores = os.cpu_count() or 1
    return cores - 1 if leave_a_core and cores > 2 else cores


def cache_base(settings: EngineSettings) -> Path:
    """The folder that holds one subfolder per indexed root.

    Order: the `cache_dir` setting, then $RAGLS_CACHE_DIR, then $XDG_CACHE_HOME/ragls, then
    ~/.cache/ragls. It is outside the workspace so that indexing never dirties a repository.
    """
    if settings.cache_dir:
        return Path(settings.cache_dir).expanduser()
    if os.environ.get("RAGLS_CACHE_DIR"):
        return Path(os.environ["RAGLS_CACHE_DIR"]).expanduser()
    return user_cache()
