"""Working memory (layer 1): ordered, token-counted entries under a budget θ.

Over budget it bifurcates: the older entries are replaced by one summary entry that stays,
and the raw entries leave as admission candidates for long-term memory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from gwa.types import Memory, WorkingEntry, field_values

_TOKEN = re.compile(r"\w+|[^\w\s]")
_CONTENT = re.compile(r"[a-z0-9]{4,}")


def count_tokens(text: str) -> int:
    """Words and punctuation marks: a close, dependency-free stand-in for a BPE count."""
    return len(_TOKEN.findall(text))


def truncate_tokens(text: str, limit: int) -> str:
    """The longest prefix of ``text`` with at most ``limit`` tokens (marked with an ellipsis)."""
    if count_tokens(text) <= limit:
        return text
    matches = list(_TOKEN.finditer(text))
    return text[: matches[max(0, limit - 1)].start()].rstrip() + " …"


def make_entry(
    id: str,
    cycle: int,
    author: str,
    kind: Literal["thought", "summary", "input"],
    text: str,
    origin: str = "",
) -> WorkingEntry:
    """A working-memory entry with its token count."""
    return WorkingEntry(id, cycle, author, kind, text, count_tokens(text), origin)


class WorkingMemory:
    """Bounded working memory; `split` and `bifurcate` keep it under ``budget`` tokens."""

    def __init__(self, budget: int, *, keep_recent: int = 2) -> None:
        if budget < 16:
            raise ValueError(f"working memory budget must be at least 16 tokens, got {budget}")
        self.budget = budget
        self.keep_recent = max(1, keep_recent)
        self._entries: list[WorkingEntry] = []

    @property
    def entries(self) -> tuple[WorkingEntry, ...]:
        """Oldest first."""
        return tuple(self._entries)

    @property
    def tokens(self) -> int:
        """Tokens held now."""
        return sum(e.tokens for e in self._entries)

    def add(self, entry: WorkingEntry) -> None:
        """Append an entry; one longer than half the budget is truncated to fit."""
        limit = self.budget // 2
        if entry.tokens > limit:
            text = truncate_tokens(entry.text, limit)
            entry = replace(entry, text=text, tokens=count_tokens(text))
        self._entries.append(entry)

    def snapshot(self) -> dict[str, Any]:
        """The entries, oldest first (a checkpoint)."""
        return {"entries": [list(field_values(e)) for e in self._entries]}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `snapshot`."""
        self._entries = [WorkingEntry(*e) for e in state["entries"]]

    def over_budget(self) -> bool:
        """Whether the entries exceed the budget θ."""
        return self.tokens > self.budget

    def split(self) -> tuple[WorkingEntry, ...]:
        """The entries to be summarised: all but the most recent ``keep_recent``."""
        return tuple(self._entries[: -self.keep_recent])

    def bifurcate(self, summary: WorkingEntry) -> tuple[WorkingEntry, ...]:
        """Replace the older entries by ``summary``; return the evicted raw entries."""
        old = self.split()
        recent = self._entries[len(old) :]
        room = max(8, self.budget - sum(e.tokens for e in recent))
        if summary.tokens > room:
            text = truncate_tokens(summary.text, room)
            summary = replace(summary, text=text, tokens=count_tokens(text))
        self._entries = [summary, *recent]
        return tuple(e for e in old if e.kind != "summary")


def extractive_summary(entries: Sequence[WorkingEntry], limit: int) -> str:
    """A summary without a model: the start of each entry, within ``limit`` tokens."""
    parts = [truncate_tokens(e.text, max(4, limit // max(1, len(entries)))) for e in entries]
    return truncate_tokens("Earlier: " + " | ".join(parts), limit)


@dataclass(frozen=True, slots=True)
class Signals:
    """What the cycle knew about a candidate when it was made (admission features)."""

    salience: float = 0.5
    """The author's own salience, 0..1."""
    won: float = 0.0
    """1 if it won its cycle."""
    critic: float = 0.0
    """Mean critic score / 5 (−1..1); 0 when nobody scored it."""
    entropy: float = 0.0
    """The drive's diversity H at the time (0 without a drive)."""
    replies_to_question: float = 0.0
    """How much what it answered was a question (a reply usually carries the answer)."""
    echoes: tuple[str, ...] = ()
    """Sources of inputs it restates (``input:<origin>``): their trust caps its own, so an
    agent cannot launder an untrusted input into a trusted thought."""


@dataclass(frozen=True, slots=True)
class AdmissionCandidate:
    """Something that might cross into long-term memory, with where it came from."""

    entry: WorkingEntry
    run: str
    source: Literal["evicted", "proposal"]
    role: str = ""
    cited: tuple[str, ...] = ()
    """Long-term memories the entry drew on (their ids): its provenance."""
    signals: Signals = field(default_factory=Signals)
    """What the cycle knew when the entry was made."""


@dataclass(frozen=True, slots=True)
class AdmissionDecision:
    """What long-term memory did with one candidate (traced as memory.admit / memory.reject)."""

    candidate: AdmissionCandidate
    admitted: bool
    p: float
    reason: str
    memory_id: str | None = None
    links: tuple[tuple[str, str], ...] = ()
    """(type, target) links made for the new memory."""
    features: Mapping[str, float] = field(default_factory=dict)


class AdmissionSink(Protocol):
    """Receives admission candidates and usage credit (long-term memory plugs in here)."""

    async def offer(self, candidates: Sequence[AdmissionCandidate]) -> list[AdmissionDecision]:
        """Consider the candidates for long-term memory; say what became of each."""
        ...

    async def used(self, memory_ids: Sequence[str], cycle: int) -> list[str]:
        """A winner cited these memories; return the ids whose admission was credited."""
        ...

    async def tick(self, cycle: int) -> list[str]:
        """A cycle ended; return the memories whose usage horizon passed unused."""
        ...


class NullSink:
    """Keeps nothing: the default until long-term memory is configured."""

    async def offer(self, candidates: Sequence[AdmissionCandidate]) -> list[AdmissionDecision]:
        """Discard the candidates (no decisions to trace: there is no long-term memory)."""
        return []

    async def used(self, memory_ids: Sequence[str], cycle: int) -> list[str]:
        """Nothing was stored, so nothing is credited."""
        return []

    async def tick(self, cycle: int) -> list[str]:
        """Nothing expires."""
        return []


class Retriever(Protocol):
    """Answers the attention role's queries from long-term memory."""

    async def retrieve(self, queries: Sequence[str], *, k: int) -> tuple[Memory, ...]:
        """Up to ``k`` memories relevant to the queries."""
        ...


class NullRetriever:
    """Recalls nothing: the default until long-term memory is configured."""

    async def retrieve(self, queries: Sequence[str], *, k: int) -> tuple[Memory, ...]:
        """No memories."""
        return ()


def source_of(entry: WorkingEntry) -> str:
    """Whose text an entry is, for trust: ``input:<origin>`` for an input (each sender has its
    own trust), else its author."""
    if entry.kind != "input":
        return entry.author
    return f"input:{entry.origin}" if entry.origin else "input"


def restates(text: str, source: str, *, overlap: float = 0.5) -> bool:
    """Whether ``text`` repeats at least ``overlap`` of the content words of ``source``."""
    theirs = set(_CONTENT.findall(source.lower()))
    return (
        bool(theirs) and len(set(_CONTENT.findall(text.lower())) & theirs) / len(theirs) >= overlap
    )


def cited(text: str, memories: Sequence[Memory], *, overlap: float = 0.5) -> list[str]:
    """Ids of the memories a text draws on: named by id, or sharing half its content words."""
    words = set(_CONTENT.findall(text.lower()))
    out: list[str] = []
    for m in memories:
        if m.id in text:
            out.append(m.id)
            continue
        theirs = set(_CONTENT.findall(m.text.lower()))
        if theirs and len(words & theirs) / len(theirs) >= overlap:
            out.append(m.id)
    return out
