"""Upkeep of long-term memory: recall reinforcement, pruning to the archive and back,
statistics, and export / import as JSON lines. Each function holds the store's lock."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from gwa.memory.chroma import Collections, Item
from gwa.memory.records import FORMAT, LINK_TYPES, VERSION, MemoryRecord, StoreError, retention

if TYPE_CHECKING:
    from gwa.memory.store import LongTermMemory


def flush(store: LongTermMemory) -> int:
    """Write pending recall reinforcements (strength +1 per recall). Returns records written."""
    with store.lock:
        if not store.touched:
            return 0
        now = store.clock()
        recs = []
        for rec, _ in Collections.get(store.collections.active, list(store.touched)):
            n = store.touched[rec.id]
            recs.append(
                replace(
                    rec,
                    strength=rec.strength + n,
                    access_count=rec.access_count + n,
                    last_access=now,
                )
            )
        store.touched.clear()
        if recs:
            store.will_write()
            store.collections.update(recs)
            store.cache.update({r.id: r for r in recs})
        return len(recs)


def prune(store: LongTermMemory, threshold: float, *, dry_run: bool = False) -> list[MemoryRecord]:
    """Move records whose retention fell below ``threshold`` to the archive."""
    flush(store)
    cols = store.collections
    with store.lock:
        now = store.clock()
        gone: list[Item] = []
        for rec, vec in Collections.with_vectors(cols.active, embeddings=True):
            if retention(rec, now, store.config.half_life_s) < threshold and vec is not None:
                gone.append((replace(rec, status="archived"), vec))
        if not dry_run and gone:
            store.will_write()
            cols.to_archive(gone)
            for rec, _ in gone:
                store.unindex(rec.id)
        return [r for r, _ in gone]


def restore(store: LongTermMemory, ids: Sequence[str]) -> list[MemoryRecord]:
    """Bring archived records back (their strength reset to 1 and clock to now)."""
    cols = store.collections
    with store.lock:
        now = store.clock()
        back: list[Item] = [
            (replace(rec, status="active", strength=1.0, last_access=now), vec)
            for rec, vec in Collections.get(cols.archive, ids, embeddings=True)
        ]
        if back:
            store.will_write()
            cols.from_archive(back)
            for rec, _ in back:
                store.index(rec)
        return [r for r, _ in back]


def stats(store: LongTermMemory) -> dict[str, Any]:
    """Counts, sizes and link-graph figures."""
    flush(store)
    with store.lock:
        now = store.clock()
        by_status: dict[str, int] = {}
        by_kind: dict[str, int] = {}
        tokens = 0
        rets: list[float] = []
        for rec in Collections.records(store.collections.active):
            by_status[rec.status] = by_status.get(rec.status, 0) + 1
            by_kind[rec.kind] = by_kind.get(rec.kind, 0) + 1
            tokens += rec.tokens
            rets.append(retention(rec, now, store.config.half_life_s))
        edge_types: dict[str, int] = {}
        for _, _, t in store.links.edges():
            edge_types[t] = edge_types.get(t, 0) + 1
        return {
            "active": by_status.get("active", 0),
            "superseded": by_status.get("superseded", 0),
            "archived": int(store.collections.archive.count()),
            "by_kind": by_kind,
            "tokens": tokens,
            "retention_mean": round(float(np.mean(rets)), 4) if rets else None,
            "links": edge_types,
            "path": str(store.path) if store.path else None,
        }


def export(store: LongTermMemory, out: Any) -> int:
    """Write every record (with its vector) and link as JSON lines. Returns lines written."""
    flush(store)
    n = 0
    with store.lock:
        header = {"format": f"{FORMAT}-export", "version": VERSION, "dim": store.embedder.dim}
        out.write(json.dumps(header) + "\n")
        cols = store.collections
        for col in (cols.active, cols.archive):
            for rec, vec in Collections.with_vectors(col, embeddings=True):
                out.write(json.dumps({"record": rec.to_json(), "vector": vec}) + "\n")
                n += 1
        for src, dst, t in sorted(store.links.edges()):
            out.write(json.dumps({"link": [src, dst, t]}) + "\n")
            n += 1
    return n


class _Import:
    """One import: each line checked where it stands, named by its line number."""

    def __init__(self, store: LongTermMemory, source: str) -> None:
        self.store = store
        self.source = source
        self.counts = {"records": 0, "links": 0, "skipped": 0}
        self.header_seen = False
        self.active: list[Item] = []
        self.archived: list[Item] = []
        self.ops: list[dict[str, Any]] = []

    def line(self, n: int, line: str) -> None:
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise StoreError(f"{self.source}:{n}: not JSON ({e})") from e
        if not self.header_seen:
            self.header(obj)
        elif "record" in obj:
            self.record(n, obj)
        elif "link" in obj:
            src, dst, t = obj["link"]
            if t not in LINK_TYPES:
                raise StoreError(f"{self.source}:{n}: unknown link type {t!r}")
            self.ops.append(self.store.links.link(src, dst, t))
            self.counts["links"] += 1
        else:
            raise StoreError(f"{self.source}:{n}: neither a record nor a link")

    def header(self, obj: Any) -> None:
        dim = self.store.embedder.dim
        if not isinstance(obj, dict) or obj.get("format") != f"{FORMAT}-export":
            raise StoreError(f"{self.source}:1: not a GWA memory export (no header)")
        if obj.get("dim") != dim:
            raise StoreError(
                f"{self.source}:1: vectors are {obj.get('dim')}-dimensional, this store uses {dim}"
            )
        self.header_seen = True

    def record(self, n: int, obj: Any) -> None:
        try:
            data = dict(obj["record"])
            data["source_ids"] = tuple(data["source_ids"])
            rec = MemoryRecord(**data)
            vec = [float(x) for x in obj["vector"]]
        except (TypeError, KeyError, ValueError) as e:
            raise StoreError(f"{self.source}:{n}: malformed record ({e})") from e
        if len(vec) != self.store.embedder.dim:
            raise StoreError(f"{self.source}:{n}: vector has {len(vec)} values")
        if self.store.get(rec.id) is not None:
            self.counts["skipped"] += 1
            return
        (self.archived if rec.status == "archived" else self.active).append((rec, vec))
        self.counts["records"] += 1

    def commit(self) -> None:
        if not self.header_seen:
            raise StoreError(f"{self.source}: empty export")
        store, cols = self.store, self.store.collections
        store.will_write()
        cols.put_active(self.active)
        Collections.put(cols.archive, self.archived)
        for rec, _ in self.active:
            store.index(rec)
        existing = {*store.lex_pos, *Collections.ids(cols.archive)}
        store.links.write(
            [op for op in self.ops if op["src"] in existing and op["dst"] in existing]
        )


def import_lines(
    store: LongTermMemory, lines: Iterable[str], *, source: str = "<import>"
) -> dict[str, int]:
    """Load an export; records keep their ids, vectors and statistics (existing ids win)."""
    with store.lock:
        job = _Import(store, source)
        for n, line in enumerate(lines, 1):
            if line.strip():
                job.line(n, line)
        job.commit()
    return job.counts
