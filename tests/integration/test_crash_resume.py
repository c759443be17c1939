"""A cold index killed in the middle loses nothing it had embedded; hostile files never stop it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from ragls.core.indexer import EMBED_BATCH, Indexer
from ragls.core.settings import EngineSettings

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Real code nobody here wrote, enough for several embedding batches (with two, the second can be
# cached before the kill lands: then nothing is left to resume).
STDLIB_FILES = ["textwrap.py", "shlex.py", "fractions.py", "heapq.py", "calendar.py", "difflib.py", "csv.py", "bisect.py",
                "argparse.py", "pathlib.py", "configparser.py"]


def ragls_env(cache: Path) -> dict:
    return {**os.environ, "RAGLS_CACHE_DIR": str(cache), "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def cached_vectors(cache: Path) -> int:
    stores = list(cache.glob("*/store.sqlite3"))
    if not stores:
        return 0
    try:
        with sqlite3.connect(stores[0], timeout=1) as db:
            return db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_killed_cold_index_resumes_without_re_embedding(tmp_path):
    root, cache = tmp_path / "code", tmp_path / "cache"
    root.mkdir()
    for name in STDLIB_FILES:
        shutil.copyfile(STDLIB / name, root / name)
    child = subprocess.Popen(
        [sys.executable, "-m", "ragls", "index", str(root)],
        env=ragls_env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while cached_vectors(cache) < EMBED_BATCH and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    assert child.poll() is None, "the index finished before it could be killed: add more files"
    child.send_signal(signal.SIGKILL)
    child.wait()
    embedded_before_kill = cached_vectors(cache)
    assert embedded_before_kill >= EMBED_BATCH

    result = subprocess.run(
        [sys.executable, "-m", "ragls", "index", str(root), "--json"],
        env=ragls_env(cache), capture_output=True, text=True, timeout=300,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    unique = len({s.chunk.content_hash for s in Indexer(root, EngineSettings(cache_dir=str(cache))).store.iter_chunks()})
    assert report["embedded"] > 0, "everything was embedded before the kill: add more files"
    assert report["embedded"] == unique - embedded_before_kill
    assert report["cache_hits"] >= embedded_before_kill
    assert report["chunks"] >= unique


def test_hostile_files_are_skipped_or_survived(tmp_path, embedder):
    root = tmp_path / "code"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg/good.py").write_text("def fine():\n    return 1\n")
    (root / "pkg/latin1.py").write_bytes(b"def caf\xe9():\n    return '\xff\xfe'\n")  # invalid UTF-8
    (root / "pkg/blob.py").write_bytes(b"\x00" * 5000)
    (root / "pkg/huge.py").write_text("x = 1\n" * 400_000)
    (root / "pkg/loop").symlink_to(root / "pkg")  # a symlink cycle
    (root / "outside.py").symlink_to("/etc/hostname")
    (root / "pkg/unclosed.py").write_text("def broken(:\n    return [\n")

    indexer = Indexer(root, EngineSettings(cache_dir=str(tmp_path / "cache")), embedder=embedder)
    report = indexer.index_all()

    paths = {s.chunk.path for s in indexer.store.iter_chunks()}
    assert paths == {"pkg/good.py", "pkg/latin1.py", "pkg/unclosed.py"}
    latin = indexer.store.chunks_of_file("pkg/latin1.py")
    assert "\ufffd" in latin[0].chunk.text
    assert report.skipped.get("binary") == 1 and report.skipped.get("too_large") == 1
