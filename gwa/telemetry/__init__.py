"""OpenTelemetry export of runs, after the GenAI semantic conventions (optional: ``gwa[otel]``).

Nothing is exported unless asked: by the scenario (``telemetry: {otlp: URL, headers: …}``),
``gwa run --otlp URL``, the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_ENDPOINT`` (with ``OTEL_EXPORTER_OTLP_HEADERS``) variables, or a
``TracerProvider`` / ``MeterProvider`` handed to the workspace. GWA never sets the global
providers: it builds its own for a run (and shuts them down when the run ends) or uses the
ones it is given (which the application flushes). The spans come from the typed trace events
(`gwa.telemetry.spans`), so a recorded trace exports the same way (`export_trace`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gwa.errors import ConfigError
from gwa.events import Event

__all__ = ["Exporting", "OtlpTarget", "export_trace", "open_exporting", "target_from_env"]

INSTALL = "OpenTelemetry export needs the otel extra: pip install 'gwa[otel]'"


@dataclass(frozen=True, slots=True)
class OtlpTarget:
    """Where spans and metrics go: an OTLP/HTTP endpoint and its headers."""

    endpoint: str
    """Base URL (``http://host:4318``) or the traces URL itself (``…/v1/traces``)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    metrics: bool = True
    """Export metrics too (``…/v1/metrics``); off for a receiver that takes traces only
    (Arize Phoenix), or with the standard ``OTEL_METRICS_EXPORTER=none``."""

    @property
    def traces_url(self) -> str:
        """The OTLP/HTTP traces URL."""
        base = self.endpoint.rstrip("/")
        return base if base.endswith("/v1/traces") else f"{base}/v1/traces"

    @property
    def metrics_url(self) -> str:
        """The OTLP/HTTP metrics URL."""
        base = self.endpoint.rstrip("/").removesuffix("/v1/traces")
        return f"{base}/v1/metrics"


def target_from_env(env: Mapping[str, str] | None = None) -> OtlpTarget | None:
    """The target the standard ``OTEL_EXPORTER_OTLP_*`` variables name, if any."""
    env = os.environ if env is None else env
    url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not url:
        return None
    headers = parse_headers(env.get("OTEL_EXPORTER_OTLP_HEADERS", ""))
    return OtlpTarget(url, headers, metrics=metrics_wanted(env))


def metrics_wanted(env: Mapping[str, str] | None = None) -> bool:
    """False when ``OTEL_METRICS_EXPORTER=none`` (the standard switch)."""
    env = os.environ if env is None else env
    return env.get("OTEL_METRICS_EXPORTER", "").strip().lower() != "none"


def parse_headers(text: str) -> dict[str, str]:
    """``k1=v1,k2=v2`` (the OTEL_EXPORTER_OTLP_HEADERS format) as a dict."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"OTLP header {part.strip()!r} must look like key=value")
        out[key.strip()] = value.strip()
    return out


class Exporting:
    """The span builder of one run and the providers it writes to."""

    def __init__(self, tracer_provider: Any, meter_provider: Any, *, owned: bool) -> None:
        from gwa.telemetry.spans import SpanBuilder

        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.owned = owned
        tracer = tracer_provider.get_tracer("gwa")
        meter = meter_provider.get_meter("gwa") if meter_provider is not None else None
        self.builder = SpanBuilder(tracer, meter)

    def __call__(self, event: Event) -> None:
        """A trace listener."""
        self.builder(event)

    def close(self) -> None:
        """Flush; shut down the providers GWA built (never the application's)."""
        for provider in (self.tracer_provider, self.meter_provider):
            if provider is None:
                continue
            if self.owned:
                provider.shutdown()
            else:
                provider.force_flush()


def _owned_providers(target: OtlpTarget, service: str) -> tuple[Any, Any]:
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ConfigError(INSTALL) from None
    resource = Resource.create({"service.name": service})
    tracer_provider = TracerProvider(resource=resource)
    spans = OTLPSpanExporter(endpoint=target.traces_url, headers=dict(target.headers))
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    if not target.metrics:
        return tracer_provider, None
    metrics = OTLPMetricExporter(endpoint=target.metrics_url, headers=dict(target.headers))
    reader = PeriodicExportingMetricReader(metrics, export_interval_millis=60_000)
    return tracer_provider, MeterProvider(resource=resource, metric_readers=[reader])


def open_exporting(
    target: OtlpTarget | None,
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    service: str = "gwa",
) -> Exporting | None:
    """The exporting of one run: to the application's providers if given, else to ``target``
    with providers of its own; None when neither is configured (nothing is built or sent)."""
    if tracer_provider is not None:
        return Exporting(tracer_provider, meter_provider, owned=False)
    if target is None:
        return None
    tracer_provider, meter_provider = _owned_providers(target, service)
    return Exporting(tracer_provider, meter_provider, owned=True)


def export_trace(events: Iterable[Event], target: OtlpTarget, *, service: str = "gwa") -> int:
    """Export a recorded run (its events, read back from a trace) with its original
    timestamps; returns the events read."""
    exporting = open_exporting(target, service=service)
    assert exporting is not None
    n = 0
    try:
        for event in events:
            exporting(event)
            n += 1
    finally:
        exporting.close()
    return n
