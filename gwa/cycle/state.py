"""The per-run mutable state of the cycles, as plain data.

Everything the phases change between cycles lives here and nowhere else, so a run can be
inspected, tested on a hand-built state, and (later) checkpointed and resumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gwa.memory import AdmissionCandidate, Signals
from gwa.types import Candidate, Usage

Status = Literal[
    "answered",
    "max_cycles",
    "budget",
    "timeout",
    "stopped",
    "stalled",
    "error",
    "cancelled",
    "paused",
]
"""How a run ended."""


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a working-memory thought came from, kept until it leaves for long-term memory."""

    role: str
    cited: tuple[str, ...]
    """Long-term memories the thought drew on."""
    signals: Signals
    text: str = ""
    """The whole text (working memory may hold it cut to fit θ; long-term memory gets it all)."""


@dataclass(slots=True)
class CycleState:
    """What the cycles of one run change: counters, the last winner, the drive's side effects."""

    temperature: float
    """The generators' temperature in this cycle (before per-agent bounds)."""
    window: int = 4
    """How many recent winners `recent` keeps (the drive's window)."""
    cycle: int = 0
    """The cycle in progress (0 before the first)."""
    usage: Usage = field(default_factory=Usage)
    last_winner: Candidate | None = None
    outputs: list[str] = field(default_factory=list)
    """Every answer given so far."""
    requests: int = 0
    """Phase requests published (part of each request id)."""
    notes: list[str] = field(default_factory=list)
    """Workspace notes (escalation prompts) for the next broadcast."""
    withhold: int = 0
    """Broadcasts left that withhold the last winner and the raw thoughts (perspective step)."""
    inhibit: int = 0
    """Cycles left in which near-copies of recent winners may not win."""
    attempt: str | None = None
    """What the workspace tried to broadcast in a cycle where every candidate was inhibited."""
    recent: list[str] = field(default_factory=list)
    """The last `window` winners' texts, oldest first."""
    requery: bool = False
    """The next perceive recalls for novelty instead of asking attention (requery step)."""
    stalled: str | None = None
    """Why the run stalls, once the drive gave up."""
    provenance: dict[str, Provenance] = field(default_factory=dict)
    """Working-memory thought id → its provenance, until it is evicted."""
    pending: dict[str, Any] | None = None
    """The question a paused run waits on (``point``, ``question``, ``text`` …)."""
    held: list[AdmissionCandidate] = field(default_factory=list)
    """Inputs held back from long-term memory until a person approves them."""
    tool_calls: int = 0
    """Tool calls made so far (the run's budget counts them)."""

    def outcome(self, status: Status, reason: str, duration_s: float) -> Outcome:
        """How the run ended, from what the cycles left here."""
        return Outcome(
            status=status,
            reason=reason,
            answer=self.outputs[-1] if self.outputs else None,
            outputs=tuple(self.outputs),
            cycles=self.cycle,
            usage=self.usage,
            duration_s=duration_s,
        )

    def remember_winner(self, winner: Candidate) -> None:
        """The winner becomes the last winner and joins the recent window."""
        self.last_winner = winner
        self.recent = [*self.recent, winner.text][-self.window :]


@dataclass(frozen=True, slots=True)
class Decision:
    """A person's answer to a paused run."""

    verdict: Literal["approve", "edit", "reject"]
    text: str | None = None
    """The edited answer (``edit``) or the reason (``reject``)."""

    @classmethod
    def parse(cls, value: Decision | str, text: str | None = None) -> Decision:
        """A decision from ``"approve"`` / ``"edit"`` (with ``text``) / ``"reject"`` (with a
        reason), or a `Decision` as it is."""
        if isinstance(value, Decision):
            return value
        if value == "approve":
            return cls("approve", text)
        if value == "edit" and text:
            return cls("edit", text)
        if value == "reject":
            return cls("reject", text)
        raise ValueError(
            f"a decision is 'approve', 'edit' with the new text, or 'reject', not {value!r}"
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run of cycles ended."""

    status: Status
    reason: str
    answer: str | None
    outputs: tuple[str, ...]
    cycles: int
    usage: Usage
    duration_s: float
