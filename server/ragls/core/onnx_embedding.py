"""The ONNX Runtime backend: a sentence-transformers model exported once, then run on the CPU
without torch, in fp32 or quantized to int8.

- **Export** (once per model, into a model cache shared by every workspace:
  `$XDG_CACHE_HOME/ragls/models/`, whatever `cacheDir` says): the local sentence-transformers
  model (nothing comes from a hub) is loaded with eager attention and exported with
  `torch.onnx` as one graph from token ids to the normalized sentence embedding (the model's own
  pooling and normalization included); onnxruntime's transformer optimizer fuses attention,
  LayerNorm and GELU when the model is a BERT-like encoder; `quantize_dynamic` makes the int8
  copy (per-channel weights; the CPU's VNNI/AVX2/NEON kernels are onnxruntime's choice at run
  time). The fp32 export is kept next to it. Everything is built in a temporary folder, then
  renamed into place; a manifest with each file's size and checksum is written last and checked
  at every load, so an interrupted or damaged export is rebuilt, never loaded.
- **Inference**: the model's own fast tokenizer (`tokenizers`), texts sorted by length and
  batched by token count (padding to the longest text of each batch, not of the call), one
  onnxruntime session whose intra-op threads are set from the cores. torch is not imported.

Optimum is not used: `optimum-onnx` 0.1 pins transformers below 4.58, which would pull
sentence-transformers back to 5.x; `torch.onnx` and onnxruntime's own tools need nothing more
than what ragls already installs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ragls.core.cache_home import private_folder, user_cache, writable
from ragls.core.embedding import (
    EmbeddingError,
    ModelSpec,
    prompt_suffix,
    prompts_in_use,
    quiet_hugging_face,
    quiet_logger,
    resolve_model,
)

log = logging.getLogger(__name__)

EXPORT_VERSION = "1"  # bump when the export recipe changes: older exports are rebuilt
FP32_FILE, INT8_FILE, MANIFEST = "model.onnx", "model-int8.onnx", "manifest.json"
ABANDONED_SECONDS = 3600  # a build folder untouched this long was left by a killed export
TOKENS_PER_BATCH = 8192  # padded tokens per session run: 32 texts of 256, or 128 of 64
MAX_BATCH = 128
_BERT_LIKE = ("bert", "roberta", "distilbert", "xlm-roberta", "mpnet", "electra", "camembert")


def models_dir() -> Path:
    """Where exported models live: $XDG_CACHE_HOME/ragls/models (not the index cache folder)."""
    return user_cache("models")


def onnx_available() -> bool:
    """True when onnxruntime can be imported (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


class OnnxEmbedder:
    """An `Embedder` running an ONNX export of a sentence-transformers model with onnxruntime.

    `quantized`: the int8 copy (else fp32). `threads`: intra-op threads (None: the cores).
    """

    def __init__(
        self,
        model: str | None = None,
        quantized: bool = True,
        batch_size: int | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        threads: int | None = None,
        folder: Path | None = None,
    ):
        if not onnx_available():
            raise EmbeddingError("the onnx backend needs onnxruntime: pip install onnxruntime onnx")
        self.spec: ModelSpec = resolve_model(model)
        self.backend = "onnx-int8" if quantized else "onnx"
        self.model_id = f"{self.spec.model_id}|{self.backend}{prompt_suffix(document_prompt)}"
        self._quantized = quantized
        self._batch_size = batch_size
        self._prompt_settings = (query_prompt, document_prompt)
        self._threads = threads
        self._folder = folder or models_dir()
        self._session = None
        self._tokenizer = None
        self._config: dict = {}
        self._lock = threading.Lock()
        self.seconds = {"tokenize": 0.0, "model": 0.0}  # where embed() spent its time, for benchmarks

    # the Embedder protocol --------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """True once the session is open."""
        return self._session is not None

    @property
    def loaded_device(self) -> str:
        """"cpu" once loaded, else ""."""
        return "cpu" if self.loaded else ""

    @property
    def device(self) -> str:
        """Always the CPU (loads the model)."""
        self._load()
        return "cpu"

    @property
    def dim(self) -> int:
        """Length of every vector (loads the model)."""
        self._load()
        return int(self._config["dim"])

    @property
    def batch_size(self) -> int:
        """Texts an indexer hands over per call (the setting, else 32)."""
        return self._batch_size or 32

    @property
    def prompts(self) -> tuple[str, str]:
        """(query prompt, document prompt) in use (loads the model)."""
        self._load()
        return prompts_in_use(self._prompt_settings, self._config.get("prompts") or {})

    def load(self) -> None:
        """Export the model if needed, then open it."""
        self._load()

    def embed(self, texts: Sequence[str], as_query: bool = False) -> np.ndarray:
        """Normalized float32 vectors of shape (len(texts), dim), in the order of `texts`."""
        session = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prompt = self.prompts[0 if as_query else 1]
        started = time.perf_counter()
        encodings = self._tokenizer.encode_batch([prompt + text for text in texts] if prompt else list(texts))
        tokenized = time.perf_counter()
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for batch in token_batches([len(encodings[i].ids) for i in order], TOKENS_PER_BATCH, MAX_BATCH):
            rows = [order[i] for i in batch]
            vectors[rows] = session.run(None, self._inputs([encodings[i] for i in rows]))[0]
        self.seconds["tokenize"] += tokenized - started
        self.seconds["model"] += time.perf_counter() - tokenized
        return vectors

    # loading ----------------------------------------------------------------------------------
    def _load(self):
        with self._lock:
            if self._session is None:
                export = ensure_export(self.spec, self._folder)
                self._open(export)
            return self._session

    def _open(self, export: Path) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self._config = json.loads((export / "config.json").read_text())
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = export / (INT8_FILE if self._quantized else FP32_FILE)
        log.info("loading ONNX model %s (%s, %d threads)", path, self.backend, options.intra_op_num_threads)
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(export / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(int(self._config["max_seq_length"]))
        self._tokenizer = tokenizer
        self._input_names = {item.name for item in self._session.get_inputs()}

    def _inputs(self, encodings: list) -> dict[str, np.ndarray]:
        """The session's inputs for a batch, padded to its longest text."""
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.full((len(encodings), width), int(self._config["pad_id"]), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = encoding.ids, encoding.attention_mask, encoding.type_ids
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {name: value for name, value in inputs.items() if name in self._input_names}


def token_batches(lengths: list[int], tokens_per_batch: int, max_batch: int) -> list[list[int]]:
    """Consecutive batches of the positions of `lengths` (sorted ascending) whose padded size
    (texts x longest) stays within `tokens_per_batch`, `max_batch` texts at most."""
    batches: list[list[int]] = []
    current: list[int] = []
    for position, length in enumerate(lengths):
        if current and ((len(current) + 1) * length > tokens_per_batch or len(current) == max_batch):
            batches.append(current)
            current = []
        current.append(position)
    if current:
        batches.append(current)
    return batches


# the export -------------------------------------------------------------------------------------
def export_folder(spec: ModelSpec, folder: Path) -> Path:
    """Where the export of a model lives: named by the model and a digest of its weights."""
    digest = hashlib.blake2b(f"{EXPORT_VERSION}\0{spec.source}\0{_weights_stamp(spec)}".encode(), digest_size=8)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in spec.name.rsplit("/", 1)[-1])[:40]
    return folder / f"{name}-{digest.hexdigest()}"


def ensure_export(spec: ModelSpec, folder: Path) -> Path:
    """The verified export of a model, made now if it is missing or broken."""
    target = export_folder(spec, folder)
    problem = verify_export(target)
    if problem is None:
        return target
    if not writable(folder):
        # Another user's or a read-only cache: the export is deterministic, so a private copy
        # for this process embeds exactly as the shared one would.
        private = private_folder("models")
        log.warning("model cache %s is not writable: exporting %s into %s for this run", folder, spec.name, private)
        return ensure_export(spec, private)
    if target.exists():
        log.warning("rebuilding the ONNX export %s: %s", target, problem)
        shutil.rmtree(target, ignore_errors=True)
    _remove_abandoned_builds(folder, target.name)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=folder))
    try:
        _export(spec, building)
        try:
            building.rename(target)
        except OSError:  # another process finished the same export first: use theirs
            if verify_export(target) is not None:
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def _remove_abandoned_builds(folder: Path, name: str) -> None:
    """Delete what killed exports left (hidden build folders untouched for an hour)."""
    for leftover in folder.glob(f".{name}.*"):
        if time.time() - leftover.stat().st_mtime > ABANDONED_SECONDS:
            shutil.rmtree(leftover, ignore_errors=True)


def verify_export(target: Path) -> str | None:
    """What is wrong with an export folder (missing, unfinished, damaged), or None."""
    try:
        manifest = json.loads((target / MANIFEST).read_text())
    except FileNotFoundError:
        return "not exported yet"
    except (OSError, ValueError) as exc:
        return f"unreadable manifest ({exc})"
    if manifest.get("version") != EXPORT_VERSION or not isinstance(manifest.get("files"), dict):
        return "made by another version of ragls"
    for name, expected in manifest["files"].items():
        path = target / name
        if not path.is_file() or path.stat().st_size != expected.get("size"):
            return f"{name} is missing or of the wrong size"
        if _checksum(path) != expected.get("blake2b"):
            return f"{name} does not match its checksum"
    return None


def _export(spec: ModelSpec, out: Path) -> None:
    """Export, optimize and quantize into `out`; the manifest last."""
    quiet_hugging_face()
    import torch
    from sentence_transformers import SentenceTransformer

    log.info("exporting %s to ONNX in %s (once; this takes a minute)", spec.name, out.parent)
    try:
        with quiet_logger("sentence_transformers"):
            model = SentenceTransformer(
                spec.source, device="cpu", local_files_only=True, model_kwargs={"attn_implementation": "eager"}
            )
    except Exception as exc:
        raise EmbeddingError(f"cannot load embedding model {spec.name!r} to export it: {exc}") from exc
    tokenizer = model.tokenizer
    sample = tokenizer(["def f(x):\n    return x", "a longer sample text to export"], padding=True, return_tensors="pt")
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]
    raw = out / "raw.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes about shapes it keeps as constants
        torch.onnx.export(
            _sentence_embedding(model, names).eval(),
            tuple(sample[name] for name in names),
            str(raw),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in names}, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    config = model[0].auto_model.config
    _optimize(raw, out / FP32_FILE, config)
    raw.unlink()
    _quantize(out / FP32_FILE, out / INT8_FILE)
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    settings = {
        "dim": int(model.get_embedding_dimension()),
        "max_seq_length": int(model.max_seq_length),
        "pad_id": int(tokenizer.pad_token_id or 0),
        "prompts": dict(getattr(model, "prompts", None) or {}),
        "source": spec.source,
    }
    (out / "config.json").write_text(json.dumps(settings))
    files = {name: {"size": (out / name).stat().st_size, "blake2b": _checksum(out / name)}
             for name in (FP32_FILE, INT8_FILE, "tokenizer.json", "config.json")}
    _fsync_all(out)
    (out / MANIFEST).write_text(json.dumps({"version": EXPORT_VERSION, "files": files}))


def _sentence_embedding(model, names: list[str]):
    """A torch module from token ids (`names`, in order) to the model's sentence embedding; the
    class is made here because torch is imported only for an export."""
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(dict(zip(names, tensors)))["sentence_embedding"]

    return SentenceEmbedding()


def _optimize(raw: Path, out: Path, config) -> None:
    """onnxruntime's transformer fusions for BERT-like encoders; other graphs are kept as they are."""
    kind = getattr(config, "model_type", "")
    if kind not in _BERT_LIKE:
        shutil.copyfile(raw, out)
        return
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(raw), model_type="bert", num_heads=int(config.num_attention_heads), hidden_size=int(config.hidden_size)
    )
    log.info("ONNX fusions: %s", {k: v for k, v in optimized.get_fused_operator_statistics().items() if v})
    optimized.save_model_to_file(str(out))


def _quantize(fp32: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _weights_stamp(spec: ModelSpec) -> str:
    """Sizes and times of the model folder's files: a changed model gets a new export."""
    folder = Path(spec.source)
    if not folder.is_dir():
        return spec.source
    parts = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            info = path.stat()
            parts.append(f"{path.relative_to(folder)}:{info.st_size}:{info.st_mtime_ns}")
    return "\n".join(parts)


def _checksum(path: Path) -> str:
    digest = hashlib.blake2b()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _fsync_all(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as file:
            os.fsync(file.fileno())
