"""The event kinds, one typed record each (see `gwa.events`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gwa.events._base import AgentInfo, EntryView, Event, LinkView, Recalled


class RunStart(Event):
    """A run began: what ran, with which settings and models."""

    event: Literal["run.start"] = "run.start"
    scenario: str
    config_hash: str
    config: dict[str, Any]
    seed: int | None
    goal: str
    model: str | None
    """Why the default model was chosen."""
    agents: list[AgentInfo]


class RunAnnounce(Event):
    """The run was announced on its control topic for remote agents."""

    event: Literal["run.announce"] = "run.announce"
    remote: list[str]
    topic: str


class AgentJoin(Event):
    """A remote agent joined."""

    event: Literal["agent.join"] = "agent.join"
    detail: str


class AgentAbsent(Event):
    """A remote agent left, or did not join in time."""

    event: Literal["agent.absent"] = "agent.absent"
    detail: str


class BusReconnect(Event):
    """The MQTT bus reconnected to its broker."""

    event: Literal["bus.reconnect"] = "bus.reconnect"
    reconnects: int


class BusMalformed(Event):
    """An envelope on the broker could not be decoded and was dropped."""

    event: Literal["bus.malformed"] = "bus.malformed"
    topic: str
    error: str


class BusGap(Event):
    """A sender's sequence numbers skipped: messages were lost."""

    event: Literal["bus.gap"] = "bus.gap"
    sender: str
    topic: str
    expected: int
    got: int


class CycleStart(Event):
    """A cycle began."""

    event: Literal["cycle.start"] = "cycle.start"
    temperature: float
    inputs: list[str]
    notes: list[str]
    """Notes of the workspace itself (escalation prompts) joining this broadcast."""
    working_memory_tokens: int


class MemoryRetrieve(Event):
    """Long-term memory answered queries."""

    event: Literal["memory.retrieve"] = "memory.retrieve"
    mode: Literal["novelty", "judged"] | None = None
    """``novelty`` for the deadlock step 'requery'; ``judged`` for the memory judge's second
    round (its queries; the memories it added to the first round's)."""
    queries: list[str]
    memories: list[Recalled]
    error: str | None = None
    """``judged``: why the judge said nothing usable (the first round stood)."""


class BroadcastSent(Event):
    """The state S_t was broadcast."""

    event: Literal["broadcast"] = "broadcast"
    working_memory: list[EntryView]
    tokens: int
    winner: str | None
    """The id of the last winner shown."""
    inputs: list[str]
    memories: list[str]
    """Ids of the recalled memories shown."""


class ModelCall(Event):
    """One chat-model call of an agent."""

    event: Literal["model.call"] = "model.call"
    provider: str
    model: str
    temperature: float
    max_tokens: int
    tokens_in: int
    tokens_out: int
    latency_ms: float
    attempt: int
    ok: bool
    error: str | None


class AgentError(Event):
    """An agent was late, failed, or gave an output its role rejects."""

    event: Literal["agent.error"] = "agent.error"
    phase: str
    error_type: str
    error: str


class Proposal(Event):
    """A candidate thought."""

    event: Literal["proposal"] = "proposal"
    candidate: str
    text: str
    salience: float
    final: bool
    action: dict[str, Any] | None = None
    """A proposed tool call: ``{"tool": …, "arguments": {…}}``."""


class CritiqueGiven(Event):
    """A critic's score of a candidate."""

    event: Literal["critique"] = "critique"
    candidate: str
    score: int
    reason: str


class SelectionInhibit(Event):
    """Near-copies of recent winners were kept from winning (inhibition of return)."""

    event: Literal["selection.inhibit"] = "selection.inhibit"
    inhibited: list[str]
    similarity: list[float]
    recent_winners: int


class SelectionMade(Event):
    """The cycle's competition ended (with or without a winner)."""

    event: Literal["selection"] = "selection"
    policy: str
    winner: str | None
    text: str | None
    tag: Literal["THINK_MORE", "RESPOND"]
    scores: dict[str, float]
    reason: str


class MemoryUse(Event):
    """A winner cited long-term memories; the decisions that stored them were credited."""

    event: Literal["memory.use"] = "memory.use"
    winner: str
    memories: list[str]
    credited: list[str]


class MemoryConsolidate(Event):
    """Working memory went over θ and bifurcated into a summary and evicted entries."""

    event: Literal["memory.consolidate"] = "memory.consolidate"
    evicted: list[str]
    summary: str
    text: str
    tokens_before: int
    tokens_after: int


class _Decision(Event):
    candidate: str
    source: str
    p: float
    reason: str
    text: str
    features: dict[str, float]


class MemoryAdmit(_Decision):
    """A candidate was stored in long-term memory."""

    event: Literal["memory.admit"] = "memory.admit"
    memory_id: str | None = None
    links: list[LinkView] = Field(default_factory=list)


class MemoryReject(_Decision):
    """A candidate was kept out of long-term memory."""

    event: Literal["memory.reject"] = "memory.reject"


class MemoryExpire(Event):
    """Stored memories went unused past the admission horizon."""

    event: Literal["memory.expire"] = "memory.expire"
    memories: list[str]


class DriveUpdate(Event):
    """The temperature source observed the cycle and set the next temperature."""

    event: Literal["drive.update"] = "drive.update"
    temperatures: dict[str, float]
    """Per generator, after its bounds."""
    source: str
    """``constant`` or ``entropy``."""
    estimator: str | None = None
    law: str | None = None
    h: float | None = None
    window: int | None = None
    similarity: float | None = None
    temperature: float
    level: int | None = None


class DeadlockSeen(Event):
    """The drive found the workspace stuck and took an escalation step."""

    event: Literal["deadlock"] = "deadlock"
    evidence: str
    step: str
    level: int
    similarity: float | None = None
    h: float | None = None


class ResponseGiven(Event):
    """The workspace answered."""

    event: Literal["response"] = "response"
    answer: str
    winner: str


class RunEnd(Event):
    """The run ended; every exit path writes this."""

    event: Literal["run.end"] = "run.end"
    status: str
    reason: str
    answer: str | None
    cycles: int
    tokens_in: int
    tokens_out: int
    duration_s: float
    error_type: str | None = None
    """The exception that ended the run, for status ``error``."""


class CheckpointSaved(Event):
    """The run's state at the end of a cycle was saved to the checkpoint store."""

    event: Literal["checkpoint"] = "checkpoint"
    id: str
    """``RUN@CYCLE``: what ``gwa run --fork`` takes."""
    bytes: int
    """Size of the stored checkpoint (compressed)."""
    ms: float
    """Time to capture, encode and write it."""


class RunResume(Event):
    """The run continues from a checkpoint (after a crash, a stop or a pause), or a fork
    starts from one; ``cycle`` is the checkpoint's cycle, events of later cycles written
    before this one were lost with the process that wrote them."""

    event: Literal["run.resume"] = "run.resume"
    checkpoint: str
    """``RUN@CYCLE`` resumed from."""
    fork: bool = False
    """A new run started from another run's checkpoint."""
    overrides: dict[str, Any] = Field(default_factory=dict)
    """Settings a fork changed (dotted scenario keys)."""
    decision: str | None = None
    """How a pause was answered: ``approve``, ``edit`` or ``reject``."""


class RunPause(Event):
    """The run checkpointed and stopped to ask a person (an ``approval:`` point)."""

    event: Literal["run.pause"] = "run.pause"
    point: str
    """Which approval point: ``respond`` or ``admit``."""
    question: str
    """What the person is asked."""
    text: str
    """What awaits approval (the answer, or the input to be stored)."""


class ToolCalled(Event):
    """The workspace runs a tool a winning thought proposed."""

    event: Literal["tool.call"] = "tool.call"
    call: str
    """``t<cycle>.<n>``: pairs the call with its result."""
    tool: str
    arguments: dict[str, Any]
    candidate: str
    """The thought that proposed it."""


class ToolResult(Event):
    """What a tool call returned, or why it failed (then ``ok`` is false): the next cycle
    perceives it as an input from ``tool:<name>``."""

    event: Literal["tool.result"] = "tool.result"
    call: str
    tool: str
    ok: bool
    result: str | None = None
    error: str | None = None
    ms: float
