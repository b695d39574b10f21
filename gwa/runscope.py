"""What a run opens and closes around its cycles: the transport (bus, hub, inbox), the remote
agents' announcement, and the ``run.start`` / ``run.end`` records every run writes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gwa.agents.agent import Agent, LLMAgent
from gwa.broadcast import Bus
from gwa.cycle import CycleState, Inbox, Outcome, Status
from gwa.events import AgentAbsent, AgentInfo, RunAnnounce, RunEnd, RunStart, bus_event
from gwa.hub import Hub
from gwa.scenario import Scenario, memo
from gwa.trace import TraceWriter

if TYPE_CHECKING:
    from gwa.telemetry import Exporting


async def open_transport(
    stack: contextlib.AsyncExitStack, bus: Bus, inbox: Inbox, trace: TraceWriter, *, own_bus: bool
) -> Hub:
    """Start the bus (closed with the run when the run owns it), its transport events into
    the trace, the hub and the inbox; each is released by ``stack``."""
    hub = Hub(bus, inbox.topics)
    if own_bus:
        stack.push_async_callback(bus.close)
    await bus.start()
    bus.observe(lambda kind, info: trace.emit(bus_event(kind, info)))
    stack.callback(bus.observe, None)
    await hub.start()
    stack.push_async_callback(hub.stop)
    await inbox.start()
    stack.push_async_callback(inbox.stop)
    return hub


def open_export(
    scenario: Scenario, otlp: str | None, tracer_provider: Any, meter_provider: Any
) -> Exporting | None:
    """A run's OpenTelemetry export: ``otlp`` (``--otlp``), else the scenario's telemetry
    section, else the OTEL_EXPORTER_OTLP_* variables, or the application's providers; None
    (and nothing imported) when none is configured."""
    spec = scenario.telemetry
    url = otlp or (spec.otlp if spec else None)
    env = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if url is None and tracer_provider is None and not env:
        return None
    from gwa.telemetry import OtlpTarget, metrics_wanted, open_exporting, target_from_env

    target = target_from_env()
    if url is not None:
        headers = dict(spec.headers) if spec else {}
        metrics = metrics_wanted() and (spec.metrics if spec else True)
        target = OtlpTarget(url, headers, metrics=metrics)
    return open_exporting(
        target,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        service=spec.service_name if spec else "gwa",
    )


async def announce_and_wait(
    bus: Bus,
    inbox: Inbox,
    trace: TraceWriter,
    scenario: str,
    remote: Sequence[str],
    timeout_s: float,
) -> None:
    """Announce the run (retained, on its control topic) and wait for the remote agents."""
    topics = inbox.topics
    body = {"run": topics.run, "scenario": scenario, "remote": list(remote)}
    await bus.publish(inbox.sender.envelope(topics.control, "announce", body), retain=True)
    trace.emit(RunAnnounce(remote=list(remote), topic=topics.control))
    try:
        async with asyncio.timeout(timeout_s):
            while not set(remote) <= set(inbox.present):
                inbox.joined.clear()
                await inbox.joined.wait()
    except TimeoutError:
        missing = sorted(set(remote) - set(inbox.present))
        detail = f"did not join within {timeout_s:g} s; going on without them"
        trace.emit(AgentAbsent(cycle=0, agent=",".join(missing), detail=detail))


async def announce_end(bus: Bus, inbox: Inbox) -> None:
    """Tell remote workers (retained) that the run is over."""
    topics = inbox.topics
    ended = inbox.sender.envelope(topics.control, "run.end", {"run": topics.run})
    await bus.publish(ended, retain=True)


def _settings(scenario: Scenario) -> tuple[str, dict[str, Any]]:
    settings = scenario.model_dump_json(exclude_defaults=True).encode()
    return hashlib.sha256(settings).hexdigest()[:16], scenario.model_dump(mode="json")


def run_start(
    scenario: Scenario, goal: str, agents: Sequence[Agent], model_reason: str | None
) -> RunStart:
    """The ``run.start`` record: the scenario, its hash, the seed, the goal and the agents."""
    # Only what the scenario sets counts: a GWA that adds a field (with a default) to the
    # scenario model does not change the hash of existing scenarios.
    digest, config = memo(scenario, "run.start", lambda: _settings(scenario))
    return RunStart(
        scenario=scenario.name,
        config_hash=digest,
        config=config,
        seed=scenario.workspace.seed,
        goal=goal,
        model=model_reason,
        agents=[
            AgentInfo(
                name=a.name,
                role=a.role.name,
                output=a.role.output,
                model=a.model.name if isinstance(a, LLMAgent) else "custom",
            )
            for a in agents
        ],
    )


def failed(exc: BaseException, state: CycleState, duration_s: float) -> Outcome:
    """The outcome of a run that an exception or a cancellation ended."""
    cancelled = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
    status: Status = "cancelled" if cancelled else "error"
    reason = "the run was cancelled" if cancelled else f"{type(exc).__name__}: {exc}"
    return state.outcome(status, reason, duration_s)


def write_end(trace: TraceWriter, outcome: Outcome, error: BaseException | None) -> None:
    """Write ``run.end`` and close the trace (every exit path of a run comes through here)."""
    if trace.closed:
        return
    end = RunEnd(
        cycle=outcome.cycles,
        status=outcome.status,
        reason=outcome.reason,
        answer=outcome.answer,
        cycles=outcome.cycles,
        tokens_in=outcome.usage.prompt_tokens,
        tokens_out=outcome.usage.completion_tokens,
        duration_s=round(outcome.duration_s, 3),
    )
    if error is not None:
        end = end.model_copy(update={"error_type": type(error).__name__})
    try:
        trace.emit(end)
    finally:
        trace.close()
