"""Build an HNSW graph from exact k-NN computed with torch (on a GPU, or the CPU) and write it as a
file that stock hnswlib 0.8 loads.

hnswlib inserts vectors one at a time, each insertion a graph search; on millions of vectors that
is the slow part of indexing. Here the graph is built from exact nearest neighbours instead, which
is a handful of large matrix products, then pruned with HNSW's own neighbour-selection heuristic:

1. levels: each element gets hnswlib's random level, floor(-ln(U) / ln(M));
2. a random insertion order, and per level, over the elements that reach it: each element's
   ef_construction most similar elements among those inserted before it, exactly
   (`exact_knn(order=...)`) - the candidates hnswlib's insertion search approximates; M of them
   chosen with HNSW's heuristic (`select_neighbors`); the reverse of every link added, and lists
   that overflow pruned with the heuristic again (`connect_reverse`), to at most 2M links on
   level 0 and M above, as hnswlib does;
3. every element made reachable from the entry point on every level (`repair_reachability`);
4. the result written in hnswlib's binary format (`write_hnswlib_index`), which hnswlib loads,
   searches, grows and deletes from like an index it built itself.

Taking candidates only from earlier elements matters: early elements then link far, as in
hnswlib, and the graph stays navigable on clustered data. A plain k-NN graph pruned the same way
(`build_graph(insertion_order=False)`) lost much recall on near-duplicate clusters (real vectors
tiled with noise): at ef 64, recall@10 0.96 / 0.87 (code / natural-language queries) against
hnswlib's 0.995 / 0.98, where insertion order gives 0.996 / 0.98.

The file format itself (reading, writing, checking) is ragls.core.hnsw_file.

torch is imported inside the functions that need it, as in ragls.core.embedding.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragls.core.hnsw_file import SPACES, unit_rows, write_hnswlib_index

if TYPE_CHECKING:
    import torch

    from ragls.core.vector_index import IndexMeta, VectorIndex

# Provisional: below this many vectors hnswlib's own insertion on the CPU is fast enough that
# moving the build to a GPU is not worth it. To be measured with bench/gpu_graph.py on an H100.
GPU_BUILD_MIN_ELEMENTS = 50_000

DEFAULT_LEVEL_SEED = 100  # hnswlib's default random_seed
_MAX_REPAIR_ROUNDS = 8


class GpuUnavailable(RuntimeError):
    """A CUDA build was asked for, but torch sees no usable CUDA device."""


# ---------------------------------------------------------------------------- devices


def resolve_device(device: str) -> str:
    """'auto' becomes 'cuda' when torch sees a GPU and 'cpu' otherwise; a CUDA device that is
    asked for but missing raises GpuUnavailable."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only"
            raise GpuUnavailable(
                f"device {device!r} was asked for, but torch {torch.__version__} ({build} build) "
                "sees no CUDA device; use device='cpu' or 'auto'"
            )
        return device
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:n]', got {device!r}")


def should_build_on_gpu(n: int, device: str = "auto") -> bool:
    """True when a build of `n` vectors should use `build_index_file` on a GPU rather than
    hnswlib's insertion: a GPU is asked for or available, and n >= GPU_BUILD_MIN_ELEMENTS
    (a provisional threshold until measured on a GPU)."""
    if device == "cpu" or n < GPU_BUILD_MIN_ELEMENTS:
        return False
    if device == "cuda" or device.startswith("cuda:"):
        return True
    import torch

    return torch.cuda.is_available()


def _compute_dtype(device: str, precision: str | None) -> torch.dtype:
    """The matmul input type: fp16 on CUDA (tensor cores, fp32 accumulation), fp32 elsewhere."""
    import torch

    if precision is None:
        precision = "fp16" if device.startswith("cuda") else "fp32"
    types = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if precision not in types:
        raise ValueError(f"precision must be one of {sorted(types)}, got {precision!r}")
    return types[precision]


class _FullPrecisionReductions:
    """Keep cuBLAS from reducing fp16/bf16 products in reduced precision (split-K), so that
    half-precision inputs are accumulated in fp32."""

    def __enter__(self) -> None:
        import torch

        self._matmul = torch.backends.cuda.matmul
        self._saved = (
            self._matmul.allow_fp16_reduced_precision_reduction,
            self._matmul.allow_bf16_reduced_precision_reduction,
        )
        self._matmul.allow_fp16_reduced_precision_reduction = False
        self._matmul.allow_bf16_reduced_precision_reduction = False

    def __exit__(self, *exc: object) -> None:
        (
            self._matmul.allow_fp16_reduced_precision_reduction,
            self._matmul.allow_bf16_reduced_precision_reduction,
        ) = self._saved


# ---------------------------------------------------------------------------- exact k-NN


def exact_knn(
    vectors: np.ndarray,
    k: int,
    device: str = "cpu",
    tile: int | None = None,
    key_tile: int | None = None,
    precision: str | None = None,
    normalize: bool = True,
    order: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k most similar other rows by cosine similarity (inner product when
    `normalize` is False), best first: (ids int64, similarities float32), both (n, min(k, n-1)).

    With an insertion `order` (a permutation of the rows), a row's neighbours are taken only
    from the rows inserted before it, which is what hnswlib can link a row to when it inserts
    it; missing neighbours are id -1 with similarity -inf.

    Queries are taken `tile` rows at a time and compared with `key_tile` rows at a time, keeping
    a running top-k, so memory stays bounded (1M x 384 fits a GPU). On the CPU products are fp32.
    On CUDA they are fp16 with fp32 accumulation; the top k + margin candidates are then rescored
    in fp32, so the similarities returned are exact and only near-ties at rank k can differ
    from a full fp32 search.
    """
    import torch

    device = resolve_device(device)
    matrix = unit_rows(vectors) if normalize else np.asarray(vectors, dtype=np.float32)
    n = len(matrix)
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32)
    if order is not None:
        matrix = matrix[order]
    dtype = _compute_dtype(device, precision)
    on_cuda = device.startswith("cuda")
    tile = tile or (8192 if on_cuda else 1024)
    key_tile = key_tile or (131072 if on_cuda else 16384)
    margin = 0 if dtype == torch.float32 else max(8, k // 4)
    exact = torch.from_numpy(matrix).to(device)
    keys = exact.to(dtype)
    ids = np.empty((n, k), np.int64)
    sims = np.empty((n, k), np.float32)
    causal = order is not None
    with torch.inference_mode(), _FullPrecisionReductions():
        for start in range(0, n, tile):
            stop = min(start + tile, n)
            found = _tile_top_k(keys, start, stop, min(k + margin, n - 1), key_tile, causal)
            if margin:
                found = _rescore(exact, start, stop, found, k)
            ids[start:stop] = found[1].cpu().numpy()
            sims[start:stop] = found[0].float().cpu().numpy()
    if causal:
        return _unpermute(ids, sims, np.asarray(order))
    return ids, sims


def _unpermute(
    ids: np.ndarray, sims: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Results computed on rows vectors[order] as results on the original rows."""
    original_ids = np.where(ids >= 0, order[ids.clip(min=0)], -1)
    out_ids = np.empty_like(ids)
    out_sims = np.empty_like(sims)
    out_ids[order] = original_ids
    out_sims[order] = sims
    return out_ids, out_sims


def _tile_top_k(
    keys: torch.Tensor, start: int, stop: int, k: int, key_tile: int, causal: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(similarities, ids) of the top k keys for query rows start..stop, best first, never the
    row itself; with `causal`, only keys before the row. Ids are -1 where there is no key."""
    import torch

    queries = keys[start:stop]
    query_ids = torch.arange(start, stop, device=keys.device)
    best_sims = torch.full((stop - start, 0), float("-inf"), device=keys.device, dtype=keys.dtype)
    best_ids = torch.full((stop - start, 0), -1, device=keys.device, dtype=torch.long)
    for key_start in range(0, stop if causal else len(keys), key_tile):
        key_stop = min(key_start + key_tile, stop if causal else len(keys))
        scores = queries @ keys[key_start:key_stop].T
        if key_stop > start:  # the tile holds some of the queries themselves
            key_ids = torch.arange(key_start, key_stop, device=keys.device)
            excluded = key_ids[None, :] >= query_ids[:, None] if causal else (
                key_ids[None, :] == query_ids[:, None]
            )
            scores.masked_fill_(excluded, float("-inf"))
        tile_sims, tile_ids = scores.topk(min(k, key_stop - key_start), dim=1)
        merged_sims = torch.cat([best_sims, tile_sims], dim=1)
        merged_ids = torch.cat([best_ids, tile_ids + key_start], dim=1)
        best_sims, picked = merged_sims.topk(min(k, merged_sims.shape[1]), dim=1)
        best_ids = merged_ids.gather(1, picked)
    missing = k - best_sims.shape[1]
    if missing:
        best_sims = torch.nn.functional.pad(best_sims, (0, missing), value=float("-inf"))
        best_ids = torch.nn.functional.pad(best_ids, (0, missing), value=-1)
    return best_sims, best_ids.masked_fill(torch.isinf(best_sims), -1)


def _rescore(
    exact: torch.Tensor, start: int, stop: int, found: tuple[torch.Tensor, torch.Tensor], k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Recompute reduced-precision candidates' similarities in fp32 and keep the top k."""
    import torch

    candidate_ids = found[1]
    candidates = exact[candidate_ids.clamp(min=0)]  # (rows, candidates, dim)
    scores = torch.einsum("rd,rcd->rc", exact[start:stop], candidates)
    scores.masked_fill_(candidate_ids < 0, float("-inf"))
    top_sims, order = scores.topk(k, dim=1)
    return top_sims, candidate_ids.gather(1, order)


# ---------------------------------------------------------------------------- neighbour selection


def select_neighbors(
    vectors: np.ndarray,
    candidate_ids: np.ndarray,
    candidate_sims: np.ndarray,
    max_links: int,
    device: str = "cpu",
    keep_pruned: bool = False,
    batch: int | None = None,
    precision: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """HNSW's neighbour-selection heuristic, batched: from each row's candidates (ids with
    similarity to the row, best first, -1 for none) keep a candidate only when it is more similar
    to the row than to every candidate kept before it, until `max_links` are kept.

    This is hnswlib's getNeighborsByHeuristic2, which never keeps pruned candidates. With
    `keep_pruned` the free slots are then filled with the most similar pruned candidates
    (nmslib's keepPrunedConnections). Returns (ids, similarities), (n, max_links), ids -1 and
    similarities -inf where a slot is free. `vectors` must be those the similarities came from
    (unit rows for cosine).
    """
    import torch

    device = resolve_device(device)
    dtype = _compute_dtype(device, precision)
    n = len(candidate_ids)
    # At 200 candidates of dim 384: about 0.5 GB of temporaries on the CPU, 2 GB on CUDA.
    batch = batch or (8192 if device.startswith("cuda") else 1024)
    data = torch.from_numpy(np.asarray(vectors, dtype=np.float32)).to(device=device, dtype=dtype)
    out_ids = np.full((n, max_links), -1, np.int64)
    out_sims = np.full((n, max_links), -np.inf, np.float32)
    with torch.inference_mode(), _FullPrecisionReductions():
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            ids = torch.from_numpy(np.ascontiguousarray(candidate_ids[start:stop])).to(device)
            sims = torch.from_numpy(np.ascontiguousarray(candidate_sims[start:stop])).to(device)
            kept_ids, kept_sims = _select_batch(data, ids, sims, max_links, keep_pruned)
            out_ids[start:stop] = kept_ids.cpu().numpy()
            out_sims[start:stop] = kept_sims.float().cpu().numpy()
    return out_ids, out_sims


def _select_batch(
    data: torch.Tensor, ids: torch.Tensor, sims: torch.Tensor, max_links: int, keep_pruned: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The heuristic for one batch of rows; see `select_neighbors`.

    All candidate-to-candidate similarities come from one batched product (compute-bound, where
    comparing with each newly kept candidate in turn would re-read the candidates every step).
    Each step then jumps to the next candidate that no kept one shadows - the candidates skipped
    on the way are exactly those the heuristic prunes - so there are at most `max_links` steps.
    """
    import torch

    rows, width = ids.shape
    valid = ids >= 0
    gathered = data[ids.clamp(min=0)]  # (rows, candidates, dim)
    pair_sims = torch.bmm(gathered, gathered.transpose(1, 2))
    del gathered
    base_sims = sims.float()
    positions = torch.arange(width, device=ids.device)
    row_index = torch.arange(rows, device=ids.device)
    closest_kept = torch.full((rows, width), float("-inf"), device=ids.device)
    last_kept = torch.full((rows,), -1, dtype=torch.long, device=ids.device)
    kept = torch.zeros_like(valid)
    for _ in range(max_links):
        # Shadowed: some kept candidate is more similar to it than the row itself is.
        eligible = valid & (closest_kept <= base_sims) & (positions > last_kept[:, None])
        found = eligible.any(dim=1)
        if not bool(found.any()):
            break
        chosen = eligible.to(torch.uint8).argmax(dim=1)  # the first eligible candidate
        kept[row_index[found], chosen[found]] = True
        to_chosen = pair_sims[row_index, chosen]
        closest_kept = torch.where(
            found[:, None], torch.maximum(closest_kept, to_chosen.float()), closest_kept
        )
        last_kept = torch.where(found, chosen, width)
    kept_count = kept.sum(dim=1)
    slots = torch.where(kept, kept.long().cumsum(dim=1) - 1, max_links)
    if keep_pruned:
        pruned = valid & ~kept
        fill = kept_count[:, None] + pruned.long().cumsum(dim=1) - 1
        slots = torch.where(pruned, fill, slots)
    return _scatter_slots(ids, base_sims, slots, max_links)


def _scatter_slots(
    ids: torch.Tensor, sims: torch.Tensor, slots: torch.Tensor, max_links: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Place ids[r, j] at out[r, slots[r, j]]; slots >= max_links are dropped."""
    import torch

    rows = torch.arange(len(ids), device=ids.device)[:, None].expand_as(ids)
    chosen = slots < max_links
    out_ids = torch.full((len(ids), max_links), -1, dtype=torch.long, device=ids.device)
    out_sims = torch.full((len(ids), max_links), float("-inf"), device=ids.device)
    out_ids[rows[chosen], slots[chosen]] = ids[chosen]
    out_sims[rows[chosen], slots[chosen]] = sims[chosen]
    return out_ids, out_sims


def connect_reverse(
    vectors: np.ndarray,
    link_ids: np.ndarray,
    link_sims: np.ndarray,
    max_links: int,
    device: str = "cpu",
    keep_pruned: bool = False,
    max_candidates: int | None = None,
    precision: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Add the reverse of every link (u -> v gives v -> u), as hnswlib does when it inserts u.

    A row whose forward and reverse links fit in `max_links` keeps them all (hnswlib appends
    while there is room). A row that overflows is pruned with the heuristic over its
    `max_candidates` most similar links (default 2 * max_links), as hnswlib re-prunes a full
    neighbour list. Returns (ids, similarities), (n, max_links), best first.
    """
    max_candidates = max(max_links, max_candidates or 2 * max_links)
    candidates, candidate_sims, degree = _linked_both_ways(
        link_ids, link_sims, max_candidates, resolve_device(device)
    )
    out_ids = candidates[:, :max_links].copy()
    out_sims = candidate_sims[:, :max_links].copy()
    overflowing = np.flatnonzero(degree > max_links)
    if len(overflowing):
        pruned_ids, pruned_sims = select_neighbors(
            vectors, candidates[overflowing], candidate_sims[overflowing], max_links,
            device=device, keep_pruned=keep_pruned, precision=precision,
        )
        out_ids[overflowing], out_sims[overflowing] = pruned_ids, pruned_sims
    return out_ids, out_sims


def _linked_both_ways(
    link_ids: np.ndarray, link_sims: np.ndarray, width: int, device: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's links and reverse links, once each and most similar first, as (ids,
    similarities) (n, width) padded with -1 / -inf, and each row's full count of them.

    Sorted on `device`: at a million rows there are tens of millions of edges.
    """
    import torch

    n, links = link_ids.shape
    ids = torch.from_numpy(np.ascontiguousarray(link_ids)).to(device).reshape(-1)
    sims = torch.from_numpy(np.ascontiguousarray(link_sims)).to(device).reshape(-1)
    rows = torch.arange(n, device=device).repeat_interleave(links)
    valid = ids >= 0
    sources = torch.cat([rows[valid], ids[valid]])
    targets = torch.cat([ids[valid], rows[valid]])
    sims = torch.cat([sims[valid], sims[valid]])
    pair_keys, order = torch.sort(sources * n + targets)
    first = torch.ones_like(pair_keys, dtype=torch.bool)
    first[1:] = pair_keys[1:] != pair_keys[:-1]  # a link present both ways appears twice
    order = order[first]
    order = order[torch.sort(-sims[order], stable=True).indices]
    order = order[torch.sort(sources[order], stable=True).indices]
    sources, targets, sims = sources[order], targets[order], sims[order]
    degree = torch.bincount(sources, minlength=n)
    rank = torch.arange(len(sources), device=device) - (torch.cumsum(degree, 0) - degree)[sources]
    kept = rank < width
    out_ids = torch.full((n, width), -1, dtype=torch.long, device=device)
    out_sims = torch.full((n, width), float("-inf"), device=device)
    out_ids[sources[kept], rank[kept]] = targets[kept]
    out_sims[sources[kept], rank[kept]] = sims[kept]
    return out_ids.cpu().numpy(), out_sims.cpu().numpy(), degree.cpu().numpy()


def repair_reachability(
    vectors: np.ndarray,
    link_ids: np.ndarray,
    link_sims: np.ndarray,
    entry_point: int,
    candidate_ids: np.ndarray,
) -> int:
    """Make every row reachable from `entry_point` by following links, editing the lists in
    place; returns the number of links added.

    An unreached row gets a link from its most similar reached candidate (from its k-NN list,
    else from a scan of all reached rows), preferring one with a free slot; a full list gives
    up its least similar link. Rows are taken most-similar-to-the-reached-part first, so one
    link usually brings in a whole cut-off cluster.
    """
    n = len(link_ids)
    if n == 0:
        return 0
    reached = np.zeros(n, bool)
    _mark_reachable(link_ids, np.array([entry_point]), reached)
    added = 0
    for _ in range(_MAX_REPAIR_ROUNDS):
        unreached = np.flatnonzero(~reached)
        if not len(unreached):
            break
        for row in _most_connected_first(unreached, candidate_ids, reached):
            if reached[row]:
                continue
            source, similarity = _best_reached_source(
                row, vectors, candidate_ids, link_ids, reached
            )
            _add_link(link_ids, link_sims, source, row, similarity)
            added += 1
            _mark_reachable(link_ids, np.array([row]), reached)
        # A replaced link may have cut something else off: check again from scratch.
        reached[:] = False
        _mark_reachable(link_ids, np.array([entry_point]), reached)
    return added


def _mark_reachable(link_ids: np.ndarray, start: np.ndarray, reached: np.ndarray) -> None:
    """Breadth-first from `start`, marking rows reached (rows already marked are not expanded)."""
    frontier = start[~reached[start]]
    reached[frontier] = True
    while len(frontier):
        neighbours = link_ids[frontier].ravel()
        neighbours = neighbours[neighbours >= 0]
        frontier = np.unique(neighbours[~reached[neighbours]])
        reached[frontier] = True


def _most_connected_first(
    unreached: np.ndarray, candidate_ids: np.ndarray, reached: np.ndarray
) -> np.ndarray:
    """Unreached rows ordered by the rank of their best reached k-NN candidate."""
    candidates = candidate_ids[unreached]
    hits = (candidates >= 0) & reached[candidates.clip(min=0)]
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1), candidates.shape[1])
    return unreached[np.argsort(first_hit, kind="stable")]


def _best_reached_source(
    row: int,
    vectors: np.ndarray,
    candidate_ids: np.ndarray,
    link_ids: np.ndarray,
    reached: np.ndarray,
) -> tuple[int, float]:
    """The reached row to link `row` from, and their similarity."""
    candidates = candidate_ids[row]
    candidates = candidates[(candidates >= 0) & reached[candidates.clip(min=0)]]
    if not len(candidates):
        pool = np.flatnonzero(reached)
        scores = vectors[pool] @ vectors[row]
        candidates = pool[np.argsort(-scores)[:64]]
    has_room = link_ids[candidates, -1] < 0
    source = int(candidates[has_room.argmax()] if has_room.any() else candidates[0])
    return source, float(vectors[source] @ vectors[row])


def _add_link(
    link_ids: np.ndarray, link_sims: np.ndarray, source: int, target: int, similarity: float
) -> None:
    """Link source -> target in a free slot, or in place of source's least similar link."""
    free = np.flatnonzero(link_ids[source] < 0)
    slot = int(free[0]) if len(free) else int(np.argmin(link_sims[source]))
    link_ids[source, slot] = target
    link_sims[source, slot] = similarity


# ---------------------------------------------------------------------------- levels and graph


def assign_levels(n: int, m: int, seed: int = DEFAULT_LEVEL_SEED) -> np.ndarray:
    """hnswlib's random levels: floor(-ln(U) * mult) with U uniform in (0, 1], mult = 1/ln(M)."""
    uniform = 1.0 - np.random.default_rng(seed).random(n)
    return np.floor(-np.log(uniform) / math.log(m)).astype(np.int64)


@dataclass
class Graph:
    """An HNSW graph over rows 0..n-1.

    links0: (n, <= 2M) neighbour ids on level 0, -1 for a free slot.
    upper_links[l - 1]: (members, <= M) neighbour ids on level l, one row per element whose
        level is >= l, in ascending element order.
    """

    links0: np.ndarray
    upper_links: list[np.ndarray]
    levels: np.ndarray
    entry_point: int
    repaired_links: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def build_graph(
    vectors: np.ndarray,
    m: int = 32,
    device: str = "cpu",
    candidates: int = 200,
    seed: int = DEFAULT_LEVEL_SEED,
    keep_pruned: bool = False,
    precision: str | None = None,
    normalize: bool = True,
    insertion_order: bool = True,
) -> Graph:
    """An HNSW graph for `vectors` with hnswlib's limits (2M links on level 0, M above), built
    on `device` from each element's `candidates` most similar elements (hnswlib's
    ef_construction) among those before it in a random insertion order, or among all elements
    when `insertion_order` is False (a k-NN graph: faster to prune, less navigable).

    Each element picks M neighbours with the heuristic (filling free slots with pruned
    candidates when `keep_pruned`); reverse links are then added and overflowing lists pruned
    with the heuristic (see the module docstring).
    """
    device = resolve_device(device)
    data = unit_rows(vectors) if normalize else np.asarray(vectors, dtype=np.float32)
    levels = assign_levels(len(data), m, seed)
    seconds: dict[str, float] = {}
    if len(data) == 0:
        return Graph(np.zeros((0, 2 * m), np.int64), [], levels, -1, 0, seconds)
    ranks = np.random.default_rng(seed + 1).permutation(len(data)) if insertion_order else None
    top = int(levels.max())
    on_top = np.flatnonzero(levels == top)
    entry_point = int(on_top[np.argmin(ranks[on_top])] if ranks is not None else on_top[0])
    options = dict(device=device, candidates=candidates, keep_pruned=keep_pruned,
                   precision=precision, ranks=ranks, seconds=seconds)
    members = np.arange(len(data))
    links0, repaired = _build_level(data, members, entry_point, m, 2 * m, "level0", **options)
    upper_links = []
    for level in range(1, top + 1):
        members = np.flatnonzero(levels >= level)
        links, fixed = _build_level(data, members, entry_point, m, m, f"level{level}", **options)
        upper_links.append(links)
        repaired += fixed
    return Graph(links0, upper_links, levels, entry_point, repaired, seconds)


def _build_level(
    data: np.ndarray,
    members: np.ndarray,
    entry_point: int,
    m: int,
    max_links: int,
    name: str,
    device: str,
    candidates: int,
    keep_pruned: bool,
    precision: str | None,
    ranks: np.ndarray | None,
    seconds: dict[str, float],
) -> tuple[np.ndarray, int]:
    """Link lists (global ids, -1 free) for one level's members, and the links repair added."""
    if len(members) < 2:
        return np.full((len(members), max_links), -1, np.int64), 0
    subset = data[members]
    clock = _Stopwatch(seconds, name)
    order = np.argsort(ranks[members]) if ranks is not None else None
    knn_ids, knn_sims = exact_knn(
        subset, candidates, device, precision=precision, normalize=False, order=order
    )
    clock.lap("knn")
    forward = select_neighbors(
        subset, knn_ids, knn_sims, m, device, keep_pruned, precision=precision
    )
    clock.lap("select")
    link_ids, link_sims = connect_reverse(subset, *forward, max_links, device, precision=precision)
    clock.lap("reverse")
    local_entry = int(np.searchsorted(members, entry_point))
    repaired = repair_reachability(subset, link_ids, link_sims, local_entry, knn_ids)
    clock.lap("repair")
    return np.where(link_ids >= 0, members[link_ids.clip(min=0)], -1), repaired


class _Stopwatch:
    """Adds the seconds between laps to `seconds[prefix + '_' + stage]`."""

    def __init__(self, seconds: dict[str, float], prefix: str) -> None:
        self._seconds = seconds
        self._prefix = prefix
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        key = f"{self._prefix}_{stage}"
        self._seconds[key] = self._seconds.get(key, 0.0) + now - self._last
        self._last = now


# ---------------------------------------------------------------------------- building


def build_index_file(
    path: Path,
    vectors: np.ndarray,
    labels: np.ndarray,
    m: int = 32,
    ef_construction: int = 200,
    device: str = "auto",
    space: str = "cosine",
    keep_pruned: bool = False,
    seed: int = DEFAULT_LEVEL_SEED,
) -> dict[str, Any]:
    """Build an HNSW graph for `vectors` on `device` and write it to `path` as an hnswlib file.

    As in hnswlib, each element chooses its links among its `ef_construction` most similar
    predecessors (found exactly here, see `build_graph`); the file stores it for hnswlib's later
    insertions. Returns
    {"device", "n", "max_level", "repaired_links", "seconds": {stage: s, ..., "total": s}}.
    Raises GpuUnavailable when device='cuda' and torch sees no GPU.
    """
    started = time.perf_counter()
    device = resolve_device(device)
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    matrix = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    _check_build_input(matrix, labels, m)
    data = unit_rows(matrix) if space == "cosine" else matrix
    graph = build_graph(data, m, device, ef_construction, seed, keep_pruned, normalize=False)
    write_started = time.perf_counter()
    write_hnswlib_index(
        path, data, labels, graph.links0, graph.upper_links, graph.levels, graph.entry_point,
        m, ef_construction, space="ip",  # data is already as the space stores it
    )
    seconds = dict(graph.seconds)
    seconds["write"] = time.perf_counter() - write_started
    seconds["total"] = time.perf_counter() - started
    return {
        "device": device, "n": len(data), "max_level": int(graph.levels.max(initial=-1)),
        "repaired_links": graph.repaired_links, "seconds": seconds,
    }


def _check_build_input(matrix: np.ndarray, labels: np.ndarray, m: int) -> None:
    """Reject input before the expensive part rather than when the file is written."""
    if matrix.ndim != 2 or labels.shape != (len(matrix),):
        raise ValueError(f"expected (n, dim) vectors, n labels; got {matrix.shape}, {labels.shape}")
    if m < 2:
        raise ValueError(f"M must be at least 2, got {m}")
    if len(labels) and labels.min() < 0:
        raise ValueError("labels must be non-negative")
    if len(np.unique(labels)) != len(labels):
        raise ValueError("labels must be unique")
    if not np.isfinite(matrix).all():
        raise ValueError("vectors must be finite")


def build_vector_index(
    directory: Path,
    meta: IndexMeta,
    labels: np.ndarray,
    vectors: np.ndarray,
    m: int | None = None,
    ef_construction: int | None = None,
    ef_search: int | None = None,
    device: str = "auto",
) -> tuple[VectorIndex, dict[str, Any]]:
    """Build an index of `vectors` with `build_index_file` and save it in `directory` as
    `VectorIndex.save` does, so `VectorIndex.load(directory, meta)` opens it.

    Returns the open index and the build report. Parameters default to VectorIndex's.
    """
    import tempfile

    from ragls.core import vector_index

    m = m or vector_index.DEFAULT_M
    ef_construction = ef_construction or vector_index.DEFAULT_EF_CONSTRUCTION
    ef_search = ef_search or vector_index.DEFAULT_EF_SEARCH
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=directory, prefix="gpu-build-", suffix=".partial")
    built = Path(name)
    try:
        with open(handle, "wb"):
            pass
        report = build_index_file(built, vectors, labels, m, ef_construction, device, meta.space)
        started = time.perf_counter()
        index = vector_index.VectorIndex.from_hnsw_file(built, meta, ef_search=ef_search)
        index.save(directory)
        report["seconds"]["adopt"] = time.perf_counter() - started
    finally:
        built.unlink(missing_ok=True)
    return index, report
