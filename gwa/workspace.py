"""The Workspace: conducts cycles over the bus between agents, memory, drive and trace."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gwa.agents.agent import Agent, LLMAgent
from gwa.agents.cassette import Cassette, RecordingModel
from gwa.agents.models import ChatModel
from gwa.agents.roles import BUILTIN_ROLES, Role
from gwa.broadcast import Bus, LocalBus, Sender, Topics
from gwa.cycle import CycleRunner, RunState, Status
from gwa.drive import (
    ConstantTemperature,
    DeadlockRules,
    DriveSettings,
    EntropyDrive,
    TemperatureSource,
)
from gwa.errors import ConfigError
from gwa.hub import AgentRunner, Hub, RemoteAgent
from gwa.memory import AdmissionSink, NullRetriever, NullSink, Retriever, WorkingMemory
from gwa.resolve import Resolved, build_model, resolve_default
from gwa.scenario import MemorySpec, ModelSpec, Scenario, load_scenario
from gwa.trace import TraceWriter, secrets_from_env
from gwa.types import RunId, Usage

if TYPE_CHECKING:
    from gwa.memory.shared import SharedMemory


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run ended with."""

    run: RunId
    status: Status
    reason: str
    answer: str | None
    """The last answer given (None if the workspace never responded)."""
    cycles: int
    usage: Usage
    trace_path: Path | None
    outputs: tuple[str, ...] = ()
    """Every answer given (several in idle mode)."""


@dataclass(slots=True)
class _Options:
    trace_path: Path | Literal[False] | None = None
    record: Path | None = None
    memory_path: Path | Literal[False] | None = None


class Workspace:
    """A swarm of agents around one global workspace.

    Build it from a scenario file (`from_yaml`) or a `Scenario` in code, optionally plug in
    models, agents, a bus, a temperature source, a retriever and an admission sink, then
    ``await ws.run(goal)`` or ``async for event in ws.stream(goal)``.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        models: Mapping[str, ChatModel] | None = None,
        agents: Sequence[Agent] = (),
        bus: Bus | None = None,
        temperature: TemperatureSource | None = None,
        retriever: Retriever | None = None,
        admission: AdmissionSink | None = None,
        model_override: ModelSpec | None = None,
        base_dir: str | Path | None = None,
        trace_path: str | Path | Literal[False] | None = None,
        memory_path: str | Path | Literal[False] | None = None,
        remote_agents: Sequence[str] = (),
        join_timeout_s: float = 60.0,
    ) -> None:
        self.scenario = scenario
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self._models: dict[str, ChatModel] = dict(models or {})
        self._built: dict[str, ChatModel] = {}
        self._extra_agents: list[Agent] = list(agents)
        self._bus = bus
        self._temperature_source = temperature
        self.retriever = retriever or NullRetriever()
        self.admission = admission or NullSink()
        self._override = model_override
        self.remote_agents = tuple(remote_agents)
        """Agents of the scenario that run elsewhere (`gwa agent`) and answer over the bus."""
        self.join_timeout_s = join_timeout_s
        unknown = set(self.remote_agents) - {a.name for a in scenario.agents}
        if unknown:
            raise ConfigError(
                f"remote agents {', '.join(sorted(unknown))} are not in the scenario; "
                f"its agents: {', '.join(a.name for a in scenario.agents)}"
            )
        if self.remote_agents and bus is None:
            raise ConfigError("remote agents need a shared bus: pass bus=MqttBus(...) / --bus")
        self._options = _Options(
            trace_path=False if trace_path is False else (Path(trace_path) if trace_path else None),
            memory_path=False
            if memory_path is False
            else (Path(memory_path) if memory_path else None),
        )
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._stop_reason: str | None = None
        self._state: RunState | None = None
        self.model_choice: Resolved | None = None
        """The default model and why it was chosen (set once agents are built)."""

    @classmethod
    def from_yaml(cls, path: str | Path, **kwargs: Any) -> Workspace:
        """A workspace from a scenario file (relative paths in it are taken from its folder)."""
        p = Path(path)
        kwargs.setdefault("base_dir", p.parent)
        return cls(load_scenario(p), **kwargs)

    def register_model(self, name: str, model: ChatModel) -> None:
        """Use ``model`` for agents whose ``model`` field is ``name`` (``default`` for all)."""
        self._models[name] = model

    def register_agent(self, agent: Agent) -> None:
        """Add a custom agent (any object with ``name``, ``role`` and ``act``)."""
        self._extra_agents.append(agent)

    def record_to(self, path: str | Path) -> None:
        """Record every model call of the next run to a cassette file (for ``--replay``)."""
        self._options.record = Path(path)

    def add_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener`` with every trace event as it is written."""
        self._listeners.append(listener)

    async def submit(self, text: str) -> None:
        """Send an input to the running workspace; it is perceived at the next cycle."""
        if self._state is None:
            raise ConfigError("the workspace is not running; start it with run() or stream()")
        await self._state.submit(text)

    def stop(self, reason: str = "stopped by the caller") -> None:
        """Ask the run to stop after the current cycle."""
        self._stop_reason = reason
        if self._state is not None:
            self._state.request_stop(reason)

    def _default_model(self) -> ChatModel:
        if "default" in self._models:
            self.model_choice = Resolved(self._models["default"], "registered in Python")
        elif self.model_choice is None:
            self.model_choice = resolve_default(
                self.scenario.models, base=self.base_dir, override=self._override
            )
        return self.model_choice.model

    def _model(self, key: str) -> ChatModel:
        """The model for a `models` key: registered, else built once and kept (the CLI builds
        the agents before the run to print the model choice; the run reuses what it built)."""
        if key in self._models:
            return self._models[key]
        if key not in self._built:
            self._built[key] = (
                self._default_model()
                if key == "default" or self._override is not None
                else build_model(self.scenario.models[key], base=self.base_dir)
            )
        return self._built[key]

    def build_agents(self) -> list[Agent]:
        """The scenario's agents (with their models) followed by the registered ones."""
        s = self.scenario
        agents: list[Agent] = []
        for spec in s.agents:
            role = BUILTIN_ROLES.get(spec.role) or Role(
                spec.role, s.roles[spec.role].output, s.roles[spec.role].prompt
            )
            if spec.name in self.remote_agents:
                agents.append(RemoteAgent(spec.name, role))
                continue
            model = self._model(spec.model)
            agents.append(
                LLMAgent(
                    spec.name, role, model, instruction=spec.prompt, candidates=spec.candidates
                )
            )
        agents.extend(self._extra_agents)
        names = [a.name for a in agents]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"agent names must be unique; duplicated: {', '.join(dupes)}")
        return agents

    def _trace_path(self, run: RunId) -> Path | None:
        if self._options.trace_path is False:
            return None
        if self._options.trace_path is not None:
            return self._options.trace_path
        return Path(self.scenario.trace.path.format(scenario=self.scenario.name, run=run))

    async def _await_remote(
        self, bus: Bus, topics: Topics, state: RunState, trace: TraceWriter
    ) -> None:
        """Announce the run (retained, on its control topic) and wait for the remote agents."""
        announce = state.sender.envelope(
            topics.control,
            "announce",
            {"run": topics.run, "scenario": self.scenario.name, "remote": list(self.remote_agents)},
        )
        await bus.publish(announce, retain=True)  # type: ignore[call-arg]
        trace.emit("run.announce", remote=list(self.remote_agents), topic=topics.control)
        try:
            async with asyncio.timeout(self.join_timeout_s):
                while not set(self.remote_agents) <= set(state.present):
                    state.joined.clear()
                    await state.joined.wait()
        except TimeoutError:
            missing = sorted(set(self.remote_agents) - set(state.present))
            trace.emit(
                "agent.absent",
                cycle=0,
                agent=",".join(missing),
                detail=f"did not join within {self.join_timeout_s:g} s; going on without them",
            )

    def _open_memory(self) -> SharedMemory | None:
        """The scenario's long-term memory, unless the caller plugged in their own or none."""
        spec = self.scenario.memory
        if spec is None or not spec.enabled or self._options.memory_path is False:
            return None
        if not isinstance(self.retriever, NullRetriever) or not isinstance(
            self.admission, NullSink
        ):
            return None
        return build_memory(spec, self._options.memory_path)

    def _secrets(self) -> set[str]:
        found = secrets_from_env()
        found |= {m.api_key for m in self.scenario.models.values() if m.api_key}
        return found

    async def run(self, goal: str | None = None) -> RunResult:
        """Cycle until an answer or a stop condition; return how it ended."""
        goal = goal or self.scenario.goal
        if not goal or not goal.strip():
            raise ConfigError(
                "no goal: give one to run(goal) / --goal, or set goal in the scenario"
            )
        agents = self.build_agents()
        cassette: Cassette | None = None
        if self._options.record is not None:
            cassette = Cassette()
            agents = [_recording(a, cassette) for a in agents]
        run = RunId(time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3))
        trace = TraceWriter(run, self._trace_path(run), secrets=self._secrets())
        trace.listeners.extend(self._listeners)
        bus = self._bus or LocalBus()
        topics = Topics(run)
        hub = Hub(bus, topics)
        state = RunState(bus, topics, Sender("workspace-control"))
        self._state = state
        if self._stop_reason is not None:
            state.request_stop(self._stop_reason)
        runners = [
            AgentRunner(agent, bus, topics)
            for agent in agents
            if not isinstance(agent, RemoteAgent)
        ]
        shared = self._open_memory()
        retriever = shared or self.retriever
        admission = shared or self.admission
        try:
            await bus.start()
            await hub.start()
            await state.start()
            for runner in runners:
                runner.attach()
            trace.emit("run.start", **self._run_start(goal, agents))
            if hasattr(bus, "on_event"):
                bus.on_event = lambda kind, info: trace.emit(f"bus.{kind}", **info)
            if self.remote_agents:
                await self._await_remote(bus, topics, state, trace)
            cycles = CycleRunner(
                scenario=self.scenario,
                goal=goal,
                agents=agents,
                hub=hub,
                trace=trace,
                state=state,
                memory=WorkingMemory(
                    self.scenario.workspace.working_memory_tokens,
                    keep_recent=self.scenario.workspace.keep_recent,
                ),
                temperature=self._temperature_source or build_drive(self.scenario),
                retriever=retriever,
                admission=admission,
                remote=self.remote_agents,
            )
            outcome = await cycles.run()
            if self.remote_agents:
                ended = state.sender.envelope(topics.control, "run.end", {"run": run})
                await bus.publish(ended, retain=True)  # type: ignore[call-arg]
        finally:
            if shared is not None:
                shared.close()
            for runner in runners:
                await runner.detach()
            await hub.stop()
            await state.stop()
            if self._bus is None:
                await bus.close()
            self._state = None
            if cassette is not None and self._options.record is not None:
                cassette.save(self._options.record)
        trace.emit(
            "run.end",
            cycle=outcome.cycles,
            status=outcome.status,
            reason=outcome.reason,
            answer=outcome.answer,
            cycles=outcome.cycles,
            tokens_in=outcome.usage.prompt_tokens,
            tokens_out=outcome.usage.completion_tokens,
            duration_s=round(outcome.duration_s, 3),
        )
        trace.close()
        return RunResult(
            run=run,
            status=outcome.status,
            reason=outcome.reason,
            answer=outcome.answer,
            cycles=outcome.cycles,
            usage=outcome.usage,
            trace_path=trace.path,
            outputs=outcome.outputs,
        )

    def _run_start(self, goal: str, agents: Sequence[Agent]) -> dict[str, Any]:
        config = self.scenario.model_dump(mode="json")
        digest = hashlib.sha256(self.scenario.model_dump_json().encode()).hexdigest()[:16]
        return {
            "scenario": self.scenario.name,
            "config_hash": digest,
            "config": config,
            "seed": self.scenario.workspace.seed,
            "goal": goal,
            "model": self.model_choice.reason if self.model_choice else None,
            "agents": [
                {
                    "name": a.name,
                    "role": a.role.name,
                    "output": a.role.output,
                    "model": getattr(getattr(a, "model", None), "name", "custom"),
                }
                for a in agents
            ],
        }

    async def stream(self, goal: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Run and yield every trace event as it happens; the last one is ``run.end``."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._listeners.append(queue.put_nowait)
        task = asyncio.create_task(self.run(goal))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (event := await queue.get()) is not None:
                yield event
            await task
        finally:
            self._listeners.remove(queue.put_nowait)
            if not task.done():
                self.stop("the stream consumer stopped reading")
                await task

    def run_sync(self, goal: str | None = None) -> RunResult:
        """`run` for code that is not async (starts its own event loop)."""
        return asyncio.run(self.run(goal))


def _recording(agent: Agent, cassette: Cassette) -> Agent:
    if isinstance(agent, LLMAgent) and not isinstance(agent.model, RecordingModel):
        agent.model = RecordingModel(agent.model, cassette)
    return agent


def build_memory(spec: MemorySpec, path: Path | None = None) -> SharedMemory:
    """Open the long-term store a scenario describes (``path`` overrides its directory)."""
    from gwa.memory.embeddings import Embedder, MiniLMEmbedder, OpenAIEmbedder
    from gwa.memory.shared import (
        AdmissionPolicy,
        AdmitAll,
        AdmitNone,
        HandWeighted,
        LearnedAdmission,
        SharedMemory,
    )
    from gwa.memory.store import LongTermMemory, MemoryConfig

    embedder: Embedder
    if spec.embeddings == "minilm":
        embedder = MiniLMEmbedder.shared()
    else:
        embedder = OpenAIEmbedder(spec.embeddings.partition(":")[2], dim=spec.embedding_dim or 0)
    config = MemoryConfig(
        max_distance=spec.max_distance,
        hop_weight=spec.hop_weight,
        duplicate_similarity=spec.duplicate_similarity,
        half_life_s=spec.half_life_hours * 3600.0,
    )
    store = LongTermMemory(
        path or Path(spec.path),
        url=spec.url,
        collection=spec.collection,
        embedder=embedder,
        config=config,
    )
    policy: AdmissionPolicy
    if spec.admission == "learned":
        weights = store.path / "admission.json" if store.path is not None else None
        learned = LearnedAdmission(horizon=spec.horizon_cycles, path=weights)
        learned.policy.epsilon = spec.exploration
        if spec.budget is not None:
            learned.policy.target_rate = spec.budget
        policy = learned
    elif spec.admission == "hand-weighted":
        policy = HandWeighted()
    else:
        policy = AdmitNone() if spec.admission == "admit-none" else AdmitAll()
    return SharedMemory(store, policy)


def build_drive(scenario: Scenario) -> TemperatureSource:
    """A fresh temperature source for one run: the entropy drive, or a constant."""
    spec = scenario.drive
    if spec is None or not spec.enabled:
        return ConstantTemperature(scenario.workspace.temperature)
    from gwa.memory.embeddings import MiniLMEmbedder

    fields = spec.model_dump(exclude={"enabled", "deadlock", "inhibition"})
    settings = DriveSettings(**fields, rules=DeadlockRules(**spec.deadlock.model_dump()))
    return EntropyDrive(settings, MiniLMEmbedder.shared())
