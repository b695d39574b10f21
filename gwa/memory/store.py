"""Long-term memory (layer 2): chromadb for records and vectors, a networkx link graph beside it.

This module is the store's face (`LongTermMemory`); its rooms are `records` (the data),
`chroma` (the only chromadb importer), `links` (the graph and its log), `writes` (the write
path), `retrieval` (hybrid search) and `upkeep` (reinforcement, pruning, export/import).

A store is a directory::

    gwa-store.json   marker: format, version, embedder, dimension (checked at open)
    chroma/          chromadb PersistentClient data (collections <name> and <name>_archive)
    links.jsonl      append-only log of link-graph edits (replayed into a networkx graph at open)
    index-<collection>.npz  the open index: record cache, BM25 index and names as of the last close
                     (deleted before the first write after open; see `snapshot`)
    vectors-<collection>-<token>.usearch  the vector index's graph, named by the open index

or, with ``url`` set, a Chroma server reached through ``HttpClient`` (the marker and link log then
live in the local ``path``). Every write is acknowledged only after chromadb returned and the link
log was flushed and fsynced, so a killed process loses nothing it acknowledged; at open the graph
is reconciled with the records (edges to records that are gone are dropped).

Retrieval is hybrid: the dense top-P from the store's vector index (`vectors`: an in-process
HNSW graph of the active collection's vectors; chromadb itself behind a server) and the BM25
top-P from an in-process lexical index are pooled, standardised (z-scores) and summed, nudged by
retention, trust and recency, expanded by one hop of the link graph, and gated by cosine
distance. The measurements behind the defaults are in docs/memory.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from gwa.memory import retrieval, snapshot, upkeep, writes
from gwa.memory.chroma import Collections
from gwa.memory.embeddings import Embedder, MiniLMEmbedder, Vectors
from gwa.memory.lexical import BM25Index
from gwa.memory.links import LinkGraph
from gwa.memory.records import (
    FORMAT,
    LINK_LOG,
    LINK_TYPES,
    MARKER,
    VERSION,
    AddResult,
    Hit,
    LinkType,
    MemoryConfig,
    MemoryRecord,
    NewMemory,
    Status,
    StoreError,
    contradicts,
    retention,
    word_overlap,
)
from gwa.memory.vectors import EXPANSION_SEARCH, VectorIndex

__all__ = [
    "LINK_LOG",
    "LINK_TYPES",
    "MARKER",
    "AddResult",
    "Hit",
    "LinkType",
    "LongTermMemory",
    "MemoryConfig",
    "MemoryRecord",
    "NewMemory",
    "Status",
    "StoreError",
    "contradicts",
    "retention",
    "word_overlap",
]


class LongTermMemory:
    """Layer 2: a persistent, shared store of memories. Thread-safe; one writer at a time."""

    def __init__(
        self,
        path: str | Path | None,
        *,
        url: str | None = None,
        collection: str = "gwa_memory",
        embedder: Embedder | None = None,
        config: MemoryConfig | None = None,
        clock: Callable[[], float] = time.time,
        create: bool = True,
    ) -> None:
        self.config = config or MemoryConfig()
        self.embedder = embedder or MiniLMEmbedder.shared()
        self.clock = clock
        self.name = collection
        self.path = Path(path).resolve() if path is not None else None
        self.lock = threading.RLock()
        if self.path is not None:
            self._check_dir(self.path, create=create)
        self.collections = Collections(self.path, url, collection, self.embedder)
        self.links = LinkGraph(self.path / LINK_LOG if self.path is not None else None)
        self.lexical = BM25Index()
        self.lex_ids: list[str] = []
        """Record ids by their row in the lexical index."""
        self.lex_pos: dict[str, int] = {}
        """Record id → its row in the lexical index (also the insertion order)."""
        self.dead: set[int] = set()
        """Lexical rows of records that left the active collection."""
        self.touched: dict[str, int] = {}
        """Recalls not yet written back (record id → times recalled)."""
        self.cache = snapshot.RecordCache()
        """The active collection's records (this process writes through it; reads never wait
        on chromadb for metadata)."""
        self._index_current = True
        """No write since open: an open-index file there still describes the store."""
        self._unchecked: int | None = None
        """Opened from an open index not yet compared with the collections: its archive count."""
        self.others_wrote = False
        """Another store object of this process wrote to the same store while this one was
        open (set by `snapshot.writing`): this one's cache does not hold those writes."""
        self._load()
        snapshot.opened(self)

    # -- opening -----------------------------------------------------------------------------

    def _check_dir(self, path: Path, *, create: bool) -> None:
        marker = path / MARKER
        expected = {"format": FORMAT, "version": VERSION, "dim": self.embedder.dim}
        name = getattr(self.embedder, "name", "")
        if marker.exists():
            self._check_marker(path, marker, name)
            return
        if not path.exists():
            if not create:
                raise StoreError(
                    f"no memory store at {path}; run a scenario with memory enabled, "
                    "`gwa memory import`, or pass --store"
                )
        elif any(path.iterdir()):
            raise StoreError(
                f"{path} is not empty and is not a GWA memory store (no {MARKER}); "
                "choose an empty or new directory"
            )
        elif not create:
            raise StoreError(f"{path} is an empty directory, not a memory store")
        path.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({**expected, "embedder": name}) + "\n")
        os.replace(tmp, marker)

    def _check_marker(self, path: Path, marker: Path, name: str) -> None:
        """An existing store must be this format and version, and match the embedder."""
        try:
            found = json.loads(marker.read_text(encoding="utf-8"))
        except ValueError as e:
            raise StoreError(
                f"{marker} is corrupt ({e}); restore it from a backup or an export"
            ) from e
        if not isinstance(found, dict) or found.get("format") != FORMAT:
            raise StoreError(f"{marker} does not describe a GWA memory store")
        if found.get("version") != VERSION:
            raise StoreError(
                f"{path} is store format version {found.get('version')}; this GWA reads "
                f"version {VERSION}. Export it with the GWA that wrote it and import it here"
            )
        if found.get("dim") != self.embedder.dim:
            raise StoreError(
                f"{path} holds {found.get('dim')}-dimensional vectors but the embedder makes "
                f"{self.embedder.dim}; open it with the embedder it was built with"
            )
        if found.get("embedder") not in (None, name):
            raise StoreError(
                f"{path} was built with embeddings {found.get('embedder')!r}, not {name!r}; "
                "vectors from different models cannot be compared: use the same "
                "memory.embeddings or export and re-import into a new store"
            )

    def _load(self, *, from_index: bool = True) -> None:
        saved = snapshot.read(self) if from_index else None
        if saved is not None:
            self._unchecked = len(saved.archived)
            self.collections.vectors = saved.vectors
            self.lexical, self.lex_ids = saved.lexical, saved.ids
            self.lex_pos = dict(zip(saved.ids, range(len(saved.ids)), strict=True))
            self.cache.load(self.lex_pos, saved.rows)
            archived = set(saved.archived) - self.lex_pos.keys()  # a crash mid-move: in both
            self.links.reconcile(ChainMap[str, int](self.lex_pos, dict.fromkeys(archived, -1)))
            self._issued = len(self.lex_pos) + len(archived)
            return
        self._unchecked = None
        ids = set()
        for rec in self.collections.indexed():
            ids.add(rec.id)
            self.index(rec)
        ids.update(Collections.ids(self.collections.archive))
        self.links.reconcile(ids)
        self._issued = len(ids)

    def _rebuild(self) -> None:
        """Read every record again from chromadb (the open index did not describe it)."""
        self.lexical, self.lex_ids, self.lex_pos, self.dead = BM25Index(), [], {}, set()
        self.cache = snapshot.RecordCache()
        self.collections.vectors = VectorIndex(self.embedder.dim)
        self._load(from_index=False)

    def will_write(self) -> None:
        """Called before any write to the collections: the open-index file, if any, stops
        describing the store and is deleted (it is written again at `close`)."""
        with self.lock:
            snapshot.writing(self)
            if self._unchecked is not None:
                archived, self._unchecked = self._unchecked, None
                if not snapshot.check(self, archived):
                    self._rebuild()
            if self._index_current:
                self._index_current = False
                where = snapshot.path_of(self)
                if where is not None:
                    snapshot.discard(where)
                    vectors = self.collections.vectors  # its graph file, while it maps it
                    snapshot.sweep(self, keep=None if vectors is None else vectors.file)

    def new_id(self, text: str) -> str:
        """A fresh record id. Deterministic (a hash of the store's record count and the text),
        so a replayed run recalls memories under the same ids as the run it replays."""
        with self.lock:
            while True:
                self._issued += 1
                mid = "m-" + hashlib.sha256(f"{self._issued}:{text}".encode()).hexdigest()[:12]
                if mid not in self.cache:
                    return mid

    def position(self) -> dict[str, Any]:
        """Where the store is now: the id series and the clock (what a checkpoint saves)."""
        return {"issued": self._issued, "at": self.clock()}

    def rewind(self, run: str, position: dict[str, Any]) -> list[str]:
        """Remove the memories ``run`` stored after ``position`` (a run resumed from a
        checkpoint stores them again, under the same ids); return their ids."""
        with self.lock:
            at = float(position["at"])
            gone = [r.id for r in self.cache.values() if r.run == run and r.created_at > at]
            if gone:
                self.will_write()
                self.collections.delete(gone)
                for mid in gone:
                    self.cache.pop(mid, None)
                    self.touched.pop(mid, None)
                self.links.drop(gone)
                self.lexical, self.lex_ids, self.lex_pos, self.dead = BM25Index(), [], {}, set()
                for rec in list(self.cache.values()):
                    self.index(rec)
            issued = position.get("issued")
            self._issued = self._issued - len(gone) if issued is None else int(issued)
            return gone

    def index(self, rec: MemoryRecord) -> None:
        """Keep an active record in the cache and the lexical index."""
        self.cache[rec.id] = rec
        if rec.id in self.lex_pos:
            return
        self.lex_pos[rec.id] = len(self.lex_ids)
        self.lex_ids.append(rec.id)
        self.lexical.add([rec.text])

    def unindex(self, id: str) -> None:
        """Forget a record that left the active collection."""
        self.cache.pop(id, None)
        pos = self.lex_pos.pop(id, None)
        if pos is not None:
            self.dead.add(pos)

    # -- writing -----------------------------------------------------------------------------

    def add(self, items: Sequence[NewMemory], *, vectors: Vectors | None = None) -> list[AddResult]:
        """Store memories: near-duplicates reinforce, contradictions supersede, similar link.

        ``vectors`` (one unit row per item, from this store's embedder) skips embedding.
        """
        if not items:
            return []
        if vectors is not None and vectors.shape != (len(items), self.embedder.dim):
            raise ValueError(f"vectors must be ({len(items)}, {self.embedder.dim})")
        with self.lock:
            self.will_write()
            return writes.add_memories(self, items, vectors)

    def nearest(
        self, vecs: Vectors, *, breadth: int = EXPANSION_SEARCH
    ) -> list[tuple[str | None, float, MemoryRecord | None]]:
        """For each vector: the closest active-collection record (id, cosine, record), found
        keeping ``breadth`` candidates (gwa.memory.vectors)."""
        with self.lock:
            if not self.cache:
                return [(None, -1.0, None)] * len(vecs)
            return [
                (None, -1.0, None) if hit is None else (hit[0], hit[1], self.cache.get(hit[0]))
                for hit in self.collections.nearest(vecs, breadth=breadth)
            ]

    def link(self, src: str, dst: str, type: LinkType) -> None:
        """Add one link between existing memories."""
        if type not in LINK_TYPES:
            raise ValueError(f"unknown link type {type!r}; use one of {', '.join(LINK_TYPES)}")
        with self.lock:
            self.links.write([self.links.link(src, dst, type)])

    def update(self, records: Sequence[MemoryRecord]) -> None:
        """Write changed records' metadata back (trust, strength, status …)."""
        with self.lock:
            act = [r for r in records if r.status != "archived"]
            if act:
                self.will_write()
                self.collections.update(act)
                self.cache.update({r.id: r for r in act})

    # -- reading -----------------------------------------------------------------------------

    def get(self, id: str) -> MemoryRecord | None:
        """One record (active, superseded or archived) or None."""
        if id in self.cache:
            return self.cache[id]
        for col in (self.collections.active, self.collections.archive):
            found = Collections.get(col, [id])
            if found:
                return found[0][0]
        return None

    def count(self) -> int:
        """Records in the active collection (active and superseded)."""
        return len(self.cache)

    def records(self, *, archived: bool = False) -> Iterator[MemoryRecord]:
        """Every record of the active collection, or of the archive."""
        cols = self.collections
        return Collections.records(cols.archive if archived else cols.active)

    def search(
        self,
        queries: Sequence[str],
        k: int,
        *,
        touch: bool = False,
        query_vectors: Vectors | None = None,
    ) -> list[Hit]:
        """The ``k`` best memories for the queries (merged, best first); with ``touch`` each
        recall strengthens its memory (written at the next `flush`)."""
        if k <= 0 or not queries:
            return []
        vecs = self.embedder.embed(list(queries)) if query_vectors is None else query_vectors
        with self.lock:
            hits = retrieval.search(self, list(queries), vecs, k)
            if touch:
                for h in hits:
                    self.touched[h.record.id] = self.touched.get(h.record.id, 0) + 1
        return hits

    # -- upkeep ------------------------------------------------------------------------------

    def flush(self) -> int:
        """Write pending recall reinforcements (strength +1 per recall). Returns records written."""
        return upkeep.flush(self)

    def prune(self, threshold: float, *, dry_run: bool = False) -> list[MemoryRecord]:
        """Move records whose retention fell below ``threshold`` to the archive."""
        return upkeep.prune(self, threshold, dry_run=dry_run)

    def restore(self, ids: Sequence[str]) -> list[MemoryRecord]:
        """Bring archived records back (their strength reset to 1 and clock to now)."""
        return upkeep.restore(self, ids)

    def stats(self) -> dict[str, Any]:
        """Counts, sizes and link-graph figures."""
        return upkeep.stats(self)

    def export(self, out: Any) -> int:
        """Write every record (with its vector) and link as JSON lines. Returns lines written."""
        return upkeep.export(self, out)

    def import_(self, lines: Iterable[str], *, source: str = "<import>") -> dict[str, int]:
        """Load an export; records keep their ids, vectors and statistics (existing ids win)."""
        return upkeep.import_lines(self, lines, source=source)

    def close(self) -> None:
        """Write pending reinforcements, close the link log and save the open index."""
        with self.lock:
            self.flush()
            self.links.close()
            snapshot.closed(self)
            where = snapshot.path_of(self)
            if where is not None and not where.exists() and not self.others_wrote:
                snapshot.write(self)
