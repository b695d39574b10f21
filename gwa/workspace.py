"""The Workspace: conducts cycles over the bus between agents, memory, drive and trace.

A run's resources (trace, bus, hub, inbox, agent runners, long-term memory, cassette) live in one
`contextlib.AsyncExitStack`: whatever way a run ends (an answer, a stop, a timeout, an exception,
a cancellation, Ctrl-C) they are released in reverse order, ``run.end`` is written (status
``error`` or ``cancelled`` with the error type where one escaped) and the trace is closed.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gwa.agents.agent import Agent
from gwa.agents.models import ChatModel
from gwa.assembly import build_agents, build_drive, build_memory, judged
from gwa.broadcast import Bus
from gwa.cycle import CycleContext, Decision, Inbox
from gwa.drive import TemperatureSource
from gwa.durable import RunPlan, apply_overrides, plan_resume, stored_scenario
from gwa.errors import ConfigError
from gwa.events import Event
from gwa.execution import Execution, RunResult
from gwa.hub import Hub
from gwa.memory import AdmissionSink, NullRetriever, NullSink, Retriever, WorkingMemory
from gwa.resolve import Resolved, build_model, resolve_default
from gwa.runs import CheckpointStore, open_store, owner_id
from gwa.scenario import ModelSpec, Scenario, load_scenario
from gwa.scenario.spec import fill_template
from gwa.tools import Tool, as_tool
from gwa.trace import Redactor, TraceWriter, secrets_from_env
from gwa.types import RunId

if TYPE_CHECKING:
    from gwa.memory.shared import SharedMemory

__all__ = ["Decision", "RunResult", "Workspace", "build_drive", "build_memory"]


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
        otlp: str | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        runs: str | Path | CheckpointStore | Literal[False] | None = None,
        tools: Sequence[Tool | Callable[..., Any]] = (),
    ) -> None:
        self.scenario = scenario
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self._models: dict[str, ChatModel] = dict(models or {})
        self._built: dict[str, ChatModel] = {}
        self._extra_agents: list[Agent] = list(agents)
        self._bus, self._temperature_source = bus, temperature
        self.retriever, self.admission = retriever or NullRetriever(), admission or NullSink()
        self._override = model_override
        self.remote_agents = tuple(remote_agents)
        """Agents of the scenario that run elsewhere (`gwa agent`) and answer over the bus."""
        self.join_timeout_s = join_timeout_s
        _check_remote(scenario, self.remote_agents, bus)
        self._options = _Options(trace_path=_where(trace_path), memory_path=_where(memory_path))
        self._listeners: list[Callable[[Event], None]] = []
        self._raw_listeners: list[tuple[Callable[..., None], bool]] = []  # (fn, raw="line")
        self.token_listeners: list[Callable[[str, str], None]] = []
        self.stream_when: Callable[[], bool] | None = None  # with token listeners: stream now?
        self._inbox: Inbox | None = None
        self._redactor: Redactor | None = None  # a run's (secrets read once a run)
        self._otlp = otlp
        self._providers = (tracer_provider, meter_provider)  # never the global providers
        self.model_choice: Resolved | None = None
        """The default model and why it was chosen (set once agents are built)."""
        self.tools: list[Tool] = [as_tool(t) for t in tools]
        """Tools registered in Python; agents name them in their ``tools:`` allowlist."""
        self.runs = runs
        """The checkpoint store (a path, a ``postgresql://`` URL, a store, or False for no
        checkpoints); None: ``$GWA_RUNS``, else ``.gwa/runs.sqlite``."""

    @classmethod
    def from_yaml(cls, path: str | Path, **kwargs: Any) -> Workspace:
        """A workspace from a scenario file (relative paths in it are taken from its folder)."""
        p = Path(path)
        kwargs.setdefault("base_dir", p.parent)
        return cls(load_scenario(p), **kwargs)

    @classmethod
    def from_run(
        cls, run: str, *, runs: str | Path | CheckpointStore | None = None, **kwargs: Any
    ) -> Workspace:
        """A workspace with the scenario a stored run was checkpointed with (to resume it
        without its scenario file)."""
        store = open_store(runs) if isinstance(runs, str | Path | None) else runs
        info = store.info(run)
        kwargs.setdefault("base_dir", info.facts.get("base_dir"))
        return cls(stored_scenario(info), runs=store, **kwargs)

    def register_model(self, name: str, model: ChatModel) -> None:
        """Use ``model`` for agents whose ``model`` field is ``name`` (``default`` for all)."""
        self._models[name] = model

    def register_tool(self, tool: Tool | Callable[..., Any]) -> None:
        """Add a tool: a `gwa.tools.Tool`, or a function (its type hints give the schema)."""
        self.tools.append(as_tool(tool))

    def register_agent(self, agent: Agent) -> None:
        """Add a custom agent (any object with ``name``, ``role`` and ``act``)."""
        self._extra_agents.append(agent)

    def record_to(self, path: str | Path) -> None:
        """Record every model call of the next run to a cassette file (for ``--replay``)."""
        self._options.record = Path(path)

    def add_listener(
        self, listener: Callable[..., None], *, raw: bool | Literal["line"] = False
    ) -> None:
        """Call ``listener`` with every trace event (a typed `gwa.events.Event`) as it is
        written; ``raw=True``: with the record as written (a dict of JSON data, cheaper);
        ``raw="line"``: ``listener(record, line)``, its JSON text too (not serialised again)."""
        if raw:
            self._raw_listeners.append((listener, raw == "line"))
        else:
            self._listeners.append(listener)

    def add_token_listener(self, listener: Callable[[str, str], None]) -> None:
        """Call ``listener(agent, text)`` with each piece of every agent's output as it is
        generated, in the runs started from now on (models that stream: the embedded model, the
        fake; others give their output whole). Tokens are not traced."""
        self.token_listeners.append(listener)

    def remove_listener(self, listener: Callable[[Event], None]) -> None:
        """Stop calling ``listener`` for the runs started from now on."""
        self._listeners.remove(listener)

    async def submit(self, text: str) -> None:
        """Send an input to the running workspace; it is perceived at the next cycle."""
        if self._inbox is None:
            raise ConfigError("the workspace is not running; start it with run() or stream()")
        await self._inbox.submit(text)

    def stop(self, reason: str = "stopped by the caller") -> bool:
        """Ask the running run to stop after the current cycle; False if none is running
        (a stop never carries over to a later run)."""
        if self._inbox is None:
            return False
        self._inbox.request_stop(reason)
        return True

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
        return build_agents(
            self.scenario, self._model, remote=self.remote_agents, extra=self._extra_agents
        )

    def trace_path_for(self, run: RunId) -> Path | None:
        """Where a new run's trace goes (None: no trace file)."""
        if self._options.trace_path is False:
            return None
        if self._options.trace_path is not None:
            return self._options.trace_path
        return Path(fill_template(self.scenario.trace.path, scenario=self.scenario.name, run=run))

    def open_memory(self) -> SharedMemory | None:
        """The scenario's long-term memory, unless the caller plugged in their own or none."""
        spec = self.scenario.memory
        if spec is None or not spec.enabled or self._options.memory_path is False:
            return None
        if not isinstance(self.retriever, NullRetriever) or not isinstance(
            self.admission, NullSink
        ):
            return None
        return build_memory(spec, self._options.memory_path, redact=self.redact)

    def known_secrets(self) -> set[str]:
        """Every secret this workspace knows (redacted from all it writes)."""
        found = secrets_from_env()
        found |= {m.api_key for m in self.scenario.models.values() if m.api_key}
        found |= self.scenario.environment_values
        return found

    def redact(self, text: str) -> str:
        """``text`` with every secret this workspace knows replaced (what GWA writes is
        redacted the same way: trace, answers printed by the CLI, cassettes, memory)."""
        return (self._redactor or Redactor(self.known_secrets())).text(text)

    async def run(
        self,
        goal: str | None = None,
        *,
        resume: str | None = None,
        decision: Decision | str | None = None,
        inputs: Sequence[tuple[str, str]] = (),
    ) -> RunResult:
        """Cycle until an answer or a stop condition; return how it ended. ``resume`` (a run
        id or ``last``) continues a stored run from its last checkpoint instead; a paused one
        needs the ``decision`` it waits for (see `resume`). ``inputs`` ((text, origin)
        pairs) are perceived in the first cycle."""
        store = self.checkpoint_store()
        if resume is not None:
            if store is None:
                raise ConfigError("resume needs the checkpoint store: do not pass runs=False")
            d = Decision.parse(decision) if decision is not None else None
            return await self._execute(plan_resume(store, resume, self.scenario, owner_id(), d))
        goal = goal or self.scenario.goal
        if not goal or not goal.strip():
            raise ConfigError(
                "no goal: give one to run(goal) / --goal, or set goal in the scenario"
            )
        run = RunId(time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3))
        return await self._execute(RunPlan(run, goal, inputs=tuple(inputs)))

    async def resume(self, run: str, decision: Decision | str) -> RunResult:
        """Continue a paused run with a person's decision: ``"approve"``, ``"reject"``,
        ``Decision("edit", "new answer")`` or ``Decision("reject", "why")``."""
        return await self.run(resume=run, decision=decision)

    async def decide(self, decision: Decision | str) -> None:
        """Answer the running run's pending question over its control topic (a paused run
        waiting ``approval.wait_s`` goes on at once)."""
        if self._inbox is None:
            raise ConfigError("the workspace is not running; to answer a stopped run use resume()")
        await self._inbox.decide(Decision.parse(decision))

    async def set_idle(self, enabled: bool) -> None:
        """Switch idle thinking of the running run (keep cycling after an answer, or not)."""
        if self._inbox is None:
            raise ConfigError("the workspace is not running")
        await self._inbox.set_idle(enabled)

    async def fork(
        self,
        run: str,
        cycle: int | None = None,
        overrides: dict[str, str] | None = None,
        *,
        inputs: Sequence[str] = (),
    ) -> RunResult:
        """Start a new run from a stored run's checkpoint of ``cycle`` (its last if None),
        with scenario settings changed (dotted keys, e.g. ``{"workspace.temperature":
        "1.1"}``) and ``inputs`` waiting to be perceived."""
        store = self.checkpoint_store()
        if store is None:
            raise ConfigError("fork needs the checkpoint store: do not pass runs=False")
        info = store.info(run)
        checkpoint = store.get(info.run, cycle)
        sets = dict(overrides or {})
        clone = copy.copy(self)
        clone.scenario = apply_overrides(self.scenario, sets) if sets else self.scenario
        clone._built, clone.model_choice = {}, None
        new = RunId(time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3))
        for text in inputs:
            checkpoint.state["inbox"]["inputs"].append([text, "fork"])
        return await clone._execute(RunPlan(new, info.goal, checkpoint, fork=True, overrides=sets))

    async def _execute(self, plan: RunPlan) -> RunResult:
        """Run ``plan`` in its own per-run scope (`gwa.execution.Execution`)."""
        self._inbox = None
        execution = Execution(self, plan)
        try:
            return await execution.run()
        finally:
            self._inbox = None

    def all_models(self) -> dict[str, ChatModel]:
        """The models registered or built so far, by their `models` key."""
        return {**self._models, **self._built}

    def checkpoint_store(self) -> CheckpointStore | None:
        """The run store (opened on first use), None when checkpoints are off."""
        if self.runs is False:
            return None
        if not isinstance(self.runs, str | Path | None):
            return self.runs
        self.runs = open_store(self.runs)
        return self.runs

    def context(
        self,
        goal: str,
        agents: list[Agent],
        hub: Hub,
        trace: TraceWriter,
        inbox: Inbox,
        shared: SharedMemory | None,
    ) -> CycleContext:
        """The fixed collaborators of one run's cycles."""
        ws = self.scenario.workspace
        return CycleContext(
            scenario=self.scenario,
            goal=goal,
            agents=agents,
            hub=hub,
            trace=trace,
            inbox=inbox,
            memory=WorkingMemory(ws.working_memory_tokens, keep_recent=ws.keep_recent),
            temperature=self._temperature_source or build_drive(self.scenario),
            retriever=judged(shared or self.retriever, self.scenario, self._model),
            admission=shared or self.admission,
            remote=frozenset(self.remote_agents),
        )

    async def stream(self, goal: str | None = None) -> AsyncIterator[Event]:
        """Run and yield every trace event (typed) as it happens; the last one is ``run.end``.

        Leaving the loop early stops the run after its current cycle; the workspace can run
        again afterwards.
        """
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._listeners.append(queue.put_nowait)
        task = asyncio.create_task(self.run(goal))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (event := await queue.get()) is not None:
                yield event
            await task
        finally:
            self.remove_listener(queue.put_nowait)
            if not task.done():
                self.stop("the stream consumer stopped reading")
                await task

    def run_sync(self, goal: str | None = None) -> RunResult:
        """`run` for code that is not async (starts its own event loop)."""
        return asyncio.run(self.run(goal))


def _check_remote(scenario: Scenario, remote: Sequence[str], bus: Bus | None) -> None:
    unknown = set(remote) - {a.name for a in scenario.agents}
    if unknown:
        raise ConfigError(
            f"remote agents {', '.join(sorted(unknown))} are not in the scenario; "
            f"its agents: {', '.join(a.name for a in scenario.agents)}"
        )
    if remote and bus is None:
        raise ConfigError("remote agents need a shared bus: pass bus=MqttBus(...) / --bus")


def _where(path: str | Path | Literal[False] | None) -> Path | Literal[False] | None:
    """A path option: False (none at all), None (the scenario's), or a path."""
    if path is False:
        return False
    return Path(path) if path else None
