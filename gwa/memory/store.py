"""Long-term memory (layer 2): chromadb for records and vectors, a networkx link graph beside it.

A store is a directory::

    gwa-store.json   marker: format, version, embedder, dimension (checked at open)
    chroma/          chromadb PersistentClient data (collections <name> and <name>_archive)
    links.jsonl      append-only log of link-graph edits (replayed into a networkx graph at open)

or, with ``url`` set, a Chroma server reached through ``HttpClient`` (the marker and link log then
live in the local ``path``). Every write is acknowledged only after chromadb returned and the link
log was flushed and fsynced, so a killed process loses nothing it acknowledged; at open the graph
is reconciled with the records (edges to records that are gone are dropped).

Retrieval is hybrid: the dense top-P from chromadb and the BM25 top-P from an in-process lexical
index are pooled, standardised (z-scores) and summed, nudged by retention, trust and recency,
expanded by one hop of the link graph, and gated by cosine distance. The measurements behind the
defaults are in docs/memory.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

import networkx as nx
import numpy as np

from gwa.errors import ConfigError
from gwa.memory.embeddings import Embedder, MiniLMEmbedder, Vectors
from gwa.memory.lexical import BM25Index, terms, zscores

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

FORMAT = "gwa-memory"
VERSION = 1
MARKER = "gwa-store.json"
LINK_LOG = "links.jsonl"
LINK_TYPES = ("derived_from", "similar", "supersedes", "cites", "follows")
LinkType = Literal["derived_from", "similar", "supersedes", "cites", "follows"]
Status = Literal["active", "superseded", "archived"]
_NEGATION = re.compile(
    r"\b(not|no|never|none|nobody|nothing|cannot|can't|won't|isn't|aren't|"
    r"wasn't|weren't|don't|doesn't|didn't|false|wrong)\b",
    re.IGNORECASE,
)
_BATCH = 2000


class StoreError(ConfigError):
    """A memory store that is missing, corrupt, foreign, or cannot be reached."""


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """Tuning of a long-term store; defaults are the measured ones (docs/memory.md)."""

    pool: int = 50
    """P: candidates taken from each of the dense and the lexical index before re-ranking."""
    lexical_weight: float = 1.0
    hop_weight: float = 0.4
    """How much of a memory's score flows to its one-hop neighbours in the link graph."""
    max_distance: float = 0.85
    """Distance gate: dense candidates farther than this cosine distance are dropped."""
    retention_weight: float = 0.3
    trust_weight: float = 0.3
    recency_weight: float = 0.2
    duplicate_similarity: float = 0.95
    """At or above this cosine similarity a new memory reinforces the existing one."""
    duplicate_overlap: float = 0.5
    """… and when they share at least this share of their words (Jaccard): vectors alone would
    merge a short reply into the turn it answers when the context is embedded with it. The same
    overlap is required before a negated near-copy supersedes a memory."""
    similar_similarity: float = 0.75
    """At or above this, a new memory is linked 'similar' (and checked for contradiction)."""
    half_life_s: float = 7 * 24 * 3600.0
    """Retention halves over this time for a memory of strength 1; each recall adds 1."""
    recency_scale_s: float = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class NewMemory:
    """What a writer hands the store."""

    text: str
    run: str = ""
    agent: str = ""
    role: str = ""
    cycle: int = -1
    kind: str = "thought"
    source_ids: tuple[str, ...] = ()
    trust: float = 0.5
    context: str = ""
    """Text embedded together with ``text`` (e.g. the preceding turn) but not stored as it."""
    id: str | None = None
    links: tuple[tuple[LinkType, str], ...] = ()
    """Links from this memory to existing ones, e.g. ("follows", previous_id)."""
    supersedes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """A stored memory with its provenance, trust, strength and access statistics."""

    id: str
    text: str
    run: str
    agent: str
    role: str
    cycle: int
    kind: str
    created_at: float
    source_ids: tuple[str, ...]
    trust: float
    strength: float
    access_count: int
    last_access: float
    status: Status
    valid_until: float | None
    tokens: int

    def metadata(self) -> dict[str, str | int | float | bool]:
        """The record as chromadb metadata (scalars only)."""
        out: dict[str, str | int | float | bool] = {}
        for key, value in asdict(self).items():
            if key in ("id", "text"):
                continue
            if key == "source_ids":
                out[key] = json.dumps(list(value))
            elif key == "valid_until":
                out[key] = -1.0 if value is None else float(value)
            else:
                out[key] = value
        return out

    @classmethod
    def from_chroma(cls, id: str, text: str, meta: Mapping[str, Any]) -> MemoryRecord:
        """Rebuild a record from what chromadb returned."""
        valid = float(meta.get("valid_until", -1.0))
        return cls(
            id=id,
            text=text,
            run=str(meta.get("run", "")),
            agent=str(meta.get("agent", "")),
            role=str(meta.get("role", "")),
            cycle=int(meta.get("cycle", -1)),
            kind=str(meta.get("kind", "")),
            created_at=float(meta.get("created_at", 0.0)),
            source_ids=tuple(json.loads(str(meta.get("source_ids", "[]")))),
            trust=float(meta.get("trust", 0.5)),
            strength=float(meta.get("strength", 1.0)),
            access_count=int(meta.get("access_count", 0)),
            last_access=float(meta.get("last_access", 0.0)),
            status=cast(Status, str(meta.get("status", "active"))),
            valid_until=None if valid < 0 else valid,
            tokens=int(meta.get("tokens", 0)),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["source_ids"] = list(self.source_ids)
        return out


@dataclass(frozen=True, slots=True)
class AddResult:
    """What happened to one NewMemory."""

    id: str
    action: Literal["added", "reinforced"]
    superseded: tuple[str, ...] = ()
    similar: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved memory with how its score came about."""

    record: MemoryRecord
    score: float
    dense: float
    lexical: float
    retention: float
    via: str | None = None
    """For a memory reached through the link graph: the memory it was reached from."""
    parts: dict[str, float] = field(default_factory=dict)


def retention(record: MemoryRecord, now: float, half_life_s: float) -> float:
    """Ebbinghaus-style retention exp(-Δt / (S·h/ln 2)): strength S stretches the half-life h."""
    dt = max(0.0, now - record.last_access)
    return math.exp(-dt * math.log(2) / (max(record.strength, 1e-6) * half_life_s))


def word_overlap(a: str, b: str) -> float:
    """Jaccard overlap of the two texts' index terms (0 when either has none)."""
    ta, tb = set(terms(a)), set(terms(b))
    return len(ta & tb) / len(ta | tb) if ta and tb else 0.0


def contradicts(a: str, b: str) -> bool:
    """A cheap contradiction cue for similar texts: one is negated and the other is not."""
    return bool(_NEGATION.search(a)) != bool(_NEGATION.search(b))


def _client_settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


def embedding_function(embedder: Embedder) -> Any:
    """Wrap an embedder as a chromadb embedding function (registered, so configs round-trip)."""
    return _ef_class()(embedder)


_EF_CLASS: Any = None


def _ef_class() -> Any:
    global _EF_CLASS
    if _EF_CLASS is not None:
        return _EF_CLASS
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import register_embedding_function

    class GwaMiniLM(EmbeddingFunction[Documents]):
        """all-MiniLM-L6-v2 int8, offline, through GWA's verified loader."""

        def __init__(self, embedder: Embedder | None = None) -> None:
            self._embedder = embedder

        @property
        def embedder(self) -> Embedder:
            if self._embedder is None:
                self._embedder = MiniLMEmbedder.shared()
            return self._embedder

        def __call__(self, input: Documents) -> Embeddings:
            return list(self.embedder.embed(list(input)))

        @staticmethod
        def name() -> str:
            return "gwa-minilm-l6-v2-int8"

        def default_space(self) -> Any:
            return "cosine"

        def get_config(self) -> dict[str, Any]:
            return {"model": "all-MiniLM-L6-v2-int8", "dim": 384}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> GwaMiniLM:
            return GwaMiniLM()

    register_embedding_function(GwaMiniLM)  # type: ignore[no-untyped-call]
    _EF_CLASS = GwaMiniLM
    return GwaMiniLM


@dataclass(slots=True)
class _Plan:
    """One query's candidates on their way to hits."""

    dense: dict[str, float] = field(default_factory=dict)
    lexical: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    via: dict[str, str] = field(default_factory=dict)


class LinkGraph:
    """The link graph (networkx MultiDiGraph keyed by link type) and its append-only log."""

    def __init__(self, path: Path | None) -> None:
        self.graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
        self._adj: dict[str, set[str]] = {}
        self.path = path
        self._log: Any = None
        if path is not None:
            self._replay(path)
            self._log = path.open("a", encoding="utf-8")

    def _replay(self, path: Path) -> None:
        if not path.exists():
            return
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    op = json.loads(line)
                    self._apply(op)
                except (ValueError, KeyError, TypeError):
                    # A torn last line from a crash is expected; anything else is corruption.
                    if f.readline():
                        raise StoreError(
                            f"{path}:{n}: unreadable link-log line; restore the store from an "
                            "export or delete the file to rebuild links"
                        ) from None

    def _apply(self, op: Mapping[str, Any]) -> None:
        if op["op"] == "link":
            src, dst = op["src"], op["dst"]
            self.graph.add_edge(src, dst, key=op["type"])
            self._adj.setdefault(src, set()).add(dst)
            self._adj.setdefault(dst, set()).add(src)
        elif op["op"] == "unlink":
            self._drop([op["id"]])

    def _drop(self, nodes: Sequence[str]) -> None:
        for node in nodes:
            for other in self._adj.pop(node, ()):
                self._adj.get(other, set()).discard(node)
        self.graph.remove_nodes_from(nodes)

    def adjacent(self, node: str) -> set[str]:
        """Neighbours in either direction, any link type (the hot path of retrieval)."""
        return self._adj.get(node, set())

    def write(self, ops: Sequence[Mapping[str, Any]]) -> None:
        """Apply and durably log graph edits."""
        for op in ops:
            self._apply(op)
        if self._log is not None and ops:
            self._log.write("".join(json.dumps(op, separators=(",", ":")) + "\n" for op in ops))
            self._log.flush()
            os.fsync(self._log.fileno())

    def link(self, src: str, dst: str, type: LinkType) -> dict[str, Any]:
        """An edit adding an edge (apply it with write)."""
        return {"op": "link", "src": src, "dst": dst, "type": type}

    def edges(self) -> Iterator[tuple[str, str, str]]:
        """All (src, dst, type) edges."""
        for src, dst, key in self.graph.edges(keys=True):
            yield str(src), str(dst), str(key)

    def neighbours(self, node: str) -> list[tuple[str, str]]:
        """(neighbour, link type) in either direction."""
        if not self.graph.has_node(node):
            return []
        out = [(str(d), str(k)) for _, d, k in self.graph.out_edges(node, keys=True)]
        out += [(str(s), str(k)) for s, _, k in self.graph.in_edges(node, keys=True)]
        return out

    def reconcile(self, ids: set[str]) -> int:
        """Drop nodes that are not records; rewrite the log compactly. Returns nodes dropped."""
        gone = [str(n) for n in self.graph.nodes if n not in ids]
        self._drop(gone)
        if gone:
            self.compact()
        return len(gone)

    def compact(self) -> None:
        """Rewrite the log as the current edges (atomically)."""
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for src, dst, key in self.edges():
                f.write(json.dumps(self.link(src, dst, cast(LinkType, key))) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self._log is not None:
            self._log.close()
        os.replace(tmp, self.path)
        self._log = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        """Close the log."""
        if self._log is not None:
            self._log.close()
            self._log = None


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
        import chromadb

        self.config = config or MemoryConfig()
        self.embedder = embedder or MiniLMEmbedder.shared()
        self.clock = clock
        self.name = collection
        self.path = Path(path).resolve() if path is not None else None
        self._lock = threading.RLock()
        if self.path is not None:
            self._check_dir(self.path, create=create)
        try:
            if url is not None:
                self.client = chromadb.HttpClient(**_http_args(url), settings=_client_settings())
            elif self.path is not None:
                self.client = chromadb.PersistentClient(
                    path=str(self.path / "chroma"), settings=_client_settings()
                )
            else:
                self.client = chromadb.EphemeralClient(settings=_client_settings())
        except Exception as e:  # chromadb raises many kinds; name the store and the fix
            where = url or str(self.path)
            raise StoreError(
                f"cannot open the memory store at {where}: {e}. Check the path or URL; a store "
                "written by another chromadb version can be moved with `gwa memory export/import`"
            ) from e
        ef = embedding_function(self.embedder)
        try:
            self.active: Any = self.client.get_or_create_collection(
                collection, embedding_function=ef, configuration={"hnsw": {"space": "cosine"}}
            )
            self.archive: Any = self.client.get_or_create_collection(
                f"{collection}_archive",
                embedding_function=ef,
                configuration={"hnsw": {"space": "cosine"}},
            )
        except Exception as e:
            raise StoreError(f"cannot open collection {collection!r}: {e}") from e
        self.links = LinkGraph(self.path / LINK_LOG if self.path is not None else None)
        self.lexical = BM25Index()
        self._lex_ids: list[str] = []
        self._lex_pos: dict[str, int] = {}
        self._dead: set[int] = set()
        self._touched: dict[str, int] = {}
        self._cache: dict[str, MemoryRecord] = {}
        """The active collection's records (this process writes through it; reads never wait
        on chromadb for metadata)."""
        self._load()

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

    def _load(self) -> None:
        ids: set[str] = set()
        for rec in self._iter_records(self.active):
            ids.add(rec.id)
            self._index(rec)
        for rec in self._iter_records(self.archive):
            ids.add(rec.id)
        self.links.reconcile(ids)
        self._issued = len(ids)

    def new_id(self, text: str) -> str:
        """A fresh record id. Deterministic (a hash of the store's record count and the text),
        so a replayed run recalls memories under the same ids as the run it replays."""
        with self._lock:
            while True:
                self._issued += 1
                mid = "m-" + hashlib.sha256(f"{self._issued}:{text}".encode()).hexdigest()[:12]
                if mid not in self._cache:
                    return mid

    def _iter_records(self, col: Any, *, embeddings: bool = False) -> Iterator[MemoryRecord]:
        for rec, _ in self._iter_with_vectors(col, embeddings=embeddings):
            yield rec

    def _iter_with_vectors(
        self, col: Any, *, embeddings: bool
    ) -> Iterator[tuple[MemoryRecord, list[float] | None]]:
        offset = 0
        include = ["documents", "metadatas", *(["embeddings"] if embeddings else [])]
        while True:
            got = col.get(limit=_BATCH, offset=offset, include=include)
            ids = got["ids"]
            if not ids:
                return
            vecs = got.get("embeddings") if embeddings else None
            for i, id in enumerate(ids):
                rec = MemoryRecord.from_chroma(id, got["documents"][i], got["metadatas"][i])
                yield rec, (None if vecs is None else [float(x) for x in vecs[i]])
            offset += len(ids)

    def _index(self, rec: MemoryRecord) -> None:
        self._cache[rec.id] = rec
        if rec.id in self._lex_pos:
            return
        self._lex_pos[rec.id] = len(self._lex_ids)
        self._lex_ids.append(rec.id)
        self.lexical.add([rec.text])

    def _unindex(self, id: str) -> None:
        self._cache.pop(id, None)
        pos = self._lex_pos.pop(id, None)
        if pos is not None:
            self._dead.add(pos)

    # -- writing -----------------------------------------------------------------------------

    def add(self, items: Sequence[NewMemory], *, vectors: Vectors | None = None) -> list[AddResult]:
        """Store memories: near-duplicates reinforce, contradictions supersede, similar link.

        ``vectors`` (one unit row per item, from this store's embedder) skips embedding.
        """
        if not items:
            return []
        if vectors is not None and vectors.shape != (len(items), self.embedder.dim):
            raise ValueError(f"vectors must be ({len(items)}, {self.embedder.dim})")
        with self._lock:
            return self._add(items, vectors)

    def _add(  # noqa: C901 (one write, in order)
        self, items: Sequence[NewMemory], given: Vectors | None
    ) -> list[AddResult]:
        from gwa.memory.working import count_tokens

        now = self.clock()
        cfg = self.config
        if given is None:
            vecs = self.embedder.embed([f"{m.context} {m.text}".strip() for m in items])
        else:
            vecs = given
        nearest = self.nearest(vecs)
        results: list[AddResult] = []
        new_ids: list[str] = []
        new_docs: list[str] = []
        pending: dict[str, MemoryRecord] = {}
        new_rows: list[int] = []
        batch_sims = vecs @ vecs.T if len(items) > 1 else np.zeros((1, 1), dtype=np.float32)
        reinforce: dict[str, MemoryRecord] = {}
        superseded: dict[str, MemoryRecord] = {}
        ops: list[dict[str, Any]] = []
        alias: dict[str, str] = {}
        for i, item in enumerate(items):
            if not item.text.strip():
                raise ValueError(f"memory {i} has empty text")
            best_id, best_sim, best_rec = nearest[i]
            # Also compare with earlier items of this batch that were added.
            if new_rows:
                sims = batch_sims[i, new_rows]
                j = int(np.argmax(sims))
                if float(sims[j]) > best_sim:
                    best_id, best_sim, best_rec = new_ids[j], float(sims[j]), None
            best_text = best_rec.text if best_rec is not None else ""
            if best_rec is None and best_id in pending:
                best_text = pending[best_id].text
            overlap = word_overlap(item.text, best_text)
            if (
                best_id is not None
                and best_sim >= cfg.duplicate_similarity
                and overlap >= cfg.duplicate_overlap
            ):
                target = pending if best_id in pending else reinforce
                rec = pending.get(best_id) or reinforce.get(best_id) or best_rec
                if rec is not None:
                    target[best_id] = replace(
                        rec,
                        strength=rec.strength + 1.0,
                        access_count=rec.access_count + 1,
                        last_access=now,
                        source_ids=tuple(dict.fromkeys(rec.source_ids + item.source_ids)),
                    )
                if item.id:
                    alias[item.id] = best_id
                results.append(AddResult(best_id, "reinforced"))
                continue
            mid = item.id or self.new_id(item.text)
            old: list[str] = list(item.supersedes)
            similar: list[str] = []
            if best_id is not None and best_sim >= cfg.similar_similarity:
                if overlap >= cfg.duplicate_overlap and contradicts(item.text, best_text):
                    old.append(best_id)
                else:
                    similar.append(best_id)
            for sid in old:
                prev = superseded.get(sid) or self.get(sid)
                if prev is not None and prev.status == "active":
                    superseded[sid] = replace(prev, status="superseded", valid_until=now)
                ops.append(self.links.link(mid, sid, "supersedes"))
            ops += [self.links.link(mid, s, "similar") for s in similar]
            ops += [self.links.link(mid, s, "derived_from") for s in item.source_ids]
            ops += [self.links.link(mid, alias.get(dst, dst), t) for t, dst in item.links]
            rec = MemoryRecord(
                id=mid,
                text=item.text,
                run=item.run,
                agent=item.agent,
                role=item.role,
                cycle=item.cycle,
                kind=item.kind,
                created_at=now,
                source_ids=item.source_ids,
                trust=item.trust,
                strength=1.0,
                access_count=0,
                last_access=now,
                status="active",
                valid_until=None,
                tokens=count_tokens(item.text),
            )
            new_ids.append(mid)
            new_docs.append(item.text)
            pending[mid] = rec
            new_rows.append(i)
            results.append(AddResult(mid, "added", tuple(old), tuple(similar)))
        if new_ids:
            self.active.add(
                ids=new_ids,
                documents=new_docs,
                metadatas=[pending[i].metadata() for i in new_ids],
                embeddings=vecs[new_rows],
            )
            for mid in new_ids:
                self._index(pending[mid])
        changed = {**reinforce, **superseded}
        for sid in superseded:
            if sid in reinforce:
                changed[sid] = replace(reinforce[sid], status="superseded", valid_until=now)
        if changed:
            self.active.update(
                ids=list(changed), metadatas=[r.metadata() for r in changed.values()]
            )
            self._cache.update(changed)
        self.links.write(ops)
        return results

    def nearest(self, vecs: Vectors) -> list[tuple[str | None, float, MemoryRecord | None]]:
        """For each vector: the closest active-collection record (id, cosine, record)."""
        if not self._cache:
            return [(None, -1.0, None)] * len(vecs)
        got = self.active.query(query_embeddings=vecs, n_results=1, include=["distances"])
        out: list[tuple[str | None, float, MemoryRecord | None]] = []
        for q in range(len(vecs)):
            if not got["ids"][q]:
                out.append((None, -1.0, None))
                continue
            id = got["ids"][q][0]
            out.append((id, 1.0 - float(got["distances"][q][0]), self._cache.get(id)))
        return out

    def link(self, src: str, dst: str, type: LinkType) -> None:
        """Add one link between existing memories."""
        if type not in LINK_TYPES:
            raise ValueError(f"unknown link type {type!r}; use one of {', '.join(LINK_TYPES)}")
        with self._lock:
            self.links.write([self.links.link(src, dst, type)])

    def update(self, records: Sequence[MemoryRecord]) -> None:
        """Write changed records' metadata back (trust, strength, status …)."""
        with self._lock:
            act = [r for r in records if r.status != "archived"]
            if act:
                self.active.update(ids=[r.id for r in act], metadatas=[r.metadata() for r in act])
                self._cache.update({r.id: r for r in act})

    # -- reading -----------------------------------------------------------------------------

    def get(self, id: str) -> MemoryRecord | None:
        """One record (active, superseded or archived) or None."""
        if id in self._cache:
            return self._cache[id]
        for col in (self.active, self.archive):
            got = col.get(ids=[id], include=["documents", "metadatas"])
            if got["ids"]:
                return MemoryRecord.from_chroma(id, got["documents"][0], got["metadatas"][0])
        return None

    def count(self) -> int:
        """Records in the active collection (active and superseded)."""
        return len(self._cache)

    def records(self, *, archived: bool = False) -> Iterator[MemoryRecord]:
        """Every record of the active collection, or of the archive."""
        return self._iter_records(self.archive if archived else self.active)

    def search(
        self,
        queries: Sequence[str],
        k: int,
        *,
        touch: bool = False,
        query_vectors: Vectors | None = None,
    ) -> list[Hit]:
        """The ``k`` best memories for the queries (merged, best first)."""
        if k <= 0 or not queries:
            return []
        vecs = self.embedder.embed(list(queries)) if query_vectors is None else query_vectors
        with self._lock:
            hits = self._search(list(queries), vecs, k)
            if touch:
                for h in hits:
                    self._touched[h.record.id] = self._touched.get(h.record.id, 0) + 1
        return hits

    def _search(self, queries: list[str], vecs: Vectors, k: int) -> list[Hit]:
        n = len(self._cache)
        if n == 0:
            return []
        pool = min(n, max(self.config.pool, 4 * k))
        got = self.active.query(query_embeddings=vecs, n_results=pool, include=["distances"])
        plans = [
            self._candidates(query, got["ids"][q], got["distances"][q], pool)
            for q, query in enumerate(queries)
        ]
        recs = self._cache
        for plan in plans:
            self._fuse(plan, recs)
        best: dict[str, Hit] = {}
        for plan in plans:
            for hit in self._rerank(plan, recs):
                if hit.record.id not in best or hit.score > best[hit.record.id].score:
                    best[hit.record.id] = hit
        order = self._lex_pos
        return sorted(best.values(), key=lambda h: (-h.score, order.get(h.record.id, 0)))[:k]

    def _candidates(
        self, query: str, ids: Sequence[str], distances: Sequence[float], pool: int
    ) -> _Plan:
        """Dense candidates inside the distance gate and the lexical top-``pool``."""
        plan = _Plan()
        for id, dist in zip(ids, distances, strict=True):
            if float(dist) <= self.config.max_distance:
                plan.dense[id] = 1.0 - float(dist)
        lex = self.lexical.scores(query)
        if self._dead:
            lex[list(self._dead)] = 0.0
        for pos in np.argpartition(-lex, min(pool, len(lex)) - 1)[:pool]:
            if lex[pos] > 0:
                plan.lexical[self._lex_ids[int(pos)]] = float(lex[pos])
        return plan

    def _fuse(self, plan: _Plan, recs: Mapping[str, MemoryRecord]) -> None:
        """z-score fusion of dense and lexical scores, then one hop through the link graph.

        A lexical candidate outside the dense top-P is at most as similar as the last of them,
        so it is scored with that floor instead of fetching its vector.
        """
        cfg = self.config
        floor = min(plan.dense.values()) if plan.dense else 0.0
        for id in plan.lexical:
            if id not in plan.dense:
                plan.dense[id] = floor
        ids = [i for i in dict.fromkeys([*plan.dense, *plan.lexical]) if i in recs]
        zd = zscores([plan.dense.get(i, 0.0) for i in ids])
        zl = zscores([plan.lexical.get(i, 0.0) for i in ids])
        fused = {i: zd[j] + cfg.lexical_weight * zl[j] for j, i in enumerate(ids)}
        plan.scores = dict(fused)
        for i, f in fused.items():
            for nb in self.links.adjacent(i):
                if nb not in plan.scores:
                    plan.scores[nb] = 0.0
                    plan.via[nb] = i
                plan.scores[nb] += cfg.hop_weight * f

    def _rerank(self, plan: _Plan, recs: Mapping[str, MemoryRecord]) -> Iterator[Hit]:
        """Add retention, trust and recency to the fused score; only active records."""
        cfg = self.config
        now = self.clock()
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
            yield Hit(
                rec,
                round(total, 6),
                round(plan.dense.get(id, 0.0), 6),
                round(plan.lexical.get(id, 0.0), 6),
                round(ret, 6),
                plan.via.get(id),
            )

    # -- upkeep ------------------------------------------------------------------------------

    def flush(self) -> int:
        """Write pending recall reinforcements (strength +1 per recall). Returns records written."""
        with self._lock:
            if not self._touched:
                return 0
            now = self.clock()
            got = self.active.get(ids=list(self._touched), include=["documents", "metadatas"])
            recs = []
            for i, id in enumerate(got["ids"]):
                rec = MemoryRecord.from_chroma(id, got["documents"][i], got["metadatas"][i])
                n = self._touched[id]
                recs.append(
                    replace(
                        rec,
                        strength=rec.strength + n,
                        access_count=rec.access_count + n,
                        last_access=now,
                    )
                )
            self._touched.clear()
            if recs:
                self.active.update(ids=[r.id for r in recs], metadatas=[r.metadata() for r in recs])
                self._cache.update({r.id: r for r in recs})
            return len(recs)

    def prune(self, threshold: float, *, dry_run: bool = False) -> list[MemoryRecord]:
        """Move records whose retention fell below ``threshold`` to the archive."""
        self.flush()
        with self._lock:
            now = self.clock()
            gone: list[tuple[MemoryRecord, list[float]]] = []
            for rec, vec in self._iter_with_vectors(self.active, embeddings=True):
                if retention(rec, now, self.config.half_life_s) < threshold and vec is not None:
                    gone.append((replace(rec, status="archived"), vec))
            if not dry_run and gone:
                self._move(gone, self.archive, self.active)
                for rec, _ in gone:
                    self._unindex(rec.id)
            return [r for r, _ in gone]

    def restore(self, ids: Sequence[str]) -> list[MemoryRecord]:
        """Bring archived records back (their strength reset to 1 and clock to now)."""
        with self._lock:
            got = self.archive.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
            now = self.clock()
            back: list[tuple[MemoryRecord, list[float]]] = []
            for i, id in enumerate(got["ids"]):
                rec = MemoryRecord.from_chroma(id, got["documents"][i], got["metadatas"][i])
                back.append(
                    (
                        replace(rec, status="active", strength=1.0, last_access=now),
                        [float(x) for x in got["embeddings"][i]],
                    )
                )
            if back:
                self._move(back, self.active, self.archive)
                for rec, _ in back:
                    self._index(rec)
            return [r for r, _ in back]

    def _move(self, items: Sequence[tuple[MemoryRecord, list[float]]], to: Any, frm: Any) -> None:
        for start in range(0, len(items), _BATCH):
            chunk = items[start : start + _BATCH]
            # Add first, then delete: a crash in between leaves a copy, never a loss.
            to.upsert(
                ids=[r.id for r, _ in chunk],
                documents=[r.text for r, _ in chunk],
                metadatas=[r.metadata() for r, _ in chunk],
                embeddings=[v for _, v in chunk],
            )
            frm.delete(ids=[r.id for r, _ in chunk])

    def stats(self) -> dict[str, Any]:
        """Counts, sizes and link-graph figures."""
        self.flush()
        with self._lock:
            now = self.clock()
            by_status: dict[str, int] = {}
            by_kind: dict[str, int] = {}
            tokens = 0
            rets: list[float] = []
            for rec in self._iter_records(self.active):
                by_status[rec.status] = by_status.get(rec.status, 0) + 1
                by_kind[rec.kind] = by_kind.get(rec.kind, 0) + 1
                tokens += rec.tokens
                rets.append(retention(rec, now, self.config.half_life_s))
            edge_types: dict[str, int] = {}
            for _, _, t in self.links.edges():
                edge_types[t] = edge_types.get(t, 0) + 1
            return {
                "active": by_status.get("active", 0),
                "superseded": by_status.get("superseded", 0),
                "archived": int(self.archive.count()),
                "by_kind": by_kind,
                "tokens": tokens,
                "retention_mean": round(float(np.mean(rets)), 4) if rets else None,
                "links": edge_types,
                "path": str(self.path) if self.path else None,
            }

    # -- export / import ---------------------------------------------------------------------

    def export(self, out: Any) -> int:
        """Write every record (with its vector) and link as JSON lines. Returns lines written."""
        self.flush()
        n = 0
        with self._lock:
            header = {"format": f"{FORMAT}-export", "version": VERSION, "dim": self.embedder.dim}
            out.write(json.dumps(header) + "\n")
            for col in (self.active, self.archive):
                for rec, vec in self._iter_with_vectors(col, embeddings=True):
                    out.write(json.dumps({"record": rec.to_json(), "vector": vec}) + "\n")
                    n += 1
            for src, dst, t in sorted(self.links.edges()):
                out.write(json.dumps({"link": [src, dst, t]}) + "\n")
                n += 1
        return n

    def import_(  # noqa: C901 (validates each line kind in place, with its line number)
        self, lines: Iterable[str], *, source: str = "<import>"
    ) -> dict[str, int]:
        """Load an export; records keep their ids, vectors and statistics (existing ids win)."""
        counts = {"records": 0, "links": 0, "skipped": 0}
        with self._lock:
            header_seen = False
            batch: dict[str, list[tuple[MemoryRecord, list[float]]]] = {"a": [], "r": []}
            ops: list[dict[str, Any]] = []
            for n, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    raise StoreError(f"{source}:{n}: not JSON ({e})") from e
                if not header_seen:
                    if obj.get("format") != f"{FORMAT}-export":
                        raise StoreError(f"{source}:1: not a GWA memory export (no header)")
                    if obj.get("dim") != self.embedder.dim:
                        raise StoreError(
                            f"{source}:1: vectors are {obj.get('dim')}-dimensional, this store "
                            f"uses {self.embedder.dim}"
                        )
                    header_seen = True
                    continue
                if "record" in obj:
                    try:
                        data = dict(obj["record"])
                        data["source_ids"] = tuple(data["source_ids"])
                        rec = MemoryRecord(**data)
                        vec = [float(x) for x in obj["vector"]]
                    except (TypeError, KeyError, ValueError) as e:
                        raise StoreError(f"{source}:{n}: malformed record ({e})") from e
                    if len(vec) != self.embedder.dim:
                        raise StoreError(f"{source}:{n}: vector has {len(vec)} values")
                    if self.get(rec.id) is not None:
                        counts["skipped"] += 1
                        continue
                    batch["r" if rec.status == "archived" else "a"].append((rec, vec))
                    counts["records"] += 1
                elif "link" in obj:
                    src, dst, t = obj["link"]
                    if t not in LINK_TYPES:
                        raise StoreError(f"{source}:{n}: unknown link type {t!r}")
                    ops.append(self.links.link(src, dst, t))
                    counts["links"] += 1
                else:
                    raise StoreError(f"{source}:{n}: neither a record nor a link")
            if not header_seen:
                raise StoreError(f"{source}: empty export")
            for key, col in (("a", self.active), ("r", self.archive)):
                items = batch[key]
                for start in range(0, len(items), _BATCH):
                    chunk = items[start : start + _BATCH]
                    col.add(
                        ids=[r.id for r, _ in chunk],
                        documents=[r.text for r, _ in chunk],
                        metadatas=[r.metadata() for r, _ in chunk],
                        embeddings=[v for _, v in chunk],
                    )
                if key == "a":
                    for rec, _ in items:
                        self._index(rec)
            existing = {*self._lex_pos, *(r.id for r in self._iter_records(self.archive))}
            self.links.write([op for op in ops if op["src"] in existing and op["dst"] in existing])
        return counts

    def close(self) -> None:
        """Write pending reinforcements and close the link log."""
        self.flush()
        self.links.close()


def _http_args(url: str) -> dict[str, Any]:
    from urllib.parse import urlparse

    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise StoreError(f"memory url {url!r} must look like http://HOST:PORT")
    return {"host": u.hostname, "port": u.port or 8000, "ssl": u.scheme == "https"}
