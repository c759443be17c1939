"""Portable indexes from the terminal: `ragls export`, `ragls index --base`, `ragls merge`.

Real subprocesses, the real model (its int8 ONNX copy, the CPU default), real files. Each
machine of the story has its own index cache and its own user cache (where bundles are
unpacked); the exported model is shared through a link, as it would be found on a machine
where ragls ran before.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import SAMPLE_FILES, write_files
from ragls.core.bundle import INDEX, MANIFEST, STORE, read_bundle
from ragls.core.onnx_embedding import models_dir
from ragls.core.store import Store

pytestmark = pytest.mark.slow

QUERY = "Reduce a total by a percentage discount"


class Machine:
    """One machine: an index cache and a user cache of its own."""

    def __init__(self, home: Path):
        self.cache = home / "index-cache"
        self.xdg = home / "xdg"
        (self.xdg / "ragls").mkdir(parents=True, exist_ok=True)
        link = self.xdg / "ragls" / "models"
        if not link.exists():
            link.symlink_to(models_dir(), target_is_directory=True)

    def ragls(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "RAGLS_CACHE_DIR": str(self.cache), "XDG_CACHE_HOME": str(self.xdg),
               "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        return subprocess.run([sys.executable, "-m", "ragls", *args], capture_output=True, text=True,
                              env=env, cwd=cwd, timeout=600)

    def json(self, *args: str) -> dict:
        result = self.ragls(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert lines and lines[-1].startswith("ragls: error: ") and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[-1], lines[-1]
    return lines[-1]


def git_tree(root: Path) -> str:
    """Make `root` a git work tree with one commit; its hash."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True,
                              env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
                                   "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}).stdout.strip()
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "sample")
    return git("rev-parse", "HEAD")


def names(result: dict) -> list[tuple[str, str]]:
    return [(found["path"], found["name"]) for found in result["results"]]


def file_stamp(path: Path) -> tuple:
    info = path.stat()
    return info.st_size, info.st_mtime_ns, hashlib.blake2b(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The CI machine: a git work tree, indexed and exported."""
    base = tmp_path_factory.mktemp("bundles")
    tree = base / "ci" / "project"
    write_files(tree, SAMPLE_FILES)
    commit = git_tree(tree)
    ci = Machine(base / "ci")
    bundle = base / "project.ragls"
    exported = ci.json("export", str(tree), "--out", str(bundle))
    searched = ci.json("search", QUERY, "--root", str(tree))
    return base, tree, commit, bundle, exported, searched


def checkout(base: Path, tree: Path, name: str) -> tuple[Machine, Path]:
    """A developer's machine with a copy of the tree at another path."""
    copy = base / name / "project"
    shutil.copytree(tree, copy, ignore=shutil.ignore_patterns(".git"))
    return Machine(base / name), copy


def test_export_writes_a_self_describing_bundle(built):
    _, tree, commit, bundle, exported, _ = built
    assert exported["files"] == len(SAMPLE_FILES) and exported["functions"] > 10 and exported["commit"] == commit
    with tarfile.open(bundle) as archive:
        assert archive.getnames() == [MANIFEST, STORE, INDEX]
        manifest = json.loads(archive.extractfile(MANIFEST).read())
    assert manifest["format"] == "ragls-bundle" and manifest["format_version"] == 1
    assert manifest["model_id"] == "sentence-transformers/all-MiniLM-L6-v2|onnx-int8" and manifest["dim"] == 384
    assert manifest["backend"] == "onnx-int8" and manifest["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    cart = (tree / "shop/cart.py").read_bytes()
    assert manifest["files"]["shop/cart.py"]["hash"] == hashlib.blake2b(cart, digest_size=16).hexdigest()
    assert set(manifest["members"]) == {STORE, INDEX} and all(m["size"] > 0 for m in manifest["members"].values())
    assert not list(bundle.parent.glob(".ragls-bundle-*")), "the temporary work folder is gone"


def test_an_identical_tree_on_a_fresh_machine_embeds_nothing_and_finds_the_same(built):
    base, tree, commit, bundle, exported, searched = built
    before = file_stamp(bundle)
    bundle.chmod(0o444)
    dev, copy = checkout(base, tree, "dev-identical")
    report = dev.json("index", str(copy), "--base", str(bundle))
    assert report["embedded"] == 0 and report["files"] == len(SAMPLE_FILES) and report["chunks"] == exported["functions"]
    assert names(dev.json("search", QUERY, "--root", str(copy))) == names(searched)
    status = dev.json("status", str(copy))
    (folder,) = status["folders"]
    assert folder["base"] == {"file": str(bundle), "commit": commit, "functions": exported["functions"],
                              "searched": exported["functions"]}
    assert folder["overlayChunks"] == 0 and folder["baseError"] is None and status["chunks"] == exported["functions"]
    text = dev.ragls("status", str(copy)).stdout
    assert f"base            {bundle} at {commit[:12]}: {exported['functions']} functions" in text
    assert dev.json("index", str(copy))["files_changed"] == 0, "the base is remembered, nothing to redo"
    assert file_stamp(bundle) == before, "the base is never written"


def test_changed_deleted_and_new_files_go_to_the_overlay(built):
    base, tree, _, bundle, exported, _ = built
    dev, copy = checkout(base, tree, "dev-edits")
    assert dev.json("index", str(copy), "--base", str(bundle))["embedded"] == 0
    discounts = copy / "shop/discounts.py"
    discounts.write_text(discounts.read_text().replace("percent) / 100", "percent) / 100.0"))
    assert "100.0" in discounts.read_text()
    (copy / "geo/distance.go").unlink()
    write_files(copy, {"shop/refunds.py": 'def refund_order(order):\n    """Give the money of a returned order back."""\n    return -order.total\n'})
    report = dev.json("index", str(copy))
    assert report["embedded"] == 2, report  # apply_discount as changed, and the new refund_order
    assert report["files_changed"] == 2 and report["files_removed"] == 1
    found = dev.json("search", "give the money of a returned order back", "--root", str(copy), "--limit", "50")
    assert names(found)[0] == ("shop/refunds.py", "refund_order")
    assert len(names(found)) == len(set(names(found))), "no chunk twice (base and overlay)"
    assert not [path for path, _ in names(found) if path == "geo/distance.go"], "a deleted file is masked"
    assert sum(1 for pair in names(found) if pair == ("shop/discounts.py", "apply_discount")) == 1
    related = dev.json("related", f"{copy}/shop/discounts.py:2", "--root", str(copy))
    assert related["symbol"]["name"] == "apply_discount" and related["results"]
    (folder,) = dev.json("status", str(copy))["folders"]
    assert folder["overlayChunks"] > 0 and folder["base"]["searched"] < exported["functions"]
    # Back to the base's content: the file is the base's again, nothing is embedded.
    shutil.copy(tree / "shop/discounts.py", discounts)
    back = dev.json("index", str(copy))
    assert back["embedded"] == 0


def test_refusals_are_one_line_and_keep_the_index(built, tmp_path):
    base, tree, _, bundle, exported, _ = built
    dev, copy = checkout(base, tree, "dev-refusals")
    assert dev.json("index", str(copy), "--base", str(bundle))["embedded"] == 0  # unpacked once here

    tampered = tmp_path / "tampered.ragls"
    data = bytearray(bundle.read_bytes())
    with tarfile.open(bundle) as archive:
        inside_the_store = archive.getmember(STORE).offset_data + 4096
    data[inside_the_store] ^= 0xFF  # the manifest untouched: it names the good content
    tampered.write_bytes(bytes(data))
    one_line_error(dev.ragls("index", str(copy), "--base", str(tampered)), "does not match its checksum")

    truncated = tmp_path / "truncated.ragls"
    truncated.write_bytes(bundle.read_bytes()[: len(data) // 2])
    one_line_error(dev.ragls("index", str(copy), "--base", str(truncated)), "truncated or damaged")

    other_version = tmp_path / "v99.ragls"
    rewrite_manifest(bundle, other_version, format_version=99)
    one_line_error(dev.ragls("index", str(copy), "--base", str(other_version)), "format 99", "reads format 1")

    one_line_error(dev.ragls("index", str(copy), "--base", str(bundle), "--backend", "torch"),
                   "all-MiniLM-L6-v2 (onnx-int8)", "(torch)")
    one_line_error(dev.ragls("index", str(copy), "--base", str(tmp_path)), "cannot read the bundle")
    not_one = tmp_path / "notes.txt"
    not_one.write_text("hello")
    one_line_error(dev.ragls("index", str(copy), "--base", str(not_one)), "is not a ragls bundle")
    one_line_error(dev.ragls("index", str(copy), "--base", str(tmp_path / "gone.ragls")), "no such bundle")

    # Nothing was lost: the remembered base still serves, with every function.
    assert dev.json("status", str(copy))["chunks"] == exported["functions"]
    assert dev.json("search", QUERY, "--root", str(copy))["results"][0]["name"] == "apply_discount"
    # --no-base forgets it: the folder is indexed on its own.
    alone = dev.json("index", str(copy), "--no-base")
    assert alone["embedded"] == exported["functions"] and dev.json("status", str(copy))["folders"][0]["base"] is None


def rewrite_manifest(source: Path, out: Path, **changes) -> None:
    with tarfile.open(source) as archive:
        members = {name: archive.extractfile(name).read() for name in archive.getnames()}
    manifest = {**json.loads(members[MANIFEST]), **changes}
    members[MANIFEST] = json.dumps(manifest).encode()
    with tarfile.open(out, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_parts_built_in_separate_processes_merge_into_the_single_export(built, tmp_path):
    base, tree, commit, bundle, exported, searched = built
    shard_a, shard_b = Machine(base / "shard-a"), Machine(base / "shard-b")
    part_a, part_b = tmp_path / "a.ragls", tmp_path / "b.ragls"
    a = shard_a.json("export", str(tree), "--part", "shop", "--part", "geo", "--out", str(part_a))
    b = shard_b.json("export", str(tree), "--part", "web", "--part", "text", "--out", str(part_b))
    assert a["parts"] == ["geo", "shop"] and a["files"] == 3 and b["files"] == 2
    merged = tmp_path / "merged.ragls"
    result = shard_a.json("merge", str(part_a), str(part_b), "--out", str(merged))
    assert result["functions"] == exported["functions"] and result["files"] == exported["files"]
    assert result["commit"] == commit and result["parts"] == ["geo", "shop", "text", "web"]

    single_manifest, single_dir = read_bundle(bundle, tmp_path / "single")
    merged_manifest, merged_dir = read_bundle(merged, tmp_path / "merged")
    assert merged_manifest.files == single_manifest.files and merged_manifest.chunks == single_manifest.chunks
    assert same_chunks_and_vectors(single_dir / STORE, merged_dir / STORE, single_manifest.model_id)

    dev, copy = checkout(base, tree, "dev-merged")
    assert dev.json("index", str(copy), "--base", str(merged))["embedded"] == 0
    for query in (QUERY, "fetch a JSON document over HTTP", "count how many times each word occurs"):
        # The top three: further down, scores of unrelated functions are close enough for the
        # int8 rounding between batches to swap neighbours.
        assert names(dev.json("search", query, "--root", str(copy)))[:3] == names(
            Machine(base / "ci").json("search", query, "--root", str(tree)))[:3]


def same_chunks_and_vectors(first: Path, second: Path, model_id: str) -> bool:
    """The two stores hold the same chunks under the same ids, with the same vectors up to the
    int8 model's rounding: dynamic quantization scales each batch by its own range, and the
    parts were embedded in other batches than the whole (cosine >= 0.99 between the two)."""
    import numpy as np

    one, two = Store(first, create=False, read_only=True), Store(second, create=False, read_only=True)
    try:
        chunks_one, chunks_two = one.chunk_hashes(), two.chunk_hashes()
        if chunks_one != chunks_two:
            return False
        vectors_one = one.cached_vectors(model_id, chunks_one.values())
        vectors_two = two.cached_vectors(model_id, chunks_two.values())
        return vectors_one.keys() == vectors_two.keys() and all(
            float(vectors_one[key] @ vectors_two[key]) / float(np.linalg.norm(vectors_one[key]) * np.linalg.norm(vectors_two[key])) >= 0.99
            for key in vectors_one)
    finally:
        one.close()
        two.close()


def test_export_and_merge_mistakes_are_one_line(built, tmp_path):
    base, tree, _, bundle, _, _ = built
    ci = Machine(base / "ci")
    one_line_error(ci.ragls("export", str(tree), "--part", "nowhere", "--out", str(tmp_path / "x.ragls")),
                   "--part nowhere: not a folder inside")
    other = tmp_path / "torch.ragls"
    assert ci.ragls("export", str(tree), "--part", "web", "--backend", "torch", "--out", str(other)).returncode == 0
    one_line_error(ci.ragls("merge", str(bundle), str(other), "--out", str(tmp_path / "m.ragls")), "built with")
    assert not (tmp_path / "m.ragls").exists()
