"""Typed trace events → OpenTelemetry spans and metrics, after the GenAI semantic conventions.

`SpanBuilder` is a trace listener: it turns the events of a run, as they are written (or as a
recorded trace is read back), into

- ``invoke_workflow {scenario}``: the run (``gen_ai.conversation.id`` is the run id);
- ``cycle {n}``: each cycle, with its winner, tag, temperature and entropy H;
- ``invoke_agent {agent}`` (INTERNAL): an agent's turn (its model calls, a repair included);
- ``chat {model}`` (CLIENT): each model call, with the request and usage attributes;
- ``search_memory`` / ``create_memory`` / ``update_memory``: retrievals, admissions,
  consolidations;

and records ``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration``. Span
times are the events' own timestamps, so a replayed trace keeps its original timeline.
Message content (texts, queries, answers) is attached only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is true; the trace writer has already
removed secrets from every event it hands on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.metrics import Meter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context

from gwa.events import (
    AgentError,
    CycleStart,
    DeadlockSeen,
    DriveUpdate,
    Event,
    MemoryAdmit,
    MemoryConsolidate,
    MemoryRetrieve,
    ModelCall,
    ResponseGiven,
    RunEnd,
    RunStart,
    SelectionMade,
)

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
PROVIDERS = {"local": "llama_cpp", "openai": "openai", "langchain": "langchain"}
"""GWA's provider prefix → ``gen_ai.provider.name``."""


def capture_content() -> bool:
    """Whether message content may be put on spans (the standard opt-in variable)."""
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in ("1", "true", "yes")


def _ns(ts: float) -> int:
    return int(ts * 1e9)


@dataclass(slots=True)
class _Run:
    span: Span
    scenario: str
    seed: int | None
    cycle: Span | None = None
    turns: dict[str, Span] = field(default_factory=dict)
    """Open agent-turn spans of the current cycle, by agent."""


class SpanBuilder:
    """Builds the spans of the runs whose events it is handed (one builder may see several)."""

    def __init__(self, tracer: Tracer, meter: Meter | None = None, *, content: bool | None = None):
        self.tracer = tracer
        self.content = capture_content() if content is None else content
        self._runs: dict[str, _Run] = {}
        self._tokens = self._duration = None
        if meter is not None:
            self._tokens = meter.create_histogram(
                "gen_ai.client.token.usage", unit="{token}", description="tokens per model call"
            )
            self._duration = meter.create_histogram(
                "gen_ai.client.operation.duration", unit="s", description="model call duration"
            )

    def __call__(self, event: Event) -> None:
        """Fold one event in (a trace listener)."""
        if isinstance(event, RunStart):
            self._start_run(event)
            return
        run = self._runs.get(event.run)
        if run is None:
            return  # a run that started before this builder listened
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, run, event)

    def _start_run(self, e: RunStart) -> None:
        span = self.tracer.start_span(
            f"invoke_workflow {e.scenario}",
            kind=SpanKind.INTERNAL,
            start_time=_ns(e.ts),
            attributes={
                "gen_ai.operation.name": "invoke_workflow",
                "gen_ai.agent.name": e.scenario,
                "gen_ai.conversation.id": e.run,
                "gwa.scenario": e.scenario,
                "gwa.config_hash": e.config_hash,
                "gwa.agents": [a.name for a in e.agents],
            },
        )
        if self.content:
            span.set_attribute("gwa.goal", e.goal)
        self._runs[e.run] = _Run(span, e.scenario, e.seed)

    def _child(self, run: _Run, name: str, kind: SpanKind, e: Event, **attrs: Any) -> Span:
        parent = run.cycle or run.span
        return self.tracer.start_span(
            name,
            context=set_span_in_context(parent),
            kind=kind,
            start_time=_ns(e.ts),
            attributes={"gen_ai.conversation.id": e.run, **attrs},
        )

    def _cycle(self, run: _Run, e: CycleStart) -> None:
        self._close_cycle(run, e.ts)
        run.cycle = self.tracer.start_span(
            f"cycle {e.cycle}",
            context=set_span_in_context(run.span),
            kind=SpanKind.INTERNAL,
            start_time=_ns(e.ts),
            attributes={
                "gwa.cycle": e.cycle or 0,
                "gwa.temperature": e.temperature,
                "gwa.inputs": len(e.inputs),
            },
        )

    def _close_cycle(self, run: _Run, ts: float) -> None:
        for turn in run.turns.values():
            turn.end(_ns(ts))
        run.turns.clear()
        if run.cycle is not None:
            run.cycle.end(_ns(ts))
            run.cycle = None

    def _model_call(self, run: _Run, e: ModelCall) -> None:
        agent = e.agent or "workspace"
        start = e.ts - e.latency_ms / 1000
        turn = run.turns.get(agent)
        if turn is None or e.attempt == 1:
            if turn is not None:
                turn.end(_ns(start))
            turn = self.tracer.start_span(
                f"invoke_agent {agent}",
                context=set_span_in_context(run.cycle or run.span),
                kind=SpanKind.INTERNAL,
                start_time=_ns(start),
                attributes={
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": agent,
                    "gen_ai.conversation.id": e.run,
                },
            )
            run.turns[agent] = turn
        self._chat(run, turn, e, start)

    def _chat(self, run: _Run, turn: Span, e: ModelCall, start: float) -> None:
        provider = PROVIDERS.get(e.provider, e.provider)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": e.model,
            "gen_ai.request.temperature": e.temperature,
            "gen_ai.request.max_tokens": e.max_tokens,
            "gen_ai.usage.input_tokens": e.tokens_in,
            "gen_ai.usage.output_tokens": e.tokens_out,
            "gen_ai.conversation.id": e.run,
            "gwa.attempt": e.attempt,
        }
        if run.seed is not None:
            attrs["gen_ai.request.seed"] = run.seed
        chat = self.tracer.start_span(
            f"chat {e.model}",
            context=set_span_in_context(turn),
            kind=SpanKind.CLIENT,
            start_time=_ns(start),
            attributes=attrs,
        )
        if not e.ok:
            chat.set_attribute("error.type", (e.error or "error").split(":", 1)[0][:100])
            chat.set_status(Status(StatusCode.ERROR))
        chat.end(_ns(e.ts))
        metric = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": e.model,
        }
        if self._tokens is not None and self._duration is not None:
            self._tokens.record(e.tokens_in, {**metric, "gen_ai.token.type": "input"})
            self._tokens.record(e.tokens_out, {**metric, "gen_ai.token.type": "output"})
            self._duration.record(e.latency_ms / 1000, metric)

    def _agent_error(self, run: _Run, e: AgentError) -> None:
        turn = run.turns.get(e.agent or "")
        if turn is not None:
            turn.set_attribute("error.type", e.error_type)
            turn.set_status(Status(StatusCode.ERROR, e.error[:200] if self.content else None))

    def _selection(self, run: _Run, e: SelectionMade) -> None:
        if run.cycle is None:
            return
        run.cycle.set_attribute("gwa.selection.policy", e.policy)
        run.cycle.set_attribute("gwa.selection.tag", e.tag)
        if e.winner is not None:
            run.cycle.set_attribute("gwa.selection.winner", e.winner)
            run.cycle.set_attribute("gwa.selection.agent", e.agent or "")
        if self.content and e.text is not None:
            run.cycle.set_attribute("gwa.selection.text", e.text)

    def _drive(self, run: _Run, e: DriveUpdate) -> None:
        if run.cycle is None:
            return
        run.cycle.set_attribute("gwa.drive.temperature", e.temperature)
        if e.h is not None:
            run.cycle.set_attribute("gwa.drive.entropy", e.h)

    def _deadlock(self, run: _Run, e: DeadlockSeen) -> None:
        if run.cycle is not None:
            run.cycle.add_event(
                "deadlock", {"gwa.deadlock.step": e.step, "gwa.deadlock.level": e.level}, _ns(e.ts)
            )

    def _memory(self, run: _Run, e: Event) -> None:
        op, attrs = _memory_op(e, self.content)
        span = self._child(run, op, SpanKind.CLIENT, e, **attrs)
        span.end(_ns(e.ts))

    def _response(self, run: _Run, e: ResponseGiven) -> None:
        run.span.add_event("response", {"gwa.winner": e.winner}, _ns(e.ts))
        if self.content:
            run.span.set_attribute("gwa.answer", e.answer)

    def _end_run(self, run: _Run, e: RunEnd) -> None:
        self._close_cycle(run, e.ts)
        run.span.set_attributes(
            {
                "gwa.status": e.status,
                "gwa.cycles": e.cycles,
                "gen_ai.usage.input_tokens": e.tokens_in,
                "gen_ai.usage.output_tokens": e.tokens_out,
            }
        )
        if e.status in ("error", "cancelled"):
            run.span.set_attribute("error.type", e.error_type or e.status)
            run.span.set_status(Status(StatusCode.ERROR))
        run.span.end(_ns(e.ts))
        del self._runs[e.run]


def _memory_op(e: Event, content: bool) -> tuple[str, dict[str, Any]]:
    """The GenAI memory operation of a memory event, with its attributes."""
    attrs: dict[str, Any] = {"gen_ai.memory.store.id": "long-term"}
    if isinstance(e, MemoryRetrieve):
        attrs["gen_ai.memory.record.count"] = len(e.memories)
        if content:
            attrs["gen_ai.memory.query.text"] = " | ".join(e.queries)
        return "search_memory", {"gen_ai.operation.name": "search_memory", **attrs}
    if isinstance(e, MemoryAdmit):
        attrs["gen_ai.memory.record.id"] = e.memory_id or ""
        attrs["gwa.admission.p"] = e.p
        return "create_memory", {"gen_ai.operation.name": "create_memory", **attrs}
    assert isinstance(e, MemoryConsolidate)
    attrs["gen_ai.memory.store.id"] = "working"
    attrs["gwa.consolidate.evicted"] = len(e.evicted)
    return "update_memory", {"gen_ai.operation.name": "update_memory", **attrs}


_HANDLERS: dict[type[Event], Any] = {
    CycleStart: SpanBuilder._cycle,
    ModelCall: SpanBuilder._model_call,
    AgentError: SpanBuilder._agent_error,
    SelectionMade: SpanBuilder._selection,
    DriveUpdate: SpanBuilder._drive,
    DeadlockSeen: SpanBuilder._deadlock,
    MemoryRetrieve: SpanBuilder._memory,
    MemoryAdmit: SpanBuilder._memory,
    MemoryConsolidate: SpanBuilder._memory,
    ResponseGiven: SpanBuilder._response,
    RunEnd: SpanBuilder._end_run,
}
