"""Vectors and hnswlib files that the hnswlib format and graph-builder tests share."""

from __future__ import annotations

from pathlib import Path

import hnswlib
import numpy as np


def random_vectors(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """Gaussian rows (not normalized)."""
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def stock_index_file(
    path: Path, count: int = 50, dim: int = 8, m: int = 4, space: str = "cosine", **options
) -> tuple[Path, np.ndarray]:
    """An index saved by hnswlib itself, labels 10*i + 3."""
    vectors = random_vectors(count, dim)
    index = hnswlib.Index(space=space, dim=dim)
    index.init_index(
        max_elements=options.get("capacity", max(count, 1)), M=m, ef_construction=20, random_seed=5
    )
    if count:
        # One thread: internal ids then follow the order of the rows (the reader test needs it).
        index.add_items(vectors, np.arange(count) * 10 + 3, num_threads=1)
    for label in options.get("deleted", ()):
        index.mark_deleted(label)
    index.save_index(str(path))
    return path, vectors
