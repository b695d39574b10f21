"""The fixed collaborators of one run's cycles, and how a phase asks its agents.

`CycleContext` holds what does not change while a run cycles (the scenario, the hub, the
trace, the inbox, working memory, the temperature source, long-term memory) and `ask`, the
scatter-gather every phase uses: it publishes one request for the agents of a phase, waits
for their replies until the deadline, traces each model call and each failure, and returns
the valid outputs as the role's typed output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel

from gwa.agents.agent import Agent
from gwa.cycle.inbox import Inbox
from gwa.cycle.state import CycleState, Decision
from gwa.drive import TemperatureSource, clamp
from gwa.events import AgentAbsent, AgentError, AgentJoin, ModelCall
from gwa.hub import Hub, Reply
from gwa.memory import AdmissionSink, Retriever, WorkingMemory
from gwa.scenario import AgentSpec, Scenario
from gwa.tools import Toolbox
from gwa.trace import TraceWriter
from gwa.types import Phase, Request, RunId, Usage

Out = TypeVar("Out", bound=BaseModel)


@dataclass(slots=True)
class CycleContext:
    """What the phases of one run work with (everything but the mutable `CycleState`)."""

    scenario: Scenario
    goal: str
    agents: Sequence[Agent]
    hub: Hub
    trace: TraceWriter
    inbox: Inbox
    memory: WorkingMemory
    temperature: TemperatureSource
    retriever: Retriever
    admission: AdmissionSink
    remote: frozenset[str] = frozenset()
    """Agents that answer from another process."""
    checkpoint: Callable[[CycleContext, CycleState], None] | None = None
    """Called at the end of every cycle (the run's checkpointer), after any answer."""
    decision: Decision | None = None
    """A person's answer to the question a resumed run paused on."""
    tools: Toolbox | None = None
    """The run's tools (None: no agent can act)."""
    stream: Callable[[], bool] = lambda: False
    """Asked before each request: should agents publish their output text as it is
    generated (someone watches tokens)?"""
    by_phase: dict[Phase, list[Agent]] = field(init=False)
    specs: dict[str, AgentSpec] = field(init=False)

    def __post_init__(self) -> None:
        self.by_phase = {p: [] for p in Phase}
        for agent in self.agents:
            self.by_phase[agent.role.phase].append(agent)
        self.specs = {a.name: a for a in self.scenario.agents}

    @property
    def run_id(self) -> RunId:
        """The run's id."""
        return RunId(self.trace.run)

    def role_of(self, agent: str) -> str:
        """The scenario role of an agent ('' for one registered in code)."""
        spec = self.specs.get(agent)
        return spec.role if spec is not None else ""

    def params(self, agent: Agent, state: CycleState) -> tuple[float, int]:
        """(temperature, max_tokens) for an agent's turn: its own setting, else the drive's
        temperature for generators and the role temperature for the rest, within its bounds."""
        ws = self.scenario.workspace
        spec = self.specs.get(agent.name)
        low, high = spec.temperature_bounds if spec else (0.0, 2.0)
        if spec is not None and spec.temperature is not None:
            t = spec.temperature
        elif agent.role.output == "candidates":
            t = state.temperature
        else:
            t = ws.role_temperature
        max_tokens = spec.max_tokens if spec and spec.max_tokens else ws.max_tokens
        return round(clamp(t, low, high), 4), max_tokens

    def trace_calls(self, state: CycleState, agent: str, reply: Reply) -> None:
        """A ``model.call`` event per model call of a reply; its tokens join the usage."""
        for call in reply.calls:
            state.usage += Usage(call.prompt_tokens, call.completion_tokens)
            self.trace.emit(
                ModelCall(
                    cycle=state.cycle,
                    agent=agent,
                    provider=call.model.partition(":")[0],
                    model=call.model,
                    temperature=call.temperature,
                    max_tokens=call.max_tokens,
                    tokens_in=call.prompt_tokens,
                    tokens_out=call.completion_tokens,
                    latency_ms=round(call.latency_ms, 2),
                    attempt=call.attempt,
                    ok=call.ok,
                    error=call.error,
                )
            )

    async def ask(
        self,
        state: CycleState,
        phase: Phase,
        request: Request,
        agents: Sequence[Agent],
        out: type[Out],
    ) -> list[tuple[Agent, Out]]:
        """Ask the agents of a phase; trace calls and failures; return the valid outputs in
        the scenario's agent order (not arrival order, so replays write the same events)."""
        for stale in self.hub.take_stale():
            self.trace_calls(state, stale.agent, stale)
        agents = self._present(state.cycle, agents)
        if not agents:
            return []
        state.requests += 1
        deadline = self.scenario.workspace.agent_deadline_s
        replies = await self.hub.gather(
            f"{state.cycle}.{phase.value}.{state.requests}",
            request,
            {a.name: self.params(a, state) for a in agents},
            timeout_s=deadline,
            seed=self.scenario.workspace.seed,
            stream=self.stream(),
        )
        results: list[tuple[Agent, Out]] = []
        for agent in agents:
            reply = replies.get(agent.name)
            if reply is None:
                if agent.name in self.remote:
                    self.inbox.mark_absent(
                        agent.name, f"no reply within {deadline:g} s (cycle {state.cycle})"
                    )
                self._error(state, agent, phase, "late", f"no reply within {deadline:g} s")
                continue
            self.trace_calls(state, agent.name, reply)
            if reply.ok and reply.output is not None:
                results.append((agent, out.model_validate(reply.output)))
            else:
                self._error(state, agent, phase, reply.error_type or "error", reply.error or "")
        return results

    def _error(
        self, state: CycleState, agent: Agent, phase: Phase, error_type: str, error: str
    ) -> None:
        self.trace.emit(
            AgentError(
                cycle=state.cycle,
                agent=agent.name,
                phase=phase.value,
                error_type=error_type,
                error=error,
            )
        )

    def _present(self, cycle: int, agents: Sequence[Agent]) -> list[Agent]:
        """Trace joins and leaves; drop remote agents that are not (or no longer) present."""
        for agent, what, detail in self.inbox.take_presence():
            kind = AgentJoin if what == "join" else AgentAbsent
            self.trace.emit(kind(cycle=cycle, agent=agent, detail=detail))
        return [a for a in agents if a.name not in self.remote or a.name in self.inbox.present]
