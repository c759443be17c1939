"""Child process for the crash-safety test: adds, deletes and saves in a loop until killed.

    python vector_index_saver.py DIRECTORY

Step s adds labels [s*BATCH, (s+1)*BATCH) and deletes the labels of step s-2 that are multiples
of DELETE_EVERY, so the live labels after any step are known in advance (`expected_labels`).
The child resumes from the index it finds in DIRECTORY. It prints "ready S" once started (S is
the first step it will apply, so S - 1 is what it found on disk), then
"saving S" before and "saved S" after each save of step S.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ragls.core.vector_index import IndexLoadError, IndexMeta, VectorIndex

DIM = 32
BATCH = 150
DELETE_EVERY = 3
META = IndexMeta(model_id="crash-test", dim=DIM)


def vectors_of_step(step: int) -> np.ndarray:
    """The vectors added at `step`, the same in every process."""
    rows = np.random.default_rng(step).standard_normal((BATCH, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def labels_of_step(step: int) -> range:
    """The labels added at `step`."""
    return range(step * BATCH, (step + 1) * BATCH)


def deleted_at_step(step: int) -> list[int]:
    """The labels deleted at `step`."""
    if step < 2:
        return []
    return [label for label in labels_of_step(step - 2) if label % DELETE_EVERY == 0]


def expected_labels(last_step: int) -> set[int]:
    """The live labels once steps 0..last_step have been applied."""
    live: set[int] = set()
    for step in range(last_step + 1):
        live.update(labels_of_step(step))
        live.difference_update(deleted_at_step(step))
    return live


def apply_step(index: VectorIndex, step: int) -> None:
    """Add and delete what `step` prescribes."""
    index.add(list(labels_of_step(step)), vectors_of_step(step))
    index.delete(deleted_at_step(step))


def next_step(index: VectorIndex) -> int:
    """The first step not yet applied to `index`."""
    return max(index.labels()) // BATCH + 1 if len(index) else 0


def main(directory: Path) -> None:
    """Resume from the saved index, then apply and save steps forever."""
    try:
        index = VectorIndex.load(directory, META)
    except IndexLoadError:
        index = VectorIndex.create(META, capacity=64, m=8, ef_construction=40, ef_search=32)
    step = next_step(index)
    print(f"ready {step}", flush=True)
    while True:
        apply_step(index, step)
        print(f"saving {step}", flush=True)
        index.save(directory)
        print(f"saved {step}", flush=True)
        step += 1


if __name__ == "__main__":
    main(Path(sys.argv[1]))
