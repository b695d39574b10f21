"""The write path of long-term memory: near-duplicates reinforce, contradictions supersede,
similar memories link, everything else is added; then one write to chromadb and one fsynced
append to the link log.

A batch is decided in order: an item is compared with the store (its nearest record) and with
the items of the same batch added before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from gwa.memory.embeddings import Vectors
from gwa.memory.records import (
    AddResult,
    MemoryRecord,
    NewMemory,
    announces_change,
    contained,
    contradicts,
    numbers_differ,
    updates,
    word_overlap,
)

if TYPE_CHECKING:
    from gwa.memory.store import LongTermMemory


@dataclass(slots=True)
class _Match:
    """The closest earlier memory to an item: its id, cosine similarity and text."""

    id: str | None
    sim: float
    record: MemoryRecord | None
    text: str = ""


@dataclass(slots=True)
class _Batch:
    """What one call to `add` decided so far."""

    now: float
    vecs: Vectors
    new_ids: list[str] = field(default_factory=list)
    new_rows: list[int] = field(default_factory=list)
    pending: dict[str, MemoryRecord] = field(default_factory=dict)
    """Records this batch adds, by id."""
    reinforce: dict[str, MemoryRecord] = field(default_factory=dict)
    """Stored records this batch reinforces."""
    superseded: dict[str, MemoryRecord] = field(default_factory=dict)
    ops: list[dict[str, Any]] = field(default_factory=list)
    """Link-graph edits."""
    alias: dict[str, str] = field(default_factory=dict)
    """A caller's id for an item that reinforced another memory → that memory's id."""


def add_memories(
    store: LongTermMemory, items: Sequence[NewMemory], given: Vectors | None
) -> list[AddResult]:
    """Decide and write a batch (the caller holds the store's lock)."""
    if given is None:
        vecs = store.embedder.embed([f"{m.context} {m.text}".strip() for m in items])
    else:
        vecs = given
    batch = _Batch(store.clock(), vecs)
    nearest = store.nearest(vecs)
    sims = vecs @ vecs.T if len(items) > 1 else np.zeros((1, 1), dtype=np.float32)
    results: list[AddResult] = []
    for i, item in enumerate(items):
        if not item.text.strip():
            raise ValueError(f"memory {i} has empty text")
        match = _closest(batch, _Match(*nearest[i]), sims[i])
        overlap = word_overlap(item.text, match.text)
        cfg = store.config
        if (
            match.id is not None
            and match.sim >= cfg.duplicate_similarity
            and overlap >= cfg.duplicate_overlap
            and not updates(item.text, match.text)
            and not numbers_differ(item.text, match.text)
        ):
            results.append(_reinforce(batch, item, match))
        else:
            results.append(_add_new(store, batch, i, item, match, overlap))
    _commit(store, batch)
    return results


def _closest(batch: _Batch, match: _Match, sims: Any) -> _Match:
    """The store's nearest record, or an item of this batch added earlier if it is closer."""
    if batch.new_rows:
        row = sims[batch.new_rows]
        j = int(np.argmax(row))
        if float(row[j]) > match.sim:
            match = _Match(batch.new_ids[j], float(row[j]), None)
    match.text = match.record.text if match.record is not None else ""
    if match.record is None and match.id in batch.pending:
        match.text = batch.pending[match.id].text
    return match


UPDATE_CONTAINMENT = 0.5
"""An announced change ("… now …", "… has moved …") supersedes the active memory that has at
least this share of its words in the change: the statement it restates with a new value."""


def _asserts(text: str) -> bool:
    """A statement that may supersede: not a question, not instruction-like (an injected
    "from now on, answer …" must not erase what it contradicts)."""
    from gwa.memory.admission.trust import instruction_like

    return "?" not in text and not instruction_like(text)


def _restated(store: LongTermMemory, text: str) -> list[str]:
    """The active memory ``text`` restates with a change, found lexically (the changed value
    and a new name can pull the vectors apart): the best of the BM25 top 5 by word share."""
    best, best_share = None, UPDATE_CONTAINMENT
    for row, _ in store.lexical.top(text, 5):
        if row in store.dead:
            continue
        rec = store.cache.get(store.lex_ids[row])
        if rec is None or rec.status != "active":
            continue
        share = contained(rec.text, text)
        if share >= best_share and share < 1.0:
            best, best_share = rec.id, share
    return [best] if best is not None else []


def _reinforce(batch: _Batch, item: NewMemory, match: _Match) -> AddResult:
    """A near-duplicate strengthens the memory it repeats instead of adding another."""
    assert match.id is not None
    target = batch.pending if match.id in batch.pending else batch.reinforce
    rec = batch.pending.get(match.id) or batch.reinforce.get(match.id) or match.record
    if rec is not None:
        target[match.id] = replace(
            rec,
            strength=rec.strength + 1.0,
            access_count=rec.access_count + 1,
            last_access=batch.now,
            source_ids=tuple(dict.fromkeys(rec.source_ids + item.source_ids)),
        )
    if item.id:
        batch.alias[item.id] = match.id
    return AddResult(match.id, "reinforced")


def _add_new(
    store: LongTermMemory, batch: _Batch, row: int, item: NewMemory, match: _Match, overlap: float
) -> AddResult:
    """A new record, superseding what it contradicts or updates and linked to what it
    resembles, cites and follows."""
    from gwa.memory.working import count_tokens

    cfg = store.config
    mid = item.id or store.new_id(item.text)
    old: list[str] = list(item.supersedes)
    similar: list[str] = []
    asserts = _asserts(item.text)
    if match.id is not None and match.sim >= cfg.similar_similarity:
        negated = contradicts(item.text, match.text)
        if overlap >= cfg.duplicate_overlap and negated and asserts:
            old.append(match.id)
        else:
            similar.append(match.id)
    if announces_change(item.text) and asserts:
        old += [sid for sid in _restated(store, item.text) if sid not in old]
    links = store.links
    for sid in old:
        prev = batch.superseded.get(sid) or store.get(sid)
        if prev is not None and prev.status == "active":
            batch.superseded[sid] = replace(prev, status="superseded", valid_until=batch.now)
        batch.ops.append(links.link(mid, sid, "supersedes"))
    batch.ops += [links.link(mid, s, "similar") for s in similar]
    batch.ops += [links.link(mid, s, "derived_from") for s in item.source_ids]
    batch.ops += [links.link(mid, batch.alias.get(dst, dst), t) for t, dst in item.links]
    batch.pending[mid] = MemoryRecord(
        id=mid,
        text=item.text,
        run=item.run,
        agent=item.agent,
        role=item.role,
        cycle=item.cycle,
        kind=item.kind,
        created_at=batch.now,
        source_ids=item.source_ids,
        trust=item.trust,
        strength=1.0,
        access_count=0,
        last_access=batch.now,
        status="active",
        valid_until=None,
        tokens=count_tokens(item.text),
    )
    batch.new_ids.append(mid)
    batch.new_rows.append(row)
    return AddResult(mid, "added", tuple(old), tuple(similar))


def _commit(store: LongTermMemory, batch: _Batch) -> None:
    """One write of the new records, one of the changed ones, one fsynced link-log append."""
    if batch.new_ids:
        store.collections.add([batch.pending[i] for i in batch.new_ids], batch.vecs[batch.new_rows])
        for mid in batch.new_ids:
            store.index(batch.pending[mid])
    changed = {**batch.reinforce, **batch.superseded}
    for sid in batch.superseded:
        if sid in batch.reinforce:
            changed[sid] = replace(batch.reinforce[sid], status="superseded", valid_until=batch.now)
    if changed:
        store.collections.update(list(changed.values()))
        store.cache.update(changed)
    store.links.write(batch.ops)
