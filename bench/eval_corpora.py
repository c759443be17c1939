"""Search quality on ten real repositories nobody here wrote, in five languages, measured with
`ragls eval`'s own machinery (services.evaluation: doc-less copy, first doc sentence as the
query) and paired per query against naive function-level dense search (each function's source
text alone, embedded by the same model, exact cosine).

    python bench/eval_corpora.py fetch                  # install / download the corpora
    python bench/eval_corpora.py run --out FILE.json    # every ranking of ragls, and naive
    python bench/eval_corpora.py report FILE.json [BASE.json]  # tables; paired against naive
                                                        # (or against BASE's default ranking)

The corpora were chosen before any ranking change and every one is reported. They come from the
registries this machine reaches: Debian packages (apt-get), npm and PyPI sdists. Work files go
to bench/results/ (not committed): the downloads, each corpus's doc-less copy and index, and the
naive baseline's embeddings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "server"))

import numpy as np  # noqa: E402

from ragls.core import chunk as chunk_module  # noqa: E402
from ragls.core import indexer as indexer_module  # noqa: E402
from ragls.core.chunk import MODULE, WINDOW  # noqa: E402
from ragls.core.chunking import chunk_source  # noqa: E402
from ragls.core.embedding import SentenceTransformerEmbedder  # noqa: E402
from ragls.core.retrieval import Fusion  # noqa: E402
from ragls.core.settings import EngineSettings  # noqa: E402
from ragls.core.terms import split_identifier  # noqa: E402
from ragls.core.workspace import SkipReason, Workspace, workspace_id  # noqa: E402
from ragls.services import evaluation  # noqa: E402
from ragls.services.worker import EngineListener  # noqa: E402

RESULTS = REPO / "bench" / "results"
DOWNLOADS = RESULTS / "corpora"
TOP = evaluation.TOP
BOOTSTRAP = 2000


@dataclass(frozen=True)
class Corpus:
    """One repository: where its source comes from and which folder of it is measured."""

    name: str
    language: str
    registry: str  # "apt", "npm" or "pypi"
    package: str
    version: str
    folder: str  # absolute (apt) or below DOWNLOADS

    def path(self) -> Path:
        """The folder measured."""
        return Path(self.folder) if self.registry == "apt" else DOWNLOADS / self.folder


CORPORA = (
    Corpus("click", "python", "pypi", "click", "8.1.7", "click-8.1.7/src"),
    Corpus("requests", "python", "pypi", "requests", "2.31.0", "requests-2.31.0/requests"),
    Corpus("go-cmp", "go", "apt", "golang-github-google-go-cmp-dev", "0.5.9-1",
           "/usr/share/gocode/src/github.com/google/go-cmp"),
    Corpus("gin", "go", "apt", "golang-github-gin-gonic-gin-dev", "1.8.1-1",
           "/usr/share/gocode/src/github.com/gin-gonic/gin"),
    Corpus("itertools", "rust", "apt", "librust-itertools-dev", "0.10.3-1", "/usr/share/cargo/registry/itertools-0.10.3"),
    Corpus("regex-syntax", "rust", "apt", "librust-regex-syntax-dev", "0.6.27-1",
           "/usr/share/cargo/registry/regex-syntax-0.6.27"),
    Corpus("thor", "ruby", "apt", "ruby-thor", "1.2.1-2", "/usr/share/rubygems-integration/all/gems/thor-1.2.1"),
    Corpus("rack", "ruby", "apt", "ruby-rack", "2.2.22-0+deb12u2", "/usr/share/rubygems-integration/all/gems/rack-2.2.22"),
    Corpus("rxjs", "typescript", "npm", "rxjs", "7.8.2", "npm/node_modules/rxjs/src"),
    Corpus("axios", "javascript", "npm", "axios", "1.21.1", "npm/node_modules/axios/lib"),
)
# Hybrid rankings tried against the default one (`run --fusion NAME`); docs/benchmarks.md
# records each one's result, kept or not.
# The hybrid ranking before this benchmark: RRF (k=60) with dense weighted 2:1, no priors.
BEFORE = Fusion(dense_weight=2.0, lexical_weight=1.0, identifier_dense_weight=2.0, identifier_lexical_weight=1.0,
                module_prior=1.0, test_prior=1.0, method="rrf")
_EQUAL_PRIORS = replace(BEFORE, dense_weight=1.0, lexical_weight=1.0, module_prior=0.5, test_prior=0.5)
_SCORES = replace(_EQUAL_PRIORS, method="scores")
FUSION_TRIALS = {
    "before": BEFORE,
    "equal-weights": replace(BEFORE, dense_weight=1.0, lexical_weight=1.0),
    "lexical-heavy": replace(BEFORE, dense_weight=1.0, lexical_weight=2.0),
    "priors": replace(BEFORE, module_prior=0.5, test_prior=0.5),
    "priors-mild": replace(BEFORE, module_prior=0.8, test_prior=0.8),
    "module-prior": replace(BEFORE, module_prior=0.5),
    "test-prior": replace(BEFORE, test_prior=0.5),
    "per-file-2": replace(BEFORE, per_file=2),
    "priors-equal": _EQUAL_PRIORS,
    "pe-k20": replace(_EQUAL_PRIORS, rrf_k=20),
    "pe-k10": replace(_EQUAL_PRIORS, rrf_k=10),
    "pe-strong": replace(_EQUAL_PRIORS, module_prior=0.3, test_prior=0.3),
    "pe-deep": replace(_EQUAL_PRIORS, candidates=100),
    "pe-dense-1.5": replace(_EQUAL_PRIORS, dense_weight=1.5),
    "pe-lexical-1.5": replace(_EQUAL_PRIORS, lexical_weight=1.5),
    "pe-names": replace(_EQUAL_PRIORS, name_weight=0.5),
    "pe-names-1": replace(_EQUAL_PRIORS, name_weight=1.0),
    "pe-fields-511": replace(_EQUAL_PRIORS, lexical_fields=(5.0, 1.0, 1.0)),
    "pe-fields-111": replace(_EQUAL_PRIORS, lexical_fields=(1.0, 1.0, 1.0)),
    "pe-fields-321": replace(_EQUAL_PRIORS, lexical_fields=(3.0, 2.0, 1.0)),
    "scores-equal": _SCORES,
    "scores-dense-2": replace(_SCORES, dense_weight=2.0),
    "sc-names": replace(_SCORES, name_weight=0.5),
    "sc-fields-511": replace(_SCORES, lexical_fields=(5.0, 1.0, 1.0)),
    "sc-fields-111": replace(_SCORES, lexical_fields=(1.0, 1.0, 1.0)),
    "sc-strong": replace(_SCORES, module_prior=0.3, test_prior=0.3),
    "sc-mild": replace(_SCORES, module_prior=0.7, test_prior=0.7),
    "sc-lexical-1.5": replace(_SCORES, lexical_weight=1.5),
    "sc-dense-1.5": replace(_SCORES, dense_weight=1.5),
    "sc-deep": replace(_SCORES, candidates=100),
    "sc-shallow": replace(_SCORES, candidates=25),
    "sc-no-priors": replace(_SCORES, module_prior=1.0, test_prior=1.0),
}
# What the embedded text holds, tried against the product's (`run --embed NAME`, with a work
# folder of its own: every chunk is embedded again).
def _body(chunk) -> str:
    return chunk.text[: chunk_module.MAX_BODY_CHARS]


def _words(name: str) -> str:
    return " ".join(split_identifier(re.split(r"\.|::|#", name)[-1]))


EMBED_TRIALS = {
    "text-only": lambda c: _body(c),
    "no-path": lambda c: f"{c.language} {c.kind} {c.name}\n{_body(c)}",
    "name-words": lambda c: f"{c.path} {c.language} {c.kind} {c.name} ({_words(c.name)})\n{_body(c)}",
    "name-words-no-path": lambda c: f"{c.kind} {c.name} ({_words(c.name)})\n{_body(c)}",
}
# TypeScript and JavaScript count as one language, as in the list.
LANGUAGE_OF = {"typescript": "ts/js", "javascript": "ts/js", "tsx": "ts/js"}


# fetching -----------------------------------------------------------------------------------
def fetch() -> None:
    """Install or download every corpus (apt-get needs root)."""
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    apt = [f"{c.package}={c.version}" for c in CORPORA if c.registry == "apt"]
    subprocess.run(["apt-get", "install", "-y", "-q", *apt], check=True)
    npm_dir = DOWNLOADS / "npm"
    npm_dir.mkdir(exist_ok=True)
    if not (npm_dir / "package.json").exists():
        (npm_dir / "package.json").write_text('{"private": true}')
    npm = [f"{c.package}@{c.version}" for c in CORPORA if c.registry == "npm"]
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", *npm], cwd=npm_dir, check=True)
    for corpus in (c for c in CORPORA if c.registry == "pypi"):
        if not corpus.path().is_dir():
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                            "-d", str(DOWNLOADS), f"{corpus.package}=={corpus.version}"], check=True)
            with tarfile.open(DOWNLOADS / f"{corpus.package}-{corpus.version}.tar.gz") as archive:
                archive.extractall(DOWNLOADS, filter="data")
    for corpus in CORPORA:
        assert corpus.path().is_dir(), corpus


# running ------------------------------------------------------------------------------------
def run(out: Path, variant: str, limit: int, corpora: list[str], reuse: str | None, fusions: list[str],
        embed: str | None, backend: str) -> None:
    """Measure every ranking and the naive baseline on every corpus; write per-query ranks.

    `reuse`: start each corpus's work folder as a copy of that variant's (its vectors are reused
    when the embedded text did not change). `fusions`: extra hybrid rankings from FUSION_TRIALS.
    """
    from ragls.core import retrieval

    for name in fusions:
        retrieval.FUSIONS[name] = FUSION_TRIALS[name]
    if embed:
        chunk_module.embed_text = EMBED_TRIALS[embed]
        indexer_module.EMBED_TEXT_FORMAT = f"trial-{embed}"
    rankings = ("dense", "lexical", "hybrid", *fusions)
    settings = EngineSettings(device="cpu", backend=backend)
    model = SentenceTransformerEmbedder(device="cpu")
    model.load()
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "variant": variant, "embed": embed or "product", "backend": backend,
              "machine": _machine(), "corpora": {}}
    for corpus in CORPORA:
        if corpora and corpus.name not in corpora:
            continue
        work = RESULTS / "eval" / variant / corpus.name
        if reuse and not work.exists():
            _copy_work(RESULTS / "eval" / reuse / corpus.name, work)
        started = time.monotonic()
        listener = _Timing()
        report = evaluation.evaluate(corpus.path(), settings, work, limit, 0, listener, rankings=rankings)
        seconds = time.monotonic() - started
        naive = naive_ranks(work / "code", report.queries, model)
        index_bytes = sum(p.stat().st_size for p in (work / "cache").rglob("index-*.hnsw"))
        result["corpora"][corpus.name] = {
            "language": corpus.language,
            "version": f"{corpus.registry} {corpus.package} {corpus.version}",
            "queries": [q.__dict__ for q in report.queries],
            "ranks": {**report.ranks, "naive": naive},
            "index_seconds": listener.seconds,
            "embedded": listener.embedded,
            "chunks": listener.chunks,
            "index_bytes": index_bytes,
            "seconds": round(seconds, 1),
        }
        print(f"{corpus.name}: {len(report.queries)} queries, {listener.chunks} chunks, {seconds:.0f}s", file=sys.stderr)
        out.write_text(json.dumps(result))
    out.write_text(json.dumps(result))


def _copy_work(source: Path, work: Path) -> None:
    """A copy of another variant's work folder whose index cache answers for the new copy's path
    (the cache folder is named after the indexed folder)."""
    shutil.copytree(source, work)
    (cache,) = (work / "cache").iterdir()
    cache.rename(work / "cache" / workspace_id(work / "code"))


class _Timing(EngineListener):
    """Keeps the copy's index run report: its time, chunks and embedded count."""

    seconds = 0.0
    embedded = chunks = 0

    def run_finished(self, run, report, summary) -> None:
        if report is not None:
            self.seconds, self.embedded, self.chunks = report.seconds, report.embedded, report.chunks


def naive_ranks(copy: Path, queries: list, model: SentenceTransformerEmbedder) -> list[int | None]:
    """The rank of each query's function when every function's source text alone is embedded
    and searched by exact cosine (module and window chunks are not functions: left out)."""
    workspace = Workspace(copy)
    functions = []
    for file in workspace.files():
        source = workspace.read(file)
        if not isinstance(source, SkipReason):
            functions.extend(c for c in chunk_source(file.rel, source, file.language) if c.kind not in (MODULE, WINDOW))
    vectors = _cached_embeddings([c.text for c in functions], model)
    keys = [(c.path, c.name, c.name_span.start_line) for c in functions]
    query_vectors = model.embed([q.text for q in queries])
    ranks = []
    for query, vector in zip(queries, query_vectors):
        order = np.argsort(-(vectors @ vector))[:TOP]
        target = (query.path, query.name, query.line)
        ranks.append(next((rank for rank, i in enumerate(order, start=1) if keys[i] == target), None))
    return ranks


def _cached_embeddings(texts: list[str], model: SentenceTransformerEmbedder) -> np.ndarray:
    digest = hashlib.blake2b("\0".join(texts).encode(), digest_size=12).hexdigest()
    path = RESULTS / "naive" / f"{digest}.npy"
    if path.exists():
        return np.load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    vectors = model.embed(texts)
    np.save(path, vectors)
    return vectors


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{cpu}, {os.cpu_count()} cores, no GPU, load {os.getloadavg()[0]:.1f}"


# reporting ----------------------------------------------------------------------------------
def reciprocal(rank: int | None) -> float:
    """1/rank within the top TOP, else 0."""
    return 1.0 / rank if rank is not None and rank <= TOP else 0.0


def paired(a: list[int | None], b: list[int | None], seed: int = 0) -> tuple[float, float, float, int, int]:
    """Mean RR@10 of `a` minus `b` over the same queries, its 95% bootstrap interval, and how
    many queries `a` answers better and worse."""
    diffs = np.array([reciprocal(x) - reciprocal(y) for x, y in zip(a, b)])
    rng = random.Random(seed)
    means = sorted(float(np.mean([diffs[rng.randrange(len(diffs))] for _ in diffs])) for _ in range(BOOTSTRAP))
    return float(diffs.mean()), means[int(0.025 * BOOTSTRAP)], means[int(0.975 * BOOTSTRAP)], int((diffs > 0).sum()), int((diffs < 0).sum())


def report(path: Path, base_path: Path | None) -> None:
    """Print MRR@10 per corpus and language for every ranking, and the default against naive
    (or against the default of BASE) paired per query."""
    data = json.loads(path.read_text())
    base = json.loads(base_path.read_text()) if base_path else None
    print(f"{path.name}: variant {data['variant']}, {data['date']}, {data['machine']}\n")
    rankings = list(next(iter(data["corpora"].values()))["ranks"])
    print(f"{'corpus':14} {'lang':10} {'n':>4} " + " ".join(f"{r:>8}" for r in rankings))
    groups: dict[str, dict[str, list]] = {}
    for name, corpus in data["corpora"].items():
        n = len(corpus["queries"])
        cells = " ".join(f"{np.mean([reciprocal(r) for r in corpus['ranks'][k]]):8.3f}" for k in rankings)
        print(f"{name:14} {corpus['language']:10} {n:4} {cells}")
        group = groups.setdefault(LANGUAGE_OF.get(corpus["language"], corpus["language"]), {k: [] for k in rankings})
        for k in rankings:
            group[k].extend(corpus["ranks"][k])
        if base:
            group.setdefault("base", []).extend(base["corpora"][name]["ranks"][evaluation.DEFAULT_RANKING])
    print()
    against = "base" if base else "naive"
    print(f"per language, {evaluation.DEFAULT_RANKING} - {against}, paired per query (95% bootstrap interval):")
    gains = []
    for language, group in sorted(groups.items()):
        mean, low, high, wins, losses = paired(group[evaluation.DEFAULT_RANKING], group[against])
        gains.append(mean)
        scores = "  ".join(f"{k} {np.mean([reciprocal(r) for r in group[k]]):.3f}" for k in rankings)
        print(f"  {language:8} n={len(group['naive']):4}  {scores}")
        print(f"  {'':8} {mean:+.3f} [{low:+.3f}, {high:+.3f}]  better {wins}, worse {losses}")
    print(f"\nmean over languages of the gain: {np.mean(gains):+.3f}")
    pooled = {k: [r for g in groups.values() for r in g[k]] for k in (evaluation.DEFAULT_RANKING, against)}
    mean, low, high, wins, losses = paired(pooled[evaluation.DEFAULT_RANKING], pooled[against])
    print(f"pooled over all {len(pooled[against])} queries: {evaluation.DEFAULT_RANKING} "
          f"{np.mean([reciprocal(r) for r in pooled[evaluation.DEFAULT_RANKING]]):.3f}, {against} "
          f"{np.mean([reciprocal(r) for r in pooled[against]]):.3f}: {mean:+.3f} [{low:+.3f}, {high:+.3f}]")
    seconds = sum(c["index_seconds"] for c in data["corpora"].values())
    size = sum(c["index_bytes"] for c in data["corpora"].values())
    chunks = sum(c["chunks"] for c in data["corpora"].values())
    print(f"cold index of the copies: {chunks} chunks in {seconds:.0f}s, vector index {size / 1e6:.1f} MB")


def main() -> None:
    """Command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch")
    run_parser = commands.add_parser("run")
    run_parser.add_argument("--out", type=Path, required=True)
    run_parser.add_argument("--variant", default="default", help="names the work folder (index recipe)")
    run_parser.add_argument("--limit", type=int, default=evaluation.DEFAULT_LIMIT)
    run_parser.add_argument("--corpus", action="append", default=[], help="only these corpora")
    run_parser.add_argument("--reuse", help="start from the work folders of this variant")
    run_parser.add_argument("--fusion", action="append", default=[], choices=sorted(FUSION_TRIALS))
    run_parser.add_argument("--embed", choices=sorted(EMBED_TRIALS))
    run_parser.add_argument("--backend", default="torch", choices=("torch", "onnx", "onnx-int8"),
                            help="the model's backend for ragls' rankings (naive is always torch)")
    report_parser = commands.add_parser("report")
    report_parser.add_argument("result", type=Path)
    report_parser.add_argument("base", type=Path, nargs="?")
    args = parser.parse_args()
    if args.command == "fetch":
        fetch()
    elif args.command == "run":
        run(args.out, args.variant, args.limit, args.corpus, args.reuse, args.fusion, args.embed, args.backend)
    else:
        report(args.result, args.base)


if __name__ == "__main__":
    main()
