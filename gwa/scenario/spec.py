"""The scenario as a documented pydantic model: every field a YAML scenario may hold."""

from __future__ import annotations

import string
from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from gwa.agents.roles import BUILTIN_ROLES, OutputKind
from gwa.scenario.acting import ApprovalSpec, ToolSpec
from gwa.scenario.base import _Spec

Path_ = tuple[str | int, ...]


class ModelSpec(_Spec):
    """Which chat model to use and how to reach it."""

    provider: Literal["openai", "langchain", "local", "replay", "fake"] = "openai"
    """openai: any OpenAI-compatible endpoint; langchain: a BaseChatModel from `factory`;
    local: the embedded GGUF model; replay: a recorded cassette (`path`); fake: FakeModel."""
    name: str = "gpt-4o-mini"
    """The model name sent to the endpoint."""
    base_url: str | None = None
    """Endpoint URL, e.g. http://127.0.0.1:11434/v1 for Ollama (default: OPENAI_BASE_URL)."""
    api_key: str | None = None
    """Use ${OPENAI_API_KEY} rather than writing a key here (default: OPENAI_API_KEY)."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Per-request timeout in seconds."""
    max_retries: int = Field(default=3, ge=0, le=10)
    """Retries with exponential backoff on 429, 5xx and connection errors."""
    structured_output: Literal["auto", "none", "json_schema", "json_object"] | None = None
    """How each role's JSON schema reaches the server: json_schema (OpenAI, vLLM, Ollama),
    json_object (llama.cpp's server), none (prompting only), or auto (try them in that order,
    remember what works per endpoint). Default: GWA_STRUCTURED_OUTPUT, else auto."""
    factory: str | None = None
    """langchain: 'module:attribute' naming a BaseChatModel or a function returning one."""
    path: str | None = None
    """replay: the cassette file; local: a GGUF file (default: the shipped model)."""
    layout: Literal["as-given", "shared-first"] = "as-given"
    """local: as-given keeps each agent's instructions first; shared-first puts the workspace
    state before them, so the agents of a cycle share it in llama.cpp's KV cache (1.2x faster
    cycles, but the shipped 135M model strays from the goal more often that way)."""
    latency_s: float = Field(default=0.0, ge=0)
    """fake: simulated latency of every call."""
    final_after: int = Field(default=3, ge=0)
    """fake: proposals before the fake marks one final (a large number keeps a run going)."""
    faults: float = Field(default=0.0, ge=0.0, le=1.0)
    """fake: share of calls that fail on purpose (an exception, a timeout, an empty reply,
    invalid JSON or 50 kB of text, in turn): a chaos test of the run's error handling."""


class AgentSpec(_Spec):
    """One agent of the swarm."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    """Unique name (letters, digits, '_', '.', '-')."""
    role: str
    """A built-in role (attention, generator, critic, arbiter, responder, summarizer) or one
    defined under `roles`."""
    model: str = "default"
    """A key of `models`."""
    prompt: str | None = None
    """Replaces the role's standing instruction."""
    candidates: int = Field(default=1, ge=1, le=8)
    """Generators: how many candidates to propose each cycle."""
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    """A fixed temperature; generators otherwise follow the workspace's temperature source."""
    temperature_bounds: tuple[float, float] = Field(default=(0.0, 1.5), strict=False)
    """Limits within which this agent's temperature is kept."""
    max_tokens: int | None = Field(default=None, ge=1, le=8192)
    """Overrides workspace.max_tokens for this agent."""
    tools: list[str] = Field(default_factory=list)
    """Tools this agent may propose calls of (names from ``tools:``; ``"*"``: all). Only
    generators propose actions."""


class RoleSpec(_Spec):
    """A user-defined role."""

    output: OutputKind
    """What it emits; this also fixes the phase it acts in."""
    prompt: str = Field(min_length=1)
    """Its standing instruction."""


class SelectionSpec(_Spec):
    """How one winner is chosen each cycle."""

    policy: Literal["arbiter", "score", "hybrid"] = "hybrid"
    """arbiter: an LLM chooses and tags; score: salience × critic × novelty; hybrid: the score
    shortlists, the arbiter chooses."""
    threshold: float = Field(default=0.0, ge=0.0, le=1.0)
    """Entry threshold: candidates scoring below it cannot win."""
    margin: float = Field(default=0.0, ge=0.0, le=1.0)
    """Winning margin over the runner-up required by the score policy."""
    shortlist: int = Field(default=3, ge=1, le=16)
    """hybrid: how many top-scored candidates the arbiter sees."""
    respond_min_score: float = Field(default=1.0, ge=-5.0, le=5.0)
    """score: a final candidate answers only if its mean critic score reaches this."""


class IdleSpec(_Spec):
    """Idle thinking: keep cycling with no input."""

    enabled: bool = False
    """Keep cycling after an answer, waiting `interval_s` between cycles."""
    interval_s: float = Field(default=5.0, gt=0)
    """Pause between idle cycles; a new input ends the pause at once."""


class WorkspaceSpec(_Spec):
    """Limits and settings of the cycle."""

    max_cycles: int = Field(default=10, ge=1)
    """Stop after this many cycles."""
    agent_deadline_s: float = Field(default=120.0, gt=0)
    """How long a phase waits for its agents; a late agent is traced and skipped."""
    token_budget: int | None = Field(default=None, ge=1)
    """Stop once this many tokens (prompt + completion) have been used."""
    wall_clock_s: float | None = Field(default=None, gt=0)
    """Stop after this many seconds."""
    working_memory_tokens: int = Field(default=400, ge=16)
    """θ: the working-memory budget; over it, older entries are summarised."""
    keep_recent: int = Field(default=2, ge=1)
    """Entries never summarised away."""
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    """Generators' temperature when no drive is configured."""
    role_temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    """Temperature of non-generator roles without their own."""
    max_tokens: int = Field(default=256, ge=1, le=8192)
    """Completion limit per model call."""
    memory_k: int = Field(default=5, ge=0, le=50)
    """Long-term memories recalled per cycle."""
    final_answer: Literal["on_respond", "always"] = "on_respond"
    """on_respond: answer only when a winner is tagged RESPOND; always: also when the run hits
    max_cycles or the token budget, the responder answers from what the workspace holds."""
    seed: int | None = 0
    """Seed passed to models that support one (null: unseeded)."""
    idle: IdleSpec = IdleSpec()
    tool_calls: int = Field(default=20, ge=0)
    """Tool calls allowed per run (past it a call is refused, as a traced result)."""
    actions_per_cycle: int = Field(default=1, ge=1, le=8)
    """Actions run per cycle: the winner's, and, above 1, those of the next best proposals
    (concurrently)."""


class DeadlockSpec(_Spec):
    """When the workspace counts as stuck; each time it does, the drive escalates one step
    (temperature spike → perspective prompt → novelty re-query of memory → stop as stalled)."""

    similarity: float = Field(default=0.9, ge=0.0, le=1.0)
    """δ: a winner at least this similar (cosine) to the previous winner is a repeat."""
    repeats: int = Field(default=3, ge=1)
    """k: this many repeats in a row is a deadlock."""
    h_min: float = Field(default=0.2, ge=0.0, le=1.0)
    """Diversity H below this …"""
    low_cycles: int = Field(default=3, ge=1)
    """… for this many cycles in a row is a deadlock."""
    recovery: int = Field(default=3, ge=1)
    """Cycles without evidence after which a deadlock counts as resolved; the next deadlock
    starts at the step that resolved it."""


class DriveSpec(_Spec):
    """The entropy drive: diversity of recent winners regulates the generators' temperature."""

    enabled: bool = True
    """False: generators use workspace.temperature, and no deadlock is detected."""
    estimator: Literal["spectral", "assignments", "soft_cluster"] = "spectral"
    """spectral: von Neumann entropy of the similarity matrix of the last `window` winners;
    assignments: entropy of their nearest-centroid clusters; soft_cluster: the paper's
    softmax over distances to `clusters` online centroids (see docs/drive.md)."""
    window: int = Field(default=6, ge=2, le=64)
    """W: how many recent winners are measured."""
    clusters: int = Field(default=6, ge=2, le=64)
    """K: online centroids (assignments and soft_cluster)."""
    tau: float = Field(default=0.1, gt=0.0)
    """Softmax temperature of soft_cluster."""
    law: Literal["exp", "pi"] = "exp"
    """exp: T = base + alpha·exp(−beta·H); pi: a PI controller toward `target` diversity."""
    base_temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    alpha: float = Field(default=0.7, ge=0.0, le=2.0)
    beta: float = Field(default=4.0, ge=0.0)
    target: float = Field(default=0.6, ge=0.0, le=1.0)
    """pi: the diversity to steer toward."""
    kp: float = Field(default=0.8, ge=0.0)
    ki: float = Field(default=0.2, ge=0.0)
    min_temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    max_temperature: float = Field(default=1.5, ge=0.0, le=2.0)
    smoothing: float = Field(default=0.5, gt=0.0, le=1.0)
    """Weight of the new value in the moving average of T (1: no smoothing)."""
    spike: float = Field(default=0.5, ge=0.0, le=2.0)
    """Added to T for `spike_cycles` cycles on the first escalation step."""
    spike_cycles: int = Field(default=2, ge=1)
    inhibition: Literal["always", "deadlock", "off"] = "always"
    """Inhibition of return: a near-copy (cosine ≥ deadlock.similarity) of a winner in the
    window may not win again: always, only while a deadlock is being broken, or never. When
    every candidate is a near-copy the cycle has no winner and the attempt counts as a repeat
    for deadlock detection."""
    deadlock: DeadlockSpec = DeadlockSpec()


class JudgeSpec(_Spec):
    """An LLM judge over long-term recall (off unless given): after each retrieval a model
    says whether the memories cover the queries and names searches for what is missing; a
    second round runs them and the two rankings are interleaved. One model call per retrieval."""

    model: str = "default"
    """Which of the scenario's models judges (`default`: the agents' default model)."""
    max_queries: int = Field(default=2, ge=1, le=4)
    """At most this many searches for what is missing."""


class MemorySpec(_Spec):
    """Long-term memory (layer 2): one store shared by every agent and by later runs."""

    enabled: bool = True
    path: str = ".gwa/memory"
    """The store directory (created on first use; relative to the current directory)."""
    url: str | None = None
    """A Chroma server (http://HOST:PORT) instead of a local store; `path` then keeps only the
    marker and the link graph."""
    collection: str = Field(default="gwa_memory", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,62}$")
    embeddings: str = "minilm"
    """minilm (offline, built in) or openai:MODEL (through OPENAI_BASE_URL / OPENAI_API_KEY)."""
    embedding_dim: int | None = Field(default=None, ge=1)
    """Vector size of an openai:MODEL embedding (required for it)."""
    admission: Literal["admit-all", "admit-none", "hand-weighted", "learned"] = "admit-all"
    """Which evicted working-memory entries enter the store: everything, nothing, a
    hand-weighted score, or the learned policy (weights in the store's admission.json)."""
    offer_proposals: bool = False
    """Also offer the proposals that did not win to admission, right after each selection
    (evicted working-memory entries are always offered)."""
    budget: float | None = Field(default=None, gt=0.0, le=1.0)
    """learned: keep about this share of the candidates (the threshold follows the running
    quantile of p), so learning changes *which* candidates are kept, not how many; unset, a
    fixed threshold (0.5, or the one `gwa memory train --dataset` saved with the weights)."""
    exploration: float = Field(default=0.05, ge=0.0, le=1.0)
    """learned: ε, the chance of admitting a rejected candidate while learning."""
    horizon_cycles: int = Field(default=20, ge=1)
    """learned: an admitted memory not cited within this many cycles is penalised."""
    max_distance: float = Field(default=0.85, gt=0.0, le=2.0)
    """Distance gate of retrieval (cosine distance)."""
    hop_weight: float = Field(default=0.2, ge=0.0, le=1.0)
    """Share of a recalled memory's score passed to its link-graph neighbours."""
    lexical_top_bonus: float = Field(default=3.0, ge=0.0, le=10.0)
    """Lift (z-score units) of the lexical index's best match in the fused ranking."""
    entity_weight: float = Field(default=0.45, ge=0.0, le=2.0)
    """Share of a best match's score passed to the memories that mention a name it mentions
    (the name hop for multi-hop questions; 0 turns it off)."""
    author_weight: float = Field(default=0.25, ge=0.0, le=1.0)
    """Share of the best match's score added to the memories whose author (agent) the query
    names, one author only, up to just below the best (0 turns it off)."""
    duplicate_similarity: float = Field(default=0.95, gt=0.0, le=1.0)
    half_life_hours: float = Field(default=168.0, gt=0.0)
    """Retention halves over this time for a memory recalled once; each recall stretches it."""
    judge: JudgeSpec | None = None
    """An LLM judge and second retrieval round (omit it: none; see `JudgeSpec`)."""

    @model_validator(mode="after")
    def _check_embeddings(self) -> MemorySpec:
        if self.embeddings != "minilm":
            kind, _, model = self.embeddings.partition(":")
            if kind != "openai" or not model:
                raise ValueError(
                    f"embeddings must be 'minilm' or 'openai:MODEL', got {self.embeddings!r}"
                )
            if self.embedding_dim is None:
                raise ValueError("openai embeddings need embedding_dim (e.g. 1536)")
        return self


TEMPLATE_FIELDS = ("scenario", "run")
"""The fields a trace path may name."""


def template_problem(template: str) -> str | None:
    """Why a path template is not valid, or None: only ``{scenario}`` and ``{run}``, with no
    attribute, index, conversion or format spec (a template is never evaluated)."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"not a valid path template ({exc}); use {{scenario}} and {{run}}"
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            return (
                f"unknown template field {{{name}}}; a trace path may use "
                f"{{scenario}} and {{run}} only"
            )
    return None


def fill_template(template: str, **fields: str) -> str:
    """A path template with its fields filled (checked by `template_problem` first)."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(fields[name])
    return "".join(out)


class TraceSpec(_Spec):
    """Where the trace goes."""

    path: str = "traces/{scenario}-{run}.jsonl"
    """File path; {scenario} and {run} are filled in (no other field)."""

    @field_validator("path")
    @classmethod
    def _a_template(cls, path: str) -> str:
        problem = template_problem(path)
        if problem is not None:
            raise ValueError(problem)
        return path


class TelemetrySpec(_Spec):
    """OpenTelemetry export of the run's spans and metrics (needs ``pip install 'gwa[otel]'``;
    without this section, ``gwa run --otlp`` or the OTEL_EXPORTER_OTLP_* variables, nothing is
    sent)."""

    otlp: str | None = Field(default=None, pattern=r"^https?://")
    """OTLP/HTTP endpoint, e.g. ``http://127.0.0.1:4318`` (``/v1/traces`` is added)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Headers sent with every export (an API key: use ``${VAR}``)."""
    service_name: str = "gwa"
    """The ``service.name`` resource attribute."""
    metrics: bool = True
    """Export the GenAI metrics too (false for a receiver that takes traces only, e.g.
    Arize Phoenix)."""


class Scenario(_Spec):
    """A GWA scenario: the swarm, its models and how the workspace cycles."""

    name: str = Field(default="scenario", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    """Short name, used in trace file names."""
    description: str = ""
    goal: str | None = Field(default=None, pattern=r"\S")
    """The default goal (``gwa run --goal`` or ``ws.run(goal)`` override it); not blank."""
    identity: str = "You are one specialist of a team thinking together in a shared workspace."
    """The "core self" every role sees first."""
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    """Named models; `default` is used by agents that name none. Without it, the model is
    resolved from the environment (OPENAI_BASE_URL / OPENAI_API_KEY) or the local model."""
    roles: dict[str, RoleSpec] = Field(default_factory=dict)
    """User-defined roles, by name."""
    agents: list[AgentSpec] = Field(min_length=1)
    """The swarm."""
    selection: SelectionSpec = SelectionSpec()
    workspace: WorkspaceSpec = WorkspaceSpec()
    drive: DriveSpec | None = None
    """The entropy drive (omit it, or set enabled: false, for a constant temperature). A
    workspace that idles gets the default drive unless this says ``enabled: false``: idle
    thinking with no drive loops on near-copies."""
    memory: MemorySpec | None = None
    """Long-term memory (omit it for none: working memory only)."""
    trace: TraceSpec = TraceSpec()
    telemetry: TelemetrySpec | None = None
    """OpenTelemetry export (omit it: nothing is sent unless the environment asks)."""
    approval: ApprovalSpec = ApprovalSpec()
    """Where a person approves before the run goes on (none by default)."""
    tools: list[ToolSpec] = Field(default_factory=list)
    """Tools the agents may call (each agent's ``tools:`` says which)."""
    _from_env: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def environment_values(self) -> frozenset[str]:
        """Values the file took from the environment (``${VAR}``): treated as secrets and
        redacted wherever GWA writes (trace, output, cassettes, long-term memory)."""
        return self._from_env

    @model_validator(mode="before")
    @classmethod
    def _idle_has_a_drive(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("drive") is not None:
            return data
        ws = data.get("workspace")
        idle = ws.get("idle") if isinstance(ws, dict) else getattr(ws, "idle", None)
        enabled = idle.get("enabled") if isinstance(idle, dict) else getattr(idle, "enabled", None)
        return {**data, "drive": {}} if enabled is True else data

    def output_of(self, agent: AgentSpec) -> str:
        """The output kind of an agent's role."""
        if agent.role in self.roles:
            return self.roles[agent.role].output
        return BUILTIN_ROLES[agent.role].output
