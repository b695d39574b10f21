"""SharedMemory: long-term memory as the workspace sees it (a Retriever and an AdmissionSink).

It runs the blocking store calls in a worker thread, so agents keep working while memory is
written, and serialises writers, so several agents offering at once lose nothing. What is
admitted is an `AdmissionPolicy`'s decision (`gwa.memory.admission`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from gwa.memory.admission import AdmissionPolicy, AdmitAll, Verdict
from gwa.memory.store import LinkType, LongTermMemory, NewMemory
from gwa.memory.working import AdmissionCandidate, AdmissionDecision, source_of
from gwa.types import Memory


class SharedMemory:
    """Retriever + AdmissionSink over a LongTermMemory."""

    def __init__(
        self,
        store: LongTermMemory,
        policy: AdmissionPolicy | None = None,
        *,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.store = store
        self.redact = redact or (lambda text: text)
        """Applied to every text before it is stored (secrets never reach the store)."""
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

    def _offer(self, offered: list[AdmissionCandidate]) -> list[AdmissionDecision]:
        # Secrets leave before anything looks at the text (the policy's lexicon included).
        candidates = [
            replace(c, entry=replace(c.entry, text=self.redact(c.entry.text))) for c in offered
        ]
        verdicts = self.policy.decide(candidates, self.store)
        admitted = [(c, v) for c, v in zip(candidates, verdicts, strict=True) if v.admit]
        items = [self._new_memory(c, v) for c, v in admitted]
        results = self.store.add(items)
        stored: dict[int, tuple[str, tuple[tuple[str, str], ...], str]] = {}
        for (c, verdict), item, res in zip(admitted, items, results, strict=True):
            links = (
                *item.links,
                *(("supersedes", s) for s in res.superseded),
                *(("similar", s) for s in res.similar),
            )
            note = "stored" if res.action == "added" else "reinforced an existing memory"
            stored[id(c)] = (res.id, links, note)
            self._last[c.run] = res.id
            if res.action == "added":
                self.policy.admitted(res.id, c, verdict.features)
            for old in res.superseded:
                rec = self.store.get(old)
                self.policy.contradicted(rec.agent if rec and rec.agent else "input")
        decisions: list[AdmissionDecision] = []
        for c, v in zip(candidates, verdicts, strict=True):
            if v.admit and id(c) in stored:
                mid, made, note = stored[id(c)]
                why = f"{v.reason}; {note}"
                decisions.append(AdmissionDecision(c, True, v.p, why, mid, made, v.features))
            else:
                decisions.append(AdmissionDecision(c, False, v.p, v.reason, None, (), v.features))
        return decisions

    def _new_memory(self, c: AdmissionCandidate, verdict: Verdict) -> NewMemory:
        """What the store is handed for an admitted candidate: its provenance, the trust of its
        source when it was admitted (0.5 where the policy weighs none), and links to what it
        cites and to the run's previous memory."""
        prev = self._last.get(c.run)
        mid = self.store.new_id(c.entry.text)
        links: tuple[tuple[LinkType, str], ...] = tuple(("cites", m) for m in c.cited)
        if prev is not None:
            links += (("follows", prev),)
        # Consecutive evictions of a run are linked in order, so one recalled memory brings
        # its neighbour along (one hop of the link graph at retrieval).
        self._last[c.run] = mid
        return NewMemory(
            c.entry.text,
            run=c.run,
            agent=source_of(c.entry),
            role=c.role,
            cycle=c.entry.cycle,
            kind=c.entry.kind,
            source_ids=c.cited,
            trust=verdict.features.get("trust", 0.5),
            id=mid,
            links=links,
        )

    def snapshot(self) -> dict[str, Any]:
        """The policy's learning, each run's last memory and the id series (a checkpoint)."""
        return {"policy": self.policy.snapshot(), "last": dict(self._last), **self.store.position()}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `snapshot` (see `rewind` for the memories stored after it)."""
        self.policy.restore(state["policy"])
        self._last = dict(state["last"])

    def rewind(self, run: str, state: dict[str, Any]) -> list[str]:
        """Remove what ``run`` stored after the `snapshot` ``state`` was taken: its lost
        cycles run again and store it again, under the same ids (none lost, none twice)."""
        return self.store.rewind(run, state)

    async def used(self, memory_ids: Sequence[str], cycle: int) -> list[str]:
        """A winner cited these memories: credit the decisions that admitted them."""
        if not memory_ids:
            return []
        async with self._lock:
            return self.policy.used(memory_ids, cycle, self.store)

    async def tick(self, cycle: int) -> list[str]:
        """End of a cycle: write recall statistics (a killed run loses none of them) and
        penalise admissions whose horizon passed unused."""
        async with self._lock:
            await asyncio.to_thread(self.store.flush)
            return self.policy.tick(cycle)

    async def flush(self) -> None:
        """Write pending recall statistics."""
        await asyncio.to_thread(self.store.flush)

    def close(self) -> None:
        """Flush and close the store; persist learned admission weights."""
        self.policy.save()
        self.store.close()
