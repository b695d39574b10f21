"""`gwa trace export` and `gwa schema`: recorded runs to OpenTelemetry, and the JSON schemas."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gwa.errors import ConfigError
from gwa.events import trace_schema
from gwa.scenario import Scenario
from gwa.trace import read_trace


def add_commands(sub: Any) -> None:
    """Register `gwa trace`."""
    tr = sub.add_parser("trace", help="work with recorded traces")
    ts = tr.add_subparsers(dest="trace_command", required=True)
    ex = ts.add_parser(
        "export", help="send a recorded run to an OTLP/HTTP backend as spans (original times)"
    )
    ex.add_argument("trace", type=Path)
    ex.add_argument("--otlp", metavar="URL", required=True, help="e.g. http://127.0.0.1:4318")
    ex.add_argument(
        "--header", action="append", default=[], metavar="K=V", help="an export header; repeat"
    )
    ex.add_argument("--service", default="gwa", help="the service.name resource attribute")


def cmd_trace(args: argparse.Namespace) -> int:
    """`gwa trace export`."""
    from gwa.telemetry import OtlpTarget, export_trace, metrics_wanted, parse_headers

    if not args.otlp.startswith(("http://", "https://")):
        raise ConfigError(f"--otlp must be an http(s) URL, got {args.otlp!r}")
    target = OtlpTarget(args.otlp, parse_headers(",".join(args.header)), metrics=metrics_wanted())
    n = export_trace(read_trace(args.trace), target, service=args.service)
    print(f"exported {n} events of {args.trace} to {target.traces_url}", file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """`gwa schema [--trace]`."""
    doc = trace_schema() if args.trace else Scenario.model_json_schema()
    print(json.dumps(doc, indent=2))
    return 0
