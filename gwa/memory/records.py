"""The records of long-term memory: what a writer hands the store, what it keeps, what a
search returns, and the pure rules over them (retention, word overlap, contradiction)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

from gwa.errors import ConfigError
from gwa.memory.lexical import terms

FORMAT = "gwa-memory"
VERSION = 1
MARKER = "gwa-store.json"
LINK_LOG = "links.jsonl"
LINK_TYPES = ("derived_from", "similar", "supersedes", "cites", "follows")
LinkType = Literal["derived_from", "similar", "supersedes", "cites", "follows"]
Status = Literal["active", "superseded", "archived"]
_UPDATE = re.compile(
    r"\b(now|no longer|any ?more|changed?|moved|instead|from now on|correction|updated?|"
    r"replaced|renamed|switched|has become|is moving)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_NEGATION = re.compile(
    r"\b(not|no|never|none|nobody|nothing|cannot|can't|won't|isn't|aren't|"
    r"wasn't|weren't|don't|doesn't|didn't|false|wrong)\b",
    re.IGNORECASE,
)


class StoreError(ConfigError):
    """A memory store that is missing, corrupt, foreign, or cannot be reached."""


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """Tuning of a long-term store; defaults are the measured ones (docs/memory.md)."""

    pool: int = 50
    """P: candidates taken from each of the dense and the lexical index before re-ranking."""
    lexical_weight: float = 1.0
    lexical_top_bonus: float = 3.0
    """Added (in z-score units) to the fused score of the lexical index's best match: an
    exact match of a question's rare words is the surest first answer, which summing z-scores
    pushed down when its vector was only middling (rank 1 fell below BM25's)."""
    hop_weight: float = 0.2
    """How much of a memory's score flows to its one-hop neighbours in the link graph (0.4
    before: it lifted a best match's neighbours above it)."""
    entity_weight: float = 0.45
    """How much of a best match's score flows to the memories that mention a name it
    mentions (`gwa.memory.retrieval.bridge`; 0 turns the name hop off)."""
    entity_seeds: int = 5
    """The best candidates whose names are followed."""
    entity_fanout: int = 32
    """A name mentioned by more memories than this lifts only candidates already found."""
    author_weight: float = 0.25
    """When a query names the author (``agent``) of candidates, one author only, they gain this
    share of the best candidate's score, staying below it (`gwa.memory.retrieval.by_author`;
    0: off)."""
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


def announces_change(text: str) -> bool:
    """``text`` says that something changed ("now", "moved", "no longer", "from now on", …)."""
    return bool(_UPDATE.search(text))


def contained(old: str, new: str) -> float:
    """Share of ``old``'s index terms that ``new`` repeats (0 when ``old`` has none)."""
    to = set(terms(old))
    return len(to & set(terms(new))) / len(to) if to else 0.0


def updates(new: str, old: str) -> bool:
    """``new`` announces a change and ``old`` does not (so ``new`` is not ``old`` said again)."""
    return announces_change(new) and not announces_change(old)


def numbers_differ(a: str, b: str) -> bool:
    """Both texts state numbers and not the same ones ("room 4" / "room 52"): not one memory
    said twice, whatever their vectors say (nor, without a change announced, a correction:
    "host 3 events a month" and "host 4 …" may both stand)."""
    na, nb = set(_NUMBER.findall(a)), set(_NUMBER.findall(b))
    return bool(na and nb and na != nb)
