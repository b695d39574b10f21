"""The nouns of GWA, named once and used everywhere.

Data here is immutable: frozen, slotted dataclasses. Pydantic models are used only where data
crosses a boundary (scenario YAML in `gwa.scenario`, wire envelopes in `gwa.broadcast`, trace
records in `gwa.trace`).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

RunId: TypeAlias = str
"""Identifies one run of a workspace; part of every topic and trace record."""

AgentId: TypeAlias = str
"""The unique name of an agent within a scenario (``gen-1``, ``critic`` …)."""

Tag = Literal["THINK_MORE", "RESPOND"]
"""What the winner of a cycle asks for: another cycle, or the final response."""


class Phase(StrEnum):
    """The step of a cycle an agent is asked to act in; each role acts in exactly one."""

    ATTEND = "attend"
    """Write 1–3 retrieval queries for long-term memory."""
    PROPOSE = "propose"
    """Propose candidate thoughts in answer to the broadcast."""
    REVIEW = "review"
    """Score the candidates of this cycle."""
    SELECT = "select"
    """Choose the winner among the candidates and tag it."""
    RESPOND = "respond"
    """Write the final answer from the workspace state."""
    SUMMARIZE = "summarize"
    """Compress old working-memory entries into one summary."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat-model prompt."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one or more model calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        """Prompt and completion tokens together."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """What an agent is told of a tool it may call: its name, what it does, its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]
    """JSON Schema of the arguments (an object)."""


@dataclass(frozen=True, slots=True)
class Action:
    """A tool call proposed with a thought; the workspace runs it if the thought wins."""

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A thought proposed by an agent, competing for the workspace."""

    id: str
    """``c<cycle>.<n>``: unique within a run."""
    agent: AgentId
    text: str
    salience: float = 0.5
    """How important the author thinks the thought is, 0..1."""
    final: bool = False
    """The author believes this thought answers the goal."""
    action: Action | None = None
    """A tool call the thought proposes (run by the workspace when the thought wins)."""


@dataclass(frozen=True, slots=True)
class Critique:
    """A critic's judgement of one candidate."""

    critic: AgentId
    candidate_id: str
    score: int
    """−5 (harmful) .. +5 (excellent)."""
    reason: str


@dataclass(frozen=True, slots=True)
class Memory:
    """A long-term memory handed to agents with the broadcast (retrieved by attention)."""

    id: str
    text: str
    score: float


@dataclass(frozen=True, slots=True)
class WorkingEntry:
    """One entry of working memory (layer 1), carried in every broadcast."""

    id: str
    cycle: int
    author: str
    kind: Literal["thought", "summary", "input"]
    text: str
    tokens: int
    origin: str = ""
    """For an input: who sent it (the bus sender), so that trust is per origin, not per kind."""


@dataclass(frozen=True, slots=True)
class Broadcast:
    """The workspace state S_t published to every agent at the start of a cycle."""

    run: RunId
    cycle: int
    goal: str
    identity: str
    working_memory: tuple[WorkingEntry, ...] = ()
    winner: Candidate | None = None
    """The previous cycle's winner."""
    inputs: tuple[str, ...] = ()
    """Inputs perceived this cycle."""
    memories: tuple[Memory, ...] = ()
    """Long-term memories retrieved this cycle."""


@dataclass(frozen=True, slots=True)
class Request:
    """What an agent is asked to do: its phase and everything it may look at."""

    phase: Phase
    broadcast: Broadcast
    temperature: float
    candidates: tuple[Candidate, ...] = ()
    critiques: tuple[Critique, ...] = ()
    entries: tuple[WorkingEntry, ...] = ()
    """For the summarize phase: the entries to compress."""


@dataclass(frozen=True, slots=True)
class Selection:
    """The outcome of a cycle's competition."""

    policy: str
    winner: Candidate | None
    tag: Tag
    scores: dict[str, float] = field(default_factory=dict)
    """Candidate id → selection score, for every candidate considered."""
    reason: str = ""


@runtime_checkable
class Stateful(Protocol):
    """A piece of a run whose state a checkpoint saves and a resume restores (the temperature
    source, the admission sink, a model such as a replay cassette). Optional: a piece that
    does not implement it starts afresh when a run resumes."""

    def snapshot(self) -> dict[str, Any]:
        """The piece's state as JSON-serialisable data."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a state `snapshot` returned (possibly in another process)."""
        ...


@functools.cache
def _field_names(cls: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def plain(obj: Any) -> Any:
    """`dataclasses.asdict` without its deep copy of every value: a dataclass becomes a dict
    of its fields, tuples, lists and dicts are rebuilt around their converted items, anything
    else is kept as it is (for the immutable values of events, checkpoints and replies, which
    are made every cycle)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {n: plain(getattr(obj, n)) for n in _field_names(type(obj))}
    if isinstance(obj, tuple | list):
        return type(obj)(plain(v) for v in obj)
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    return obj


def field_values(obj: Any) -> tuple[Any, ...]:
    """A dataclass's field values in order, as they are (`dataclasses.astuple` copies each)."""
    return tuple(getattr(obj, n) for n in _field_names(obj.__class__))
