"""The portable index: one self-describing file that a CI job or a GPU machine builds once and
every editor loads read-only as the base of its own index (core/base.py).

A bundle is an uncompressed tar file with three members, in this order:

- `manifest.json`: format and version, the ragls version, the embedding key it was built with
  (model, backend and text form: `model_id`), the model's dimension, the git commit when the
  folder was a git work tree, the parts it covers (`--part` folders, [] for all), every file's
  content hash with its language and chunk count, and the size and blake2b checksum of the two
  other members;
- `store.sqlite3`: a ragls store holding the files, their chunks and exactly their vectors;
- `index.hnsw`: hnswlib's index of those vectors (labels are the chunk ids of the store).

It is written from nothing but its content, in a fixed order (files by path, chunks by path and
position, ids 1..N, the graph built on one thread with a fixed seed), so that the same content
gives the same bundle whether it is exported at once or in parts merged later (`merge_bundles`).
Writes are atomic (a temporary file, fsync, rename). Reading checks every member against the
manifest: a truncated or altered bundle is refused, never used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import hnswlib
import numpy as np

from ragls import __version__
from ragls.core.cache_home import private_folder, user_cache, writable
from ragls.core.chunk import Chunk
from ragls.core.errors import RaglsError
from ragls.core.store import FileState, Store
from ragls.core.vector_index import DEFAULT_EF_CONSTRUCTION, DEFAULT_EF_SEARCH, DEFAULT_M

FORMAT = "ragls-bundle"
FORMAT_VERSION = 1
MANIFEST, STORE, INDEX = "manifest.json", "store.sqlite3", "index.hnsw"
GRAPH_SEED = 100  # hnswlib's default random seed, fixed so that a bundle's graph is reproducible


class BundleError(RaglsError):
    """A bundle cannot be used; the message says why."""


class BundleMismatch(BundleError):
    """The bundle is sound but made for another model, backend, dimension or text form."""


class BundleFormatError(BundleError):
    """The file is not a ragls bundle, or one of another format version."""


class BundleCorrupt(BundleError):
    """The bundle is truncated or altered (a member does not match its checksum)."""


@dataclass(frozen=True)
class BundleFile:
    """What a bundle knows of one file."""

    language: str
    content_hash: str
    chunks: int


@dataclass(frozen=True)
class Manifest:
    """The description of a bundle (its `manifest.json`)."""

    model_id: str
    dim: int
    files: dict[str, BundleFile]
    chunks: int
    commit: str | None = None
    parts: tuple[str, ...] = ()
    root: str = ""
    ragls_version: str = __version__
    created: str = ""
    members: dict[str, dict] = field(default_factory=dict)  # name -> {"size", "blake2b"}

    def as_json(self) -> dict:
        """The manifest as written."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "ragls_version": self.ragls_version,
            "model_id": self.model_id,
            "model": key_parts(self.model_id)[0],
            "backend": key_parts(self.model_id)[1],
            "dim": self.dim,
            "commit": self.commit,
            "root": self.root,
            "parts": list(self.parts),
            "created": self.created,
            "chunks": self.chunks,
            "files": {path: {"language": f.language, "hash": f.content_hash, "chunks": f.chunks}
                      for path, f in sorted(self.files.items())},
            "members": self.members,
        }


@dataclass(frozen=True)
class BundleContent:
    """What goes into a bundle: each file's state and chunks, and the chunks' vectors."""

    files: dict[str, FileState]
    chunks: dict[str, list[Chunk]]  # by file
    vectors: dict[str, np.ndarray]  # by chunk content hash


# writing ------------------------------------------------------------------------------------------
def content_of(store, model_id: str, parts: Iterable[str] = ()) -> BundleContent:
    """The files, chunks and vectors of a store, or of an index over a base (its LayeredReader),
    of the files under `parts` only when given. Every chunk must have its vector cached for
    `model_id` (an index run makes sure of it)."""
    prefixes = tuple(part.strip("/") + "/" for part in parts)
    files = {path: state for path, state in store.file_states().items()
             if not prefixes or path.startswith(prefixes)}
    chunks = {path: [stored.chunk for stored in store.chunks_of_file(path)] for path in files}
    hashes = {chunk.content_hash for file_chunks in chunks.values() for chunk in file_chunks}
    vectors = store.cached_vectors(model_id, hashes)
    missing = hashes - vectors.keys()
    if missing:
        raise BundleError(f"{len(missing)} chunks have no vector for {model_id}: index the folder first")
    return BundleContent(files, chunks, vectors)


def write_bundle(out: Path, content: BundleContent, model_id: str, dim: int, *, root: str = "",
                 commit: str | None = None, parts: Iterable[str] = ()) -> Manifest:
    """Write `content` as a bundle at `out`, atomically; returns its manifest."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ragls-bundle-", dir=out.parent) as work:
        work_dir = Path(work)
        ordered = _ordered_chunks(content)
        _write_store(work_dir / STORE, content, ordered, model_id, dim)
        _write_index(work_dir / INDEX, ordered, content.vectors, dim)
        manifest = Manifest(
            model_id=model_id,
            dim=dim,
            files={path: BundleFile(state.language, state.content_hash, len(content.chunks[path]))
                   for path, state in content.files.items()},
            chunks=len(ordered),
            commit=commit,
            parts=tuple(sorted(p.strip("/") for p in parts)),
            root=root,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            members={name: _member_stamp(work_dir / name) for name in (STORE, INDEX)},
        )
        temp = work_dir / "bundle.tar"
        with tarfile.open(temp, "w", format=tarfile.PAX_FORMAT) as archive:
            _add_bytes(archive, MANIFEST, json.dumps(manifest.as_json(), indent=1).encode())
            for name in (STORE, INDEX):
                archive.add(work_dir / name, arcname=name, filter=_plain_member)
        with open(temp, "rb") as file:
            os.fsync(file.fileno())
        os.replace(temp, out)
    return manifest


def merge_bundles(inputs: list[Path], out: Path) -> Manifest:
    """One bundle with the content of several (parts of one tree, or the same tree built on
    several machines): equal in content to a single export of all of it. The parts must share
    one embedding key; a file in several parts must be the same in each."""
    opened = [read_bundle(path) for path in inputs]
    first = opened[0][0]
    files: dict[str, FileState] = {}
    chunks: dict[str, list[Chunk]] = {}
    vectors: dict[str, np.ndarray] = {}
    for manifest, folder in opened:
        check_compatible(manifest, first.model_id, first.dim, source=str(folder))
        store = Store(folder / STORE, create=False, read_only=True)
        try:
            part = content_of(store, manifest.model_id)
        finally:
            store.close()
        for path, state in part.files.items():
            if path in files and files[path].content_hash != state.content_hash:
                raise BundleError(f"{path} differs between the parts: they were built from different trees")
        files.update(part.files)
        chunks.update(part.chunks)
        vectors.update(part.vectors)
    commits = {manifest.commit for manifest, _ in opened}
    parts = () if any(not manifest.parts for manifest, _ in opened) else sorted({p for m, _ in opened for p in m.parts})
    return write_bundle(out, BundleContent(files, chunks, vectors), first.model_id, first.dim,
                        root=first.root, commit=commits.pop() if len(commits) == 1 else None, parts=parts)


def _ordered_chunks(content: BundleContent) -> list[Chunk]:
    """Every chunk, in the bundle's fixed order (its ids are 1..N in this order)."""
    return [chunk for path in sorted(content.chunks) for chunk in
            sorted(content.chunks[path], key=lambda c: (c.span.start_line, c.span.start_col, c.name, c.kind))]


def _write_store(path: Path, content: BundleContent, ordered: list[Chunk], model_id: str, dim: int) -> None:
    store = Store(path)
    try:
        store.set_meta(f"dim:{model_id}", str(dim))
        by_file: dict[str, list[Chunk]] = {}
        for chunk in ordered:
            by_file.setdefault(chunk.path, []).append(chunk)
        for file_path in sorted(content.files):
            state = content.files[file_path]
            # The content hash decides whether a file is the bundle's; its time is this machine's.
            portable = FileState(state.path, state.language, state.size, 0, state.content_hash)
            store.replace_file(portable, {}, by_file.get(file_path, []), [])
        identity = hashlib.blake2b(digest_size=16)
        for file_path in sorted(content.files):
            identity.update(f"{file_path}\0{content.files[file_path].content_hash}\n".encode())
        store.set_meta("store_id", identity.hexdigest())  # the same content, the same id
        store.cache_vectors(model_id, {chunk.content_hash: content.vectors[chunk.content_hash] for chunk in ordered})
        store.compact()  # one file, no write-ahead log beside it
    finally:
        store.close()


def _write_index(path: Path, ordered: list[Chunk], vectors: dict[str, np.ndarray], dim: int) -> None:
    """hnswlib's index of the chunks' vectors, labels 1..N, built on one thread, fixed seed."""
    index = hnswlib.Index(space="cosine", dim=dim)
    index.init_index(max_elements=max(1, len(ordered)), ef_construction=DEFAULT_EF_CONSTRUCTION, M=DEFAULT_M,
                     random_seed=GRAPH_SEED, allow_replace_deleted=True)
    index.set_ef(DEFAULT_EF_SEARCH)
    if ordered:
        matrix = np.stack([vectors[chunk.content_hash] for chunk in ordered]).astype(np.float32)
        index.add_items(matrix, np.arange(1, len(ordered) + 1), num_threads=1)
    index.save_index(str(path))


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    archive.addfile(info, io.BytesIO(data))


def _plain_member(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """No owner, time or mode of this machine in the bundle (two builds of one content agree)."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o644
    return info


# reading ------------------------------------------------------------------------------------------
def read_bundle(path: Path, unpacked: Path | None = None) -> tuple[Manifest, Path]:
    """The manifest of a bundle and a folder holding its verified members: unpacked once into a
    folder named by the manifest's checksum, under `unpacked` or the user's cache (shared by
    every workspace; a cache this process cannot write gets a private folder)."""
    path = Path(path)
    try:
        with tarfile.open(path, "r:") as archive:
            with _member_stream(archive, MANIFEST, path) as stream:
                raw = stream.read()
            manifest = _parse_manifest(raw, path)
            name = hashlib.blake2b(raw, digest_size=12).hexdigest()
            target = (unpacked or bundles_dir()) / name
            usable = _verified(target, manifest) is None  # reads both members: once per opening
            if not usable and not writable(target.parent):
                target = private_folder("bases") / name
                usable = _verified(target, manifest) is None
            stamp = _source_stamp(path)
            if not usable:
                _unpack(archive, manifest, target, path)
            elif stamp not in _checked_sources(target):
                # The same manifest in another file (or this one changed): its members must
                # match too, or an altered copy of a good bundle would pass for it.
                _check_members(archive, manifest, path)
            _remember_source(target, stamp)
    except FileNotFoundError:
        raise BundleError(f"no such bundle: {path}") from None
    except tarfile.ReadError as exc:
        if _starts_like_a_bundle(path):
            raise BundleCorrupt(f"{path} is truncated or damaged: {exc}") from None
        raise BundleFormatError(f"{path} is not a ragls bundle (ragls export writes them)") from None
    except (tarfile.TarError, EOFError) as exc:
        raise BundleCorrupt(f"{path} is truncated or damaged: {exc}") from None
    except OSError as exc:
        raise BundleError(f"cannot read the bundle {path}: {exc.strerror or exc}") from None
    return manifest, target


def _starts_like_a_bundle(path: Path) -> bool:
    """True when the file begins as a bundle does (a tar header naming the manifest, which
    PAX writes first as an extended header or the member itself)."""
    try:
        with open(path, "rb") as file:
            head = file.read(512)
    except OSError:
        return False
    return len(head) == 512 and head[257:262] == b"ustar"


def check_compatible(manifest: Manifest, model_id: str, dim: int | None, source: str) -> None:
    """BundleMismatch unless the bundle's vectors are of this embedding key and dimension."""
    if manifest.model_id != model_id:
        theirs, ours = describe_key(manifest.model_id), describe_key(model_id)
        if theirs == ours:
            theirs, ours = manifest.model_id, model_id  # they differ in prompt or text form
        raise BundleMismatch(
            f"{source} was built with {theirs}, this index embeds with {ours}: "
            "use the same model and backend (settings model, backend) or another bundle"
        )
    if dim is not None and manifest.dim != dim:
        raise BundleMismatch(f"{source} holds {manifest.dim}-dimensional vectors, the model makes {dim}")


def key_parts(model_id: str) -> tuple[str, str]:
    """The model and backend of an embedding key (core.embedding: "MODEL[|BACKEND][|prompt]",
    keys without a backend are torch's)."""
    model, _, rest = model_id.partition("|")
    backend = rest.split("|")[0].split("#")[0] if rest and not rest.startswith("document-prompt:") else "torch"
    return model.split("#")[0], backend


def describe_key(model_id: str) -> str:
    """An embedding key as users name it: "MODEL (BACKEND)"."""
    model, backend = key_parts(model_id)
    return f"{model} ({backend})"


def bundles_dir() -> Path:
    """Where unpacked bundles are kept: $XDG_CACHE_HOME/ragls/bases."""
    return user_cache("bases")



def _member_stream(archive: tarfile.TarFile, name: str, path: Path):
    try:
        member = archive.getmember(name)
    except KeyError:
        if name == MANIFEST:
            raise BundleFormatError(f"{path} is not a ragls bundle (it has no {name})") from None
        raise BundleCorrupt(f"{path} is truncated or damaged: it has no {name}") from None
    handle = archive.extractfile(member)
    if handle is None:
        raise BundleFormatError(f"{path}: {name} is not a file")
    return handle


def _parse_manifest(raw: bytes, path: Path) -> Manifest:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BundleCorrupt(f"{path}: the manifest is not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleFormatError(f"{path} is not a ragls bundle")
    if data.get("format_version") != FORMAT_VERSION:
        raise BundleFormatError(
            f"{path} is a bundle of format {data.get('format_version')}, this ragls reads format {FORMAT_VERSION}"
        )
    try:
        files = {p: BundleFile(f["language"], f["hash"], int(f["chunks"])) for p, f in data["files"].items()}
        return Manifest(
            model_id=str(data["model_id"]), dim=int(data["dim"]), files=files, chunks=int(data["chunks"]),
            commit=data.get("commit"), parts=tuple(data.get("parts") or ()), root=str(data.get("root", "")),
            ragls_version=str(data.get("ragls_version", "")), created=str(data.get("created", "")),
            members=dict(data["members"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleCorrupt(f"{path}: the manifest is incomplete ({exc})") from None


def _check_members(archive: tarfile.TarFile, manifest: Manifest, path: Path) -> None:
    """BundleCorrupt unless every member of the bundle file matches the manifest."""
    for name in (STORE, INDEX):
        digest, size = hashlib.blake2b(), 0
        with _member_stream(archive, name, path) as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
                size += len(block)
        if {"size": size, "blake2b": digest.hexdigest()} != manifest.members.get(name):
            raise BundleCorrupt(f"{path} is damaged or altered: {name} does not match its checksum")


SOURCES = "sources.json"  # in an unpacked folder: the bundle files whose members were checked


def _source_stamp(path: Path) -> str:
    info = path.stat()
    return f"{path.resolve()}:{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"


def _checked_sources(target: Path) -> set[str]:
    try:
        return set(json.loads((target / SOURCES).read_text()))
    except (OSError, ValueError, TypeError):
        return set()


def _remember_source(target: Path, stamp: str) -> None:
    """Record that this bundle file's members were checked (a read-only cache forgets it)."""
    known = _checked_sources(target)
    if stamp in known:
        return
    try:
        temp = target / f".{SOURCES}.{os.getpid()}"
        temp.write_text(json.dumps(sorted(known | {stamp})))
        os.replace(temp, target / SOURCES)
    except OSError:
        pass


def _unpack(archive: tarfile.TarFile, manifest: Manifest, target: Path, path: Path) -> None:
    """Extract the members next to `target`, verify them, then rename the folder into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name in (STORE, INDEX):
            with _member_stream(archive, name, path) as stream, open(work_dir / name, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
        (work_dir / MANIFEST).write_text(json.dumps(manifest.as_json()))
        problem = _verified(work_dir, manifest)
        if problem is not None:
            raise BundleCorrupt(f"{path} is damaged or altered: {problem}")
        shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(work_dir, target)
        except OSError:  # another process unpacked the same bundle first: theirs will do
            if _verified(target, manifest) is not None:
                raise
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _verified(folder: Path, manifest: Manifest) -> str | None:
    """What is wrong with an unpacked bundle, or None when every member matches."""
    for name in (STORE, INDEX):
        expected = manifest.members.get(name)
        if not isinstance(expected, dict):
            return f"the manifest has no checksum of {name}"
        member = folder / name
        if not member.is_file():
            return f"{name} is missing"
        if _member_stamp(member) != expected:
            return f"{name} does not match its checksum"
    return None


def _member_stamp(path: Path) -> dict:
    digest = hashlib.blake2b()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return {"size": path.stat().st_size, "blake2b": digest.hexdigest()}
