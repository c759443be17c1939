"""The ONNX Runtime backend, for real: the bundled model exported with torch.onnx, optimized and
quantized by onnxruntime, run without torch, checked against sentence-transformers."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from ragls.core.embedding import DEFAULT_MODEL, resolve_model
from ragls.core.onnx_embedding import (
    FP32_FILE,
    INT8_FILE,
    MANIFEST,
    OnnxEmbedder,
    ensure_export,
    export_folder,
    token_batches,
    verify_export,
)

pytestmark = pytest.mark.slow

TEXTS = [
    "def add_item(self, name, price, quantity=1):\n    self.items.append((name, price, quantity))",
    "func (c *Client) Do(req *Request) (*Response, error) {\n\treturn c.send(req)\n}",
    "read the settings from a file",
    "x",
    "fn parse(input: &str) -> Result<Ast, Error> { Parser::new(input).parse() }" * 20,  # past 256 pieces
]


@pytest.fixture(scope="session")
def export(tmp_path_factory):
    """One export of the bundled model, in a models folder of the tests' own."""
    folder = tmp_path_factory.mktemp("models")
    return folder, ensure_export(resolve_model(None), folder)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_the_export_holds_both_models_and_a_verified_manifest(export):
    folder, target = export
    assert target.parent == folder and target == export_folder(resolve_model(None), folder)
    assert verify_export(target) is None
    files = json.loads((target / MANIFEST).read_text())["files"]
    assert {FP32_FILE, INT8_FILE, "tokenizer.json", "config.json"} <= set(files)
    assert (target / INT8_FILE).stat().st_size < (target / FP32_FILE).stat().st_size / 3


@pytest.mark.parametrize("quantized, least, mean", [(False, 0.9999, 0.9999), (True, 0.97, 0.99)])
def test_vectors_match_sentence_transformers(export, real_embedder, quantized, least, mean):
    embedder = OnnxEmbedder(quantized=quantized, folder=export[0], threads=2)
    got, want = embedder.embed(TEXTS), real_embedder.embed(TEXTS)
    assert got.shape == want.shape == (len(TEXTS), 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    similarity = cosines(got, want)
    assert similarity.min() >= least and similarity.mean() >= mean, similarity
    assert embedder.model_id == f"{DEFAULT_MODEL}|{'onnx-int8' if quantized else 'onnx'}"
    assert embedder.loaded_device == "cpu" and embedder.backend == ("onnx-int8" if quantized else "onnx")


def test_a_broken_or_interrupted_export_is_rebuilt_never_loaded(export, tmp_path):
    folder, target = export
    copy = tmp_path / "models"
    shutil.copytree(folder, copy)
    broken = copy / target.name
    with open(broken / INT8_FILE, "r+b") as file:  # a flipped byte
        file.seek(4096)
        byte = file.read(1)
        file.seek(4096)
        file.write(bytes([byte[0] ^ 0xFF]))
    assert "checksum" in verify_export(broken)
    abandoned = copy / f".{broken.name}.killed"  # what an export killed mid-way leaves
    abandoned.mkdir()
    os.utime(abandoned, (0, 0))
    assert ensure_export(resolve_model(None), copy) == broken and verify_export(broken) is None
    assert not abandoned.exists()
    (broken / MANIFEST).unlink()
    assert verify_export(broken) == "not exported yet"


def test_batches_hold_at_most_the_token_budget_and_keep_every_text():
    lengths = sorted([3, 3, 5, 10, 10, 40, 100, 256, 256, 256])
    batches = token_batches(lengths, 512, 4)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 4 and (len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 512)
