"""Hybrid retrieval: the dense top-P from chromadb and the BM25 top-P from the in-process
lexical index are pooled, standardised (z-scores) and summed, the lexical best match lifted,
expanded by one hop of the link graph and one through the names the best matches mention,
lifted for memories by the one person a query names, gated by cosine distance, and re-ranked
by retention, trust and recency."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from gwa.memory.embeddings import Vectors
from gwa.memory.lexical import top_positions, zscores
from gwa.memory.names import names
from gwa.memory.records import Hit, MemoryRecord, retention

if TYPE_CHECKING:
    from gwa.memory.store import LongTermMemory


@dataclass(slots=True)
class Plan:
    """One query's candidates on their way to hits."""

    dense: dict[str, float] = field(default_factory=dict)
    lexical: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    via: dict[str, str] = field(default_factory=dict)


def search(store: LongTermMemory, queries: list[str], vecs: Vectors, k: int) -> list[Hit]:
    """The ``k`` best hits over all queries (each memory once, at its best score; ties in
    insertion order). The caller holds the store's lock."""
    n = len(store.cache)
    if n == 0:
        return []
    pool = min(n, max(store.config.pool, 4 * k))
    ids, distances = store.collections.query(vecs, pool)
    plans = [
        candidates(store, query, ids[q], distances[q], pool) for q, query in enumerate(queries)
    ]
    recs = store.cache
    now = store.clock()
    best: dict[str, tuple[float, float, Plan]] = {}
    for query, plan in zip(queries, plans, strict=True):
        fuse(store, plan, recs)
        asked = set(names(query))  # the names the query mentions, for both lifts
        bridge(store, plan, asked, pool)
        by_author(store, plan, asked, recs)
        for id, total, ret in totals(store, plan, recs, now):
            if id not in best or total > best[id][0]:
                best[id] = (total, ret, plan)
    order = store.lex_pos
    top = sorted(best.items(), key=lambda kv: (-kv[1][0], order.get(kv[0], 0)))[:k]
    return [hit(plan, recs[id], total, ret) for id, (total, ret, plan) in top]


def candidates(
    store: LongTermMemory, query: str, ids: Sequence[str], distances: Sequence[float], pool: int
) -> Plan:
    """Dense candidates inside the distance gate and the lexical top-``pool``."""
    plan = Plan()
    for id, dist in zip(ids, distances, strict=True):
        if float(dist) <= store.config.max_distance:
            plan.dense[id] = 1.0 - float(dist)
    lex = store.lexical.scores(query)
    if store.dead:
        lex[list(store.dead)] = 0.0
    for pos in top_positions(lex, pool):
        if lex[pos] > 0:
            plan.lexical[store.lex_ids[int(pos)]] = float(lex[pos])
    return plan


def fuse(store: LongTermMemory, plan: Plan, recs: Mapping[str, MemoryRecord]) -> None:
    """z-score fusion of dense and lexical scores, then one hop through the link graph.

    A lexical candidate outside the dense top-P is at most as similar as the last of them,
    so it is scored with that floor instead of fetching its vector.
    """
    cfg = store.config
    floor = min(plan.dense.values()) if plan.dense else 0.0
    for id in plan.lexical:
        if id not in plan.dense:
            plan.dense[id] = floor
    ids = [i for i in dict.fromkeys([*plan.dense, *plan.lexical]) if i in recs]
    zd = zscores([plan.dense.get(i, 0.0) for i in ids])
    zl = zscores([plan.lexical.get(i, 0.0) for i in ids])
    fused = {i: zd[j] + cfg.lexical_weight * zl[j] for j, i in enumerate(ids)}
    if plan.lexical and cfg.lexical_top_bonus:
        top = max(ids, key=lambda i: plan.lexical.get(i, 0.0))  # the first of equals
        fused[top] += cfg.lexical_top_bonus
    plan.scores = dict(fused)
    for i, f in fused.items():
        for nb in store.links.adjacent(i):
            if nb not in plan.scores:
                plan.scores[nb] = 0.0
                plan.via[nb] = i
            plan.scores[nb] += cfg.hop_weight * f


def bridge(store: LongTermMemory, plan: Plan, asked: set[str], room: int) -> None:
    """One hop through names: each of the best ``entity_seeds`` candidates passes
    ``entity_weight`` × its score × the name's rarity (log(N/df) / log N) to the other memories
    that mention a name it mentions and the query does not (``asked``: the query's names; the
    bridge a multi-hop question needs: "the director of X" → X's memory names her → her
    memories). A memory takes its best such lift. A name mentioned more than
    ``entity_fanout`` times lifts only candidates already in the plan, so a common name costs
    a lookup rather than a walk; of the memories not in the plan, the ``room`` most lifted
    join it (the rest could not reach the top)."""
    cfg = store.config
    index, n = store.lexical, len(store.lexical)
    if cfg.entity_weight <= 0 or n < 3 or not plan.scores:
        return
    pool = np.array([store.lex_pos.get(i, -1) for i in plan.scores], dtype=np.int64)
    pool_ids = list(plan.scores)
    best: dict[str, tuple[float, str]] = {}
    seeds = sorted(plan.scores.items(), key=lambda kv: -kv[1])[: cfg.entity_seeds]
    for seed, score in seeds:
        rec = store.cache.get(seed)
        if rec is None or score <= 0:
            continue
        for name in names(rec.text):
            rows = index.mentions(name)
            if name in asked or len(rows) < 2:
                continue
            lift = score * math.log(n / len(rows)) / math.log(n)
            for i in _mentioning(store, rows, pool, pool_ids):
                if i != seed and lift > best.get(i, (0.0, ""))[0]:
                    best[i] = (lift, seed)
    _lift(plan, best, room, cfg.entity_weight)


def _lift(plan: Plan, best: dict[str, tuple[float, str]], room: int, weight: float) -> None:
    """Add each memory's best name lift (id → lift, seed) to the plan; of those not in it yet,
    only the ``room`` most lifted join (reached through their seed)."""
    new = sorted((i for i in best if i not in plan.scores), key=lambda i: -best[i][0])
    for i in new[room:]:
        del best[i]
    for i, (lift, seed) in best.items():
        if i not in plan.scores:
            plan.scores[i] = 0.0
            plan.via[i] = seed
        plan.scores[i] += weight * lift


def _mentioning(
    store: LongTermMemory,
    rows: npt.NDArray[np.int32],
    pool: npt.NDArray[np.int64],
    pool_ids: list[str],
) -> list[str]:
    """The active memories at lexical ``rows`` (a name's postings); for a common name, only
    those among the plan's candidates (``pool``: their rows, ``pool_ids``: their ids)."""
    if len(rows) <= store.config.entity_fanout:
        out = [(store.lex_ids[r], r) for r in rows.tolist()]
        return [i for i, r in out if store.lex_pos.get(i) == r]
    at = np.minimum(np.searchsorted(rows, pool), len(rows) - 1)  # postings are sorted
    return [pool_ids[j] for j in np.flatnonzero(rows[at] == pool).tolist()]


def by_author(
    store: LongTermMemory, plan: Plan, asked: set[str], recs: Mapping[str, MemoryRecord]
) -> None:
    """When the query's names (``asked``) include the author of some candidates (a memory's
    ``agent``, its first word in any case), and one author only, those candidates gain
    ``author_weight`` × the best candidate's score, up to just below it: a question about a
    person is answered mostly by what that person said ("What does Melanie do to destress?"),
    less by what others said to her, and the best match keeps its lead in the fused score
    (retention, trust and recency are added after, as for every candidate). A query naming two
    authors ("What have Caroline and Melanie both painted?") lifts neither; no score is
    lowered."""
    weight = store.config.author_weight
    if weight <= 0 or not plan.scores or not asked:
        return
    matched: dict[str, list[str]] = {}
    for id in plan.scores:
        rec = recs.get(id)
        author = rec.agent.split(maxsplit=1)[0].lower() if rec is not None and rec.agent else ""
        if author in asked:
            matched.setdefault(author, []).append(id)
    if len(matched) != 1:
        return
    first = max(plan.scores, key=plan.scores.__getitem__)
    top = plan.scores[first]
    if top <= 0:
        return
    for id in next(iter(matched.values())):
        score = plan.scores[id]
        if id != first:
            plan.scores[id] = max(score, min(score + weight * top, top - 1e-3))


def totals(
    store: LongTermMemory, plan: Plan, recs: Mapping[str, MemoryRecord], now: float
) -> Iterator[tuple[str, float, float]]:
    """Each active candidate's id, score (the fused score plus retention, trust and recency)
    and retention."""
    cfg = store.config
    for id, s in plan.scores.items():
        rec = recs.get(id)
        if rec is None or rec.status != "active":
            continue
        # Rounded: seconds of clock drift must not reorder memories (replays stay exact).
        ret = round(retention(rec, now, cfg.half_life_s), 3)
        fresh = round(math.exp(-max(0.0, now - rec.created_at) / cfg.recency_scale_s), 2)
        total = (
            s
            + cfg.retention_weight * ret
            + cfg.trust_weight * (rec.trust - 0.5)
            + cfg.recency_weight * fresh
        )
        yield id, round(total, 6), ret


def hit(plan: Plan, rec: MemoryRecord, total: float, ret: float) -> Hit:
    """A chosen candidate as a hit, with the parts of its score (built for the top k only)."""
    return Hit(
        rec,
        total,
        round(plan.dense.get(rec.id, 0.0), 6),
        round(plan.lexical.get(rec.id, 0.0), 6),
        round(ret, 6),
        plan.via.get(rec.id),
    )
