"""The embedding backends end to end: the int8 ONNX path for real (a fresh export into a model
cache of the test's own, quantization, embedding, search) through the CLI, and vectors of two
backends never mixing in one index."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import SAMPLE_FILES, CountingEmbedder, write_files
from ragls.core.embedding import EmbeddingError, SentenceTransformerEmbedder
from ragls.core.indexer import Indexer
from ragls.core.onnx_embedding import OnnxEmbedder, models_dir
from ragls.core.settings import EngineSettings, resolve_backend

pytestmark = pytest.mark.slow


def test_auto_is_int8_onnx_on_a_cpu_and_torch_when_asked():
    assert resolve_backend(EngineSettings(device="cpu")) == "onnx-int8"
    assert resolve_backend(EngineSettings(device="cpu", backend="torch")) == "torch"
    with pytest.raises(EmbeddingError, match="runs on the CPU"):
        resolve_backend(EngineSettings(device="cuda", backend="onnx-int8"))
    with pytest.raises(EmbeddingError, match="unknown backend"):
        resolve_backend(EngineSettings(backend="tensorrt"))


def test_the_int8_path_for_real_from_a_fresh_export(tmp_path):
    root, cache, xdg = tmp_path / "workspace", tmp_path / "cache", tmp_path / "xdg"
    write_files(root, SAMPLE_FILES)
    env = {**os.environ, "RAGLS_CACHE_DIR": str(cache), "XDG_CACHE_HOME": str(xdg), "HF_HUB_OFFLINE": "1"}

    def ragls(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ragls", *args], capture_output=True, text=True, env=env, timeout=600)

    index = ragls("index", str(root), "--backend", "onnx-int8", "--json")
    assert index.returncode == 0, index.stderr
    assert json.loads(index.stdout)["embedded"] > 10
    (export,) = (xdg / "ragls" / "models").iterdir()  # the model cache is XDG's, not --cache-dir's
    assert (export / "model-int8.onnx").is_file() and (export / "manifest.json").is_file()
    found = ragls("search", "reduce a total by a percentage discount", "--root", str(root), "--json", "--backend", "onnx-int8")
    assert json.loads(found.stdout)["results"][0]["name"] == "apply_discount", found.stderr
    status = json.loads(ragls("status", str(root), "--json").stdout)
    assert status["folders"][0]["lastRun"]["backend"] == "onnx-int8"
    assert "torch" not in ragls("status", str(root)).stdout.split("backend")[1].split("\n")[0]


def test_vectors_of_two_backends_never_mix_and_each_is_reused(sample_root, cache_dir, real_embedder):
    settings = EngineSettings(cache_dir=str(cache_dir))
    torch_first = Indexer(sample_root, settings, embedder=CountingEmbedder(real_embedder)).index_all()
    int8 = CountingEmbedder(OnnxEmbedder(folder=models_dir(), threads=2))
    onnx_report = Indexer(sample_root, settings, embedder=int8).index_all()
    assert onnx_report.embedded == torch_first.embedded and onnx_report.index_rebuilt
    torch_again = CountingEmbedder(SentenceTransformerEmbedder(device="cpu"))
    report = Indexer(sample_root, settings, embedder=torch_again).index_all()
    assert report.embedded == 0 and report.cache_hits == report.chunks and torch_again.texts == []
