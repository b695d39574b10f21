"""One run of a workspace, from its plan to its result, in a scope of its own.

An `Execution` owns everything one run opens (trace, export, inbox, bus, hub, agent runners,
long-term memory, cassette, checkpointer) and releases it whatever way the run ends; nothing
leaks from one run into the next. The `Workspace` builds one per `run`, `fork` or resume.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gwa.agents.agent import Agent, LLMAgent
from gwa.agents.cassette import Cassette, RecordingModel
from gwa.broadcast import Envelope, LocalBus, Sender, Topics
from gwa.cycle import CycleState, Inbox, Outcome, Status, run_cycles
from gwa.durable import (
    Checkpointer,
    RunPlan,
    models_state,
    restart_run,
    restore_models,
    restore_run,
    run_facts,
    trace_position,
)
from gwa.errors import GwaError
from gwa.hub import AgentRunner, Hub, RemoteAgent
from gwa.runs import RunInfo, owner_id
from gwa.runscope import (
    announce_and_wait,
    announce_end,
    failed,
    open_export,
    open_transport,
    run_start,
    write_end,
)
from gwa.tools import Toolbox
from gwa.tools.loading import open_toolbox
from gwa.trace import Redactor, TraceWriter
from gwa.types import RunId, Usage

if TYPE_CHECKING:
    from gwa.memory.shared import SharedMemory
    from gwa.workspace import Workspace


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


class Execution:
    """One run of ``ws`` following ``plan``."""

    def __init__(self, ws: Workspace, plan: RunPlan) -> None:
        self.ws = ws
        self.plan = plan
        self.state = CycleState(temperature=ws.scenario.workspace.temperature)
        self.toolbox: Toolbox | None = None
        self.secrets = ws.known_secrets()
        """Read once a run (the environment's scan is not cheap)."""
        self.redact = ws._redactor = Redactor(self.secrets)

    def _trace(self) -> TraceWriter:
        plan, ws = self.plan, self.ws
        path = ws.trace_path_for(plan.run)
        if plan.resumed:
            at = plan.facts.get("trace")
            path = Path(at) if at else None
        seq = 0
        if plan.resumed and path is not None:
            seq, plan.traced = trace_position(path)
        trace = TraceWriter(plan.run, path, secrets=self.secrets, append=plan.resumed, seq=seq)
        trace.listeners.extend(ws._listeners)
        for hear, line in ws._raw_listeners:
            (trace.line_listeners if line else trace.record_listeners).append(hear)
        return trace

    async def run(self) -> RunResult:
        """Run the plan; return how it ended."""
        ws, plan = self.ws, self.plan
        agents = ws.build_agents()
        trace = self._trace()
        exporting = open_export(ws.scenario, ws._otlp, *ws._providers)
        if exporting is not None:
            trace.listeners.append(exporting)
        inbox = Inbox(ws._bus or LocalBus(), Topics(plan.run), Sender("workspace-control"))
        ws._inbox = inbox
        for text, origin in plan.inputs:
            inbox.receive(text, origin=origin)
        try:
            outcome = await self._scoped(agents, trace, inbox)
        finally:
            ws._redactor = None
            if exporting is not None:
                exporting.close()
        return RunResult(
            run=plan.run,
            status=outcome.status,
            reason=outcome.reason,
            answer=outcome.answer,
            cycles=outcome.cycles,
            usage=outcome.usage,
            trace_path=trace.path,
            outputs=outcome.outputs,
        )

    def _checkpointer(self, trace: TraceWriter) -> Checkpointer | None:
        """Record the run in the store (unless it resumes) and make its checkpointer."""
        ws, plan = self.ws, self.plan
        store = ws.checkpoint_store()
        if store is None:
            return None
        redact = self.redact
        goal = redact.text(plan.goal)  # stored without secrets (a resume reads it back so)
        facts = {
            "goal": goal,
            **run_facts(ws.scenario, self.secrets),
            "trace": str(trace.path) if trace.path else None,
            "base_dir": str(ws.base_dir) if ws.base_dir else None,
        }
        if not plan.resumed:
            now = time.time()
            parent = plan.checkpoint.id if plan.checkpoint is not None else None
            info = RunInfo(
                plan.run, ws.scenario.name, facts["scenario_hash"], goal, "running", "",
                0, facts["trace"], parent, None, None, now, now, facts=facts,
            )  # fmt: skip
            store.begin(info, owner_id())
        return Checkpointer(store, plan.run, lambda: models_state(ws.all_models()), redact)

    async def _scoped(self, agents: list[Agent], trace: TraceWriter, inbox: Inbox) -> Outcome:
        """The run inside its resource scope; ``run.end`` is written (and the store told how
        the run ended) on every way out."""
        started = time.monotonic()
        try:
            checkpointer = self._checkpointer(trace)
            async with contextlib.AsyncExitStack() as stack:
                outcome = await self._cycle(stack, agents, trace, inbox, checkpointer)
        except BaseException as exc:
            outcome = failed(exc, self.state, time.monotonic() - started)
            write_end(trace, outcome, exc)
            self._finish(outcome)
            raise
        write_end(trace, outcome, None)
        self._finish(outcome)
        return outcome

    def _finish(self, outcome: Outcome) -> None:
        store = self.ws.checkpoint_store()
        if store is not None:
            with contextlib.suppress(GwaError):  # the run's own error is the one to report
                store.finish(self.plan.run, outcome.status, outcome.reason, self.state.pending)

    async def _open(
        self,
        stack: contextlib.AsyncExitStack,
        agents: list[Agent],
        trace: TraceWriter,
        inbox: Inbox,
    ) -> tuple[Hub, SharedMemory | None, list[Agent]]:
        """Acquire the run's resources on ``stack`` (released in reverse): the cassette being
        recorded, the transport, the local agents' runners, long-term memory."""
        ws, bus = self.ws, inbox.bus
        if ws._options.record is not None:
            cassette, record = Cassette(), ws._options.record
            agents = [_recording(a, cassette) for a in agents]
            stack.callback(cassette.save, record, redact=self.redact.text)
        hub = await open_transport(stack, bus, inbox, trace, own_bus=ws._bus is None)
        for agent in agents:
            if not isinstance(agent, RemoteAgent):
                runner = AgentRunner(agent, bus, inbox.topics)
                runner.attach()
                stack.push_async_callback(runner.detach)
        shared = ws.open_memory()
        if shared is not None:
            stack.callback(shared.close)
        self.toolbox = await self._tools(stack, agents)
        return hub, shared, agents

    async def _tools(self, stack: contextlib.AsyncExitStack, agents: list[Agent]) -> Toolbox | None:
        """The run's tools (MCP servers connected on ``stack``), told to the agents allowed
        them."""
        ws = self.ws
        if not ws.scenario.tools and not ws.tools:
            return None
        box = await open_toolbox(stack, ws.scenario, ws.base_dir, ws.tools)
        specs = {a.name: a for a in ws.scenario.agents}
        for agent in agents:
            if isinstance(agent, LLMAgent) and agent.name in specs:
                agent.tools = tuple(box.infos(specs[agent.name].tools))
        return box

    async def _tokens(self, stack: contextlib.AsyncExitStack, inbox: Inbox) -> bool:
        """Forward the agents' output pieces to the token listeners (if there are any)."""
        listeners = list(self.ws.token_listeners)
        if not listeners:
            return False

        async def forward(envelope: Envelope) -> None:
            agent, text = str(envelope.payload.get("agent")), str(envelope.payload.get("text"))
            for listener in listeners:
                listener(agent, text)

        handle = inbox.bus.handle(inbox.topics.tokens, forward)
        stack.push_async_callback(handle.cancel)
        return True

    def _begin(self, trace: TraceWriter, agents: list[Agent], shared: SharedMemory | None) -> None:
        """``run.start`` for a new run or a fork; for a run lost before its first checkpoint,
        ``run.resume`` from cycle 0 and its memories removed first."""
        ws, plan = self.ws, self.plan
        if plan.again and plan.checkpoint is None:
            restart_run(trace, plan, self._rewind(shared))
        if plan.checkpoint is None or plan.fork:
            reason = ws.model_choice.reason if ws.model_choice else None
            trace.emit(run_start(ws.scenario, plan.goal, agents, reason))

    def _rewind(self, shared: SharedMemory | None) -> Callable[[Any], None]:
        def rewind(at: Any) -> None:
            if shared is not None:
                shared.rewind(self.plan.run, at)

        return rewind

    async def _cycle(
        self,
        stack: contextlib.AsyncExitStack,
        agents: list[Agent],
        trace: TraceWriter,
        inbox: Inbox,
        checkpointer: Checkpointer | None,
    ) -> Outcome:
        """Open the run, start or restore it, then cycle."""
        ws, plan, bus = self.ws, self.plan, inbox.bus
        hub, shared, agents = await self._open(stack, agents, trace, inbox)
        self._begin(trace, agents, shared)
        if ws.remote_agents:
            await announce_and_wait(
                bus, inbox, trace, ws.scenario.name, ws.remote_agents, ws.join_timeout_s
            )
        ctx = ws.context(plan.goal, agents, hub, trace, inbox, shared)
        ctx.checkpoint, ctx.decision = checkpointer, plan.decision
        ctx.tools = self.toolbox
        if await self._tokens(stack, inbox):
            ctx.stream = self.ws.stream_when or (lambda: True)
        state = self.state
        state.temperature = ctx.temperature.temperature()
        if ctx.scenario.drive is not None:
            state.window = ctx.scenario.drive.window
        if plan.checkpoint is not None:
            restore_models(ws.all_models(), plan.checkpoint.state.get("models", {}))
            restore_run(ctx, state, plan, self._rewind(shared))
        outcome = await run_cycles(ctx, state)
        if ws.remote_agents:
            await announce_end(bus, inbox)
        return outcome


def _recording(agent: Agent, cassette: Cassette) -> Agent:
    if isinstance(agent, LLMAgent) and not isinstance(agent.model, RecordingModel):
        agent.model = RecordingModel(agent.model, cassette)
    return agent
