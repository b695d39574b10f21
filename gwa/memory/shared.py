"""SharedMemory: long-term memory as the workspace sees it (a Retriever and an AdmissionSink).

It runs the blocking store calls in a worker thread, so agents keep working while memory is
written, and serialises writers, so several agents offering at once lose nothing. Admission is a
policy object; this module ships the two fixed ones (admit-all, the default, and admit-none);
the learned policy plugs in through the same `AdmissionPolicy` protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from gwa.memory.store import LongTermMemory, NewMemory
from gwa.memory.working import AdmissionCandidate, AdmissionDecision
from gwa.types import Memory


class AdmissionPolicy(Protocol):
    """Decides which candidates enter long-term memory."""

    name: str

    def decide(
        self, candidates: Sequence[AdmissionCandidate], store: LongTermMemory
    ) -> list[tuple[bool, float, str, dict[str, float]]]:
        """For each candidate: (admit, p, reason, features)."""
        ...


class AdmitAll:
    """Keep everything (what most memory systems do)."""

    name = "admit-all"

    def decide(
        self, candidates: Sequence[AdmissionCandidate], store: LongTermMemory
    ) -> list[tuple[bool, float, str, dict[str, float]]]:
        """Admit each candidate with p = 1."""
        return [(True, 1.0, "admit-all", {}) for _ in candidates]


class AdmitNone:
    """Keep nothing (a baseline; memory stays read-only)."""

    name = "admit-none"

    def decide(
        self, candidates: Sequence[AdmissionCandidate], store: LongTermMemory
    ) -> list[tuple[bool, float, str, dict[str, float]]]:
        """Reject each candidate with p = 0."""
        return [(False, 0.0, "admit-none", {}) for _ in candidates]


class SharedMemory:
    """Retriever + AdmissionSink over a LongTermMemory."""

    def __init__(self, store: LongTermMemory, policy: AdmissionPolicy | None = None) -> None:
        self.store = store
        self.policy: AdmissionPolicy = policy or AdmitAll()
        self._lock = asyncio.Lock()
        self._last: dict[str, str] = {}

    async def retrieve(self, queries: Sequence[str], *, k: int) -> tuple[Memory, ...]:
        """Up to ``k`` memories for the queries; each recall strengthens the memory."""
        hits = await asyncio.to_thread(self.store.search, list(queries), k, touch=True)
        return tuple(Memory(h.record.id, h.record.text, h.score) for h in hits)

    async def offer(self, candidates: Sequence[AdmissionCandidate]) -> list[AdmissionDecision]:
        """Let the policy decide, then store what it admits (in order, one writer at a time)."""
        if not candidates:
            return []
        async with self._lock:
            return await asyncio.to_thread(self._offer, list(candidates))

    def _offer(self, candidates: list[AdmissionCandidate]) -> list[AdmissionDecision]:
        verdicts = self.policy.decide(candidates, self.store)
        admitted = [(c, v) for c, v in zip(candidates, verdicts, strict=True) if v[0]]
        items: list[NewMemory] = []
        for c, _ in admitted:
            prev = self._last.get(c.run)
            mid = self.store.new_id(c.entry.text)
            links: tuple[tuple[str, str], ...] = tuple(("cites", m) for m in c.cited)
            if prev is not None:
                links += (("follows", prev),)
            items.append(
                NewMemory(
                    c.entry.text,
                    run=c.run,
                    agent=c.entry.author,
                    role=c.role,
                    cycle=c.entry.cycle,
                    kind=c.entry.kind,
                    source_ids=c.cited,
                    trust=float(c.signals.get("trust", 0.5)),
                    id=mid,
                    links=links,  # type: ignore[arg-type]
                )
            )
            # Consecutive evictions of a run are linked in order, so one recalled memory brings
            # its neighbour along (one hop of the link graph at retrieval).
            self._last[c.run] = mid
        results = self.store.add(items)
        by_candidate: dict[int, tuple[str, tuple[tuple[str, str], ...], str]] = {}
        for (c, _), item, res in zip(admitted, items, results, strict=True):
            links = item.links
            if res.superseded:
                links += tuple(("supersedes", s) for s in res.superseded)
            if res.similar:
                links += tuple(("similar", s) for s in res.similar)
            note = "stored" if res.action == "added" else "reinforced an existing memory"
            by_candidate[id(c)] = (res.id, links, note)
            self._last[c.run] = res.id
        decisions: list[AdmissionDecision] = []
        for c, (ok, p, reason, features) in zip(candidates, verdicts, strict=True):
            if ok and id(c) in by_candidate:
                mid, links, note = by_candidate[id(c)]
                decisions.append(
                    AdmissionDecision(c, True, p, f"{reason}; {note}", mid, links, features)
                )
            else:
                decisions.append(AdmissionDecision(c, False, p, reason, None, (), features))
        return decisions

    async def flush(self) -> None:
        """Write pending recall statistics."""
        await asyncio.to_thread(self.store.flush)

    def close(self) -> None:
        """Flush and close the store."""
        self.store.close()
