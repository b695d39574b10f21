"""Spans and metrics from a replayed cassette, checked in memory; nothing global, nothing sent
unless configured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gwa import Workspace, read_trace
from gwa.scenario import ModelSpec
from gwa.telemetry import OtlpTarget, parse_headers, target_from_env
from gwa.telemetry.spans import SpanBuilder

SCENARIOS = Path(__file__).resolve().parents[2] / "gwa" / "scenarios"
CASSETTE = SCENARIOS / "cassettes" / "brainstorm.json"


def providers() -> tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return tracer_provider, exporter, MeterProvider(metric_readers=[reader]), reader


async def replayed(tmp_path: Path, **kw: Any) -> Workspace:
    ws = Workspace.from_yaml(
        SCENARIOS / "brainstorm.yaml",
        model_override=ModelSpec(provider="replay", path=str(CASSETTE)),
        trace_path=tmp_path / "t.jsonl",
        memory_path=tmp_path / "memory",
        **kw,
    )
    await ws.run()
    return ws


def by_id(spans: tuple[ReadableSpan, ...]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans}


def parent_name(span: ReadableSpan, index: dict[int, ReadableSpan]) -> str | None:
    return index[span.parent.span_id].name if span.parent else None


async def test_a_replayed_run_gives_the_genai_span_tree(tmp_path: Path) -> None:
    """One invoke_workflow root; cycle spans under it; invoke_agent under cycles; chat
    (CLIENT) under invoke_agent with the request and usage attributes; memory operations."""
    tp, exporter, mp, reader = providers()
    await replayed(tmp_path, tracer_provider=tp, meter_provider=mp)
    spans = exporter.get_finished_spans()
    index = by_id(spans)
    (root,) = [s for s in spans if s.parent is None]
    assert root.name == "invoke_workflow brainstorm"
    records = list(read_trace(tmp_path / "t.jsonl"))
    run_id = records[0].run
    assert root.attributes["gen_ai.conversation.id"] == run_id
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    cycles = [s for s in spans if s.name.startswith("cycle ")]
    assert len(cycles) == sum(r.event == "cycle.start" for r in records)
    assert {parent_name(c, index) for c in cycles} == {root.name}
    assert all("gwa.selection.tag" in c.attributes for c in cycles)
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == sum(r.event == "model.call" for r in records)
    for chat in chats:
        assert chat.kind == SpanKind.CLIENT
        assert parent_name(chat, index).startswith("invoke_agent ")
        attrs = chat.attributes
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "llama_cpp"
        assert attrs["gen_ai.request.model"] == "local:SmolLM2-135M-Instruct.Q4_1"
        assert attrs["gen_ai.usage.output_tokens"] > 0
        assert "gen_ai.system" not in attrs
    agents = {s.attributes["gen_ai.agent.name"] for s in spans if s.name.startswith("invoke_agent")}
    assert agents == {"gen-events", "gen-media", "critic", "arbiter", "responder"}
    assert [parent_name(s, index) for s in spans if s.name == "search_memory"]
    tokens_in = sum(r.field("tokens_in") for r in records if r.event == "model.call")
    assert sum(s.attributes["gen_ai.usage.input_tokens"] for s in chats) == tokens_in
    metrics = reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
    assert {m.name for m in metrics} == {
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
    }


async def test_message_content_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Texts reach spans only with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true."""
    tp, exporter, _, _ = providers()
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    await replayed(tmp_path / "a", tracer_provider=tp)
    quiet = exporter.get_finished_spans()
    assert not [
        s for s in quiet if "gwa.selection.text" in s.attributes or "gwa.goal" in s.attributes
    ]
    exporter.clear()
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    await replayed(tmp_path / "b", tracer_provider=tp)
    loud = exporter.get_finished_spans()
    assert [s for s in loud if "gwa.selection.text" in s.attributes]


def test_a_recorded_trace_exports_with_its_original_times(tmp_path: Path) -> None:
    """Spans built from a trace read back start and end at the events' timestamps."""
    import asyncio

    asyncio.run(replayed(tmp_path))
    records = list(read_trace(tmp_path / "t.jsonl"))
    tp, exporter, _, _ = providers()
    builder = SpanBuilder(tp.get_tracer("t"), content=False)
    for r in records:
        builder(r)
    (root,) = [s for s in exporter.get_finished_spans() if s.parent is None]
    assert root.start_time == int(records[0].ts * 1e9)
    assert root.end_time == int(records[-1].ts * 1e9)


def test_nothing_is_built_sent_or_set_globally_unless_configured(tmp_path: Path) -> None:
    """A run with no telemetry configured imports no exporter and leaves the global
    providers alone; one with an application provider does not set them either."""
    code = (
        "import asyncio, sys\n"
        "from opentelemetry import trace, metrics\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from gwa import Workspace, parse_scenario\n"
        "from gwa.agents.testing import FakeModel\n"
        "s = parse_scenario('goal: g\\nagents:\\n  - {name: g, role: generator}\\n"
        "selection: {policy: score}\\nworkspace: {max_cycles: 2}\\n')\n"
        "asyncio.run(Workspace(s, models={'default': FakeModel()}, trace_path=False).run())\n"
        "print('telemetry' if 'gwa.telemetry' in sys.modules else 'none')\n"
        "asyncio.run(Workspace(s, models={'default': FakeModel()}, trace_path=False,"
        " tracer_provider=TracerProvider()).run())\n"
        "print(type(trace.get_tracer_provider()).__name__,"
        " type(metrics.get_meter_provider()).__name__)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    assert out == ["none", "ProxyTracerProvider", "_ProxyMeterProvider"]


def test_targets_from_the_standard_variables() -> None:
    """OTEL_EXPORTER_OTLP_* name the target; the traces URL gets /v1/traces once."""
    assert target_from_env({}) is None
    t = target_from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318", "OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=2"}
    )
    assert t == OtlpTarget("http://h:4318", {"a": "1", "b": "2"})
    assert t.traces_url == "http://h:4318/v1/traces"
    assert OtlpTarget("http://h:4318/v1/traces").traces_url == "http://h:4318/v1/traces"
    assert OtlpTarget("http://h:4318/v1/traces").metrics_url == "http://h:4318/v1/metrics"
    with pytest.raises(Exception, match="key=value"):
        parse_headers("novalue")


def test_a_scenario_names_its_otlp_endpoint_or_is_refused_with_the_place() -> None:
    """telemetry.otlp must be an http(s) URL; the error names the field."""
    from gwa import parse_scenario
    from gwa.errors import ScenarioError

    base = "goal: g\nagents:\n  - {name: g, role: generator}\nselection: {policy: score}\n"
    ok = parse_scenario(base + "telemetry: {otlp: 'http://127.0.0.1:4318', metrics: false}\n")
    assert ok.telemetry is not None
    assert (ok.telemetry.otlp, ok.telemetry.metrics) == ("http://127.0.0.1:4318", False)
    with pytest.raises(ScenarioError, match=r"<scenario>:5:\d+: telemetry\.otlp"):
        parse_scenario(base + "telemetry: {otlp: 'ftp://x'}\n")
