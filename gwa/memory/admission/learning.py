"""Learning what to keep: the admission policies a store can use (the learned one with
usage-aware credit and per-source trust, and the fixed baselines it is compared with).

`used` rewards the decisions that admitted memories a winner cited (and, discounted by γ per
hop, what they were derived from); `tick` penalises admitted memories unused after the
horizon in proportion to their size. Training from traces or datasets lives in
`gwa.eval.training` (memory never reads a trace).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gwa.memory.admission.features import Lexicon, candidate_features
from gwa.memory.admission.policy import LogisticPolicy, Verdict, hand_score
from gwa.memory.admission.trust import TrustBook
from gwa.memory.vectors import NOVELTY_EXPANSION
from gwa.memory.working import AdmissionCandidate, source_of

if TYPE_CHECKING:
    from gwa.memory.embeddings import Vectors
    from gwa.memory.store import LongTermMemory


class AdmissionPolicy(Protocol):
    """Decides which candidates enter long-term memory, and may learn from what happens to
    them (the fixed policies inherit `FixedPolicy`'s no-op hooks)."""

    name: str

    def decide(
        self, candidates: Sequence[AdmissionCandidate], store: LongTermMemory
    ) -> list[Verdict]:
        """A verdict for each candidate, in order."""
        ...

    def admitted(self, memory_id: str, c: AdmissionCandidate, features: dict[str, float]) -> None:
        """A candidate was stored as a new memory."""
        ...

    def used(self, memory_ids: Sequence[str], cycle: int, store: LongTermMemory) -> list[str]:
        """A winner cited these memories; return the ids whose admission was credited."""
        ...

    def tick(self, cycle: int) -> list[str]:
        """A cycle ended; return the memories whose horizon passed unused."""
        ...

    def contradicted(self, source: str) -> None:
        """A memory from ``source`` was superseded."""
        ...

    def save(self) -> None:
        """Persist what the policy learned."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """What the policy learned so far in this run, for a checkpoint."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `snapshot`."""
        ...


class FixedPolicy:
    """A policy that learns nothing: every hook is a no-op."""

    name = "fixed"

    def admitted(self, memory_id: str, c: AdmissionCandidate, features: dict[str, float]) -> None:
        """Nothing to remember."""

    def used(self, memory_ids: Sequence[str], cycle: int, store: LongTermMemory) -> list[str]:
        """Nothing to credit."""
        return []

    def tick(self, cycle: int) -> list[str]:
        """Nothing expires."""
        return []

    def contradicted(self, source: str) -> None:
        """No trust to lower."""

    def save(self) -> None:
        """Nothing to persist."""

    def snapshot(self) -> dict[str, Any]:
        """Nothing learned."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Nothing to take back."""


class AdmitAll(FixedPolicy):
    """Keep everything (what most memory systems do)."""

    name = "admit-all"

    def decide(
        self, candidates: Sequence[AdmissionCandidate], store: LongTermMemory
    ) -> list[Verdict]:
        """Admit each candidate with p = 1."""
        return [Verdict(True, 1.0, "admit-all") for _ in candidates]


class AdmitNone(FixedPolicy):
    """Keep nothing (a baseline; memory stays read-only)."""

    name = "admit-none"

    def decide(
        self, candidates: Sequence[AdmissionCandidate], store: LongTermMemory
    ) -> list[Verdict]:
        """Reject each candidate with p = 0."""
        return [Verdict(False, 0.0, "admit-none") for _ in candidates]


class HandWeighted(FixedPolicy):
    """The hand-weighted baseline: 0.4·novelty + 0.3·utility + 0.2·recency + 0.1·type ≥ 0.5."""

    name = "hand-weighted"

    def __init__(self) -> None:
        self.lexicon = Lexicon()

    def snapshot(self) -> dict[str, Any]:
        """The lexicon's position and fresh words."""
        return {"lexicon": self.lexicon.snapshot()}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `snapshot`."""
        self.lexicon.restore(state["lexicon"])

    def decide(
        self, candidates: Sequence[AdmissionCandidate], store: LongTermMemory
    ) -> list[Verdict]:
        """Score each candidate by hand-set weights."""
        out: list[Verdict] = []
        for c, novelty in zip(candidates, novelties(candidates, store), strict=True):
            f = candidate_features(c, novelty=novelty, trust=0.5, lexicon=self.lexicon)
            score = hand_score(f)
            out.append(Verdict(score >= 0.5, score, f"hand-weighted score {score:.2f}", f))
        return out


def novelties(
    candidates: Sequence[AdmissionCandidate], store: LongTermMemory, vectors: Vectors | None = None
) -> list[float]:
    """1 − the highest cosine similarity of each candidate to long-term memory (``vectors``:
    the candidates' own, from the store's embedder, to skip embedding them), the nearest
    record searched at the novelty breadth (gwa.memory.vectors.NOVELTY_EXPANSION)."""
    vecs = store.embedder.embed([c.entry.text for c in candidates]) if vectors is None else vectors
    nearest = store.nearest(vecs, breadth=NOVELTY_EXPANSION)
    return [max(0.0, 1.0 - sim) if mid else 1.0 for mid, sim, _ in nearest]


@dataclass
class _Decision:
    features: dict[str, float]
    cycle: int
    tokens: int
    source: str


class LearnedAdmission:
    """The learned policy with usage-aware credit and per-source trust (gwa.memory.admission).

    `used` rewards the decisions that admitted memories a winner cited (and, discounted by
    γ per hop, what they were derived from); `tick` penalises admitted memories unused after
    ``horizon`` cycles in proportion to their size. Weights persist as admission.json in the
    store directory, the words seen so far (for the lexical novelty features) as
    admission-lexicon.json beside it.
    """

    name = "learned"

    def __init__(
        self,
        policy: LogisticPolicy | None = None,
        trust: TrustBook | None = None,
        *,
        horizon: int = 20,
        gamma: float = 0.5,
        path: Path | None = None,
    ) -> None:
        self.path = path
        if policy is None and path is not None and path.exists():
            policy = LogisticPolicy.load(path)
        self.policy = policy or LogisticPolicy()
        lexicon_path = self.lexicon_path
        self.lexicon = (
            Lexicon.load(lexicon_path)
            if lexicon_path is not None and lexicon_path.exists()
            else Lexicon()
        )
        self.trust = trust or TrustBook()
        self.horizon = horizon
        self.gamma = gamma
        self.pending: dict[str, _Decision] = {}
        self.rewards = 0
        self.penalties = 0

    @property
    def lexicon_path(self) -> Path | None:
        """Where the lexicon persists (beside the weights)."""
        return None if self.path is None else self.path.with_name("admission-lexicon.json")

    @staticmethod
    def source(c: AdmissionCandidate) -> str:
        """Whose text it is: ``input:<origin>`` for an input, else the author."""
        return source_of(c.entry)

    def sources(self, c: AdmissionCandidate, store: LongTermMemory) -> list[str]:
        """Whose text a candidate carries: its own source, the inputs it restates, and the
        inputs behind the memories it cites (provenance carries through the store)."""
        cited = [store.get(m) for m in c.cited]
        via = [r.agent for r in cited if r is not None and r.agent.startswith("input")]
        return [self.source(c), *c.signals.echoes, *via]

    def trust_of(self, c: AdmissionCandidate, store: LongTermMemory) -> float:
        """The trust of a candidate's source, capped by that of any input it carries."""
        return min(self.trust.trust(s) for s in self.sources(c, store))

    def decide(
        self,
        candidates: Sequence[AdmissionCandidate],
        store: LongTermMemory,
        vectors: Vectors | None = None,
    ) -> list[Verdict]:
        """p(admit | features) for each candidate, with the trust of its source (``vectors``:
        the candidates' embeddings, if already made)."""
        out: list[Verdict] = []
        for c, novelty in zip(candidates, novelties(candidates, store, vectors), strict=True):
            sources = self.sources(c, store)
            f = candidate_features(
                c,
                novelty=novelty,
                trust=round(min(self.trust.trust(s) for s in sources), 4),
                lexicon=self.lexicon,
            )
            guarded = any(s.startswith("input") for s in sources)
            out.append(self.policy.verdict(f, c.entry.text, sources[0], guarded=guarded))
        return out

    def admitted(self, memory_id: str, c: AdmissionCandidate, features: dict[str, float]) -> None:
        """Remember a decision until it is credited or its horizon passes."""
        self.pending[memory_id] = _Decision(features, c.entry.cycle, c.entry.tokens, self.source(c))

    def used(self, memory_ids: Sequence[str], cycle: int, store: LongTermMemory) -> list[str]:
        """Credit the decisions behind cited memories, along derived_from links (γ^depth)."""
        credited: list[str] = []
        frontier = [(m, 0) for m in memory_ids]
        seen: set[str] = set()
        while frontier:
            mid, depth = frontier.pop()
            if mid in seen or depth > 3:
                continue
            seen.add(mid)
            decision = self.pending.pop(mid, None)
            weight = self.gamma**depth
            if decision is not None:
                self.policy.update(decision.features, 1.0, weight)
                self.trust.used(decision.source, weight)
                self.rewards += 1
                credited.append(mid)
            else:
                rec = store.get(mid)
                if rec is not None:
                    self.trust.used(rec.agent or "input", weight)
            g = store.links.graph
            if g.has_node(mid):
                for _, target, key in g.out_edges(mid, keys=True):
                    if key == "derived_from":
                        frontier.append((str(target), depth + 1))
        return credited

    def tick(self, cycle: int) -> list[str]:
        """Penalise admitted memories not used within the horizon (weight ∝ their size)."""
        expired = [m for m, d in self.pending.items() if cycle - d.cycle > self.horizon]
        if not expired:
            return []
        mean = max(1.0, sum(d.tokens for d in self.pending.values()) / len(self.pending))
        for mid in expired:
            d = self.pending.pop(mid)
            # Use is rare, so penalties would swamp rewards and drag every p down: the
            # penalties as a whole weigh as much as the rewards so far (class balance).
            balance = min(1.0, (self.rewards + 1) / (self.penalties + 1))
            self.policy.update(d.features, 0.0, balance * d.tokens / mean)
            self.penalties += 1
        return expired

    def contradicted(self, source: str) -> None:
        """A memory from ``source`` was superseded."""
        self.trust.contradicted(source)

    def snapshot(self) -> dict[str, Any]:
        """Weights, trust, lexicon and the decisions awaiting credit (a checkpoint)."""
        return {
            "policy": self.policy.snapshot(),
            "lexicon": self.lexicon.snapshot(),
            "trust": {k: list(v) for k, v in self.trust.counts.items()},
            "pending": {
                m: [d.features, d.cycle, d.tokens, d.source] for m, d in self.pending.items()
            },
            "rewards": self.rewards,
            "penalties": self.penalties,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `snapshot`."""
        self.policy.restore(state["policy"])
        self.lexicon.restore(state["lexicon"])
        self.trust.counts = {k: [float(x) for x in v] for k, v in state["trust"].items()}
        self.pending = {m: _Decision(*d) for m, d in state["pending"].items()}
        self.rewards, self.penalties = int(state["rewards"]), int(state["penalties"])

    def save(self) -> None:
        """Persist the weights and the lexicon beside the store."""
        if self.path is not None:
            self.policy.save(self.path)
        if self.lexicon_path is not None:
            self.lexicon.save(self.lexicon_path)
