"""The ``gwa`` command: a thin face over the public API."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from gwa import cli_runs, cli_serve, cli_trace
from gwa._version import __version__
from gwa.broadcast import Bus
from gwa.cli_memory import add_commands as add_memory_commands
from gwa.cli_memory import cmd_eval, cmd_memory
from gwa.errors import ConfigError, GwaError, ModelUnavailable, RunsError
from gwa.events import AgentError, CycleStart, Event, ModelCall, SelectionMade
from gwa.resolve import parse_model_option
from gwa.scenario import (
    ModelSpec,
    Scenario,
    builtin_scenarios,
    load_scenario,
    preflight,
    resolve_scenario_path,
)
from gwa.workspace import RunResult, Workspace

EXIT_ANSWERED, EXIT_NO_ANSWER, EXIT_BAD_INPUT = 0, 1, 2


class Progress:
    """Prints one line per cycle (winner, tag, tokens, temperature) as trace events arrive."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.tokens = 0
        self.temperature = 0.0
        self.errors = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, CycleStart):
            self.temperature = event.temperature
            self.console.print(f"[dim]cycle {event.cycle} … T={self.temperature:.2f}[/dim]")
        elif isinstance(event, ModelCall):
            self.tokens += event.tokens_in + event.tokens_out
        elif isinstance(event, AgentError):
            self.errors += 1
            self.console.print(
                f"  [yellow]{escape(str(event.agent))}: {escape(event.error_type)}"
                f"[/yellow] [dim]{escape(event.error[:100])}[/dim]"
            )
        elif isinstance(event, SelectionMade):
            preview = escape((event.text or "(no winner)").replace("\n", " ")[:90])
            who = escape(event.agent or "-")
            self.console.print(
                f"cycle {event.cycle:>3}  [bold]{event.tag:<10}[/bold] "
                f"tokens {self.tokens:>7,}  {who}: {preview}"
            )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gwa", description="Global Workspace Agents: run, check and inspect scenarios."
    )
    p.add_argument("--version", action="version", version=f"gwa {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    _agent_parser(sub)
    val = sub.add_parser("validate", help="check scenario files; errors as file:line:col")
    val.add_argument("files", nargs="+", type=Path)
    _view_parser(sub)
    schema = sub.add_parser(
        "schema", help="print the scenario JSON Schema (or, with --trace, the trace's)"
    )
    schema.add_argument(
        "--trace", action="store_true", help="the JSON Schema of one trace line instead"
    )
    add_memory_commands(sub)
    cli_runs.add_commands(sub)
    cli_serve.add_commands(sub)
    sub.add_parser("scenarios", help="list the shipped scenarios")
    cli_trace.add_commands(sub)
    return p


def _run_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="run a scenario to an answer")
    run.add_argument("scenario", nargs="?", help="a scenario file, or the name of a shipped one")
    run.add_argument("--goal", help="the goal (default: the scenario's goal)")
    run.add_argument(
        "--model", help="fake | local | local:FILE.gguf | replay:CASSETTE | openai:MODEL"
    )
    run.add_argument("--trace", type=Path, help="trace file (default: scenario's trace.path)")
    run.add_argument("--max-cycles", type=int, help="override workspace.max_cycles")
    run.add_argument("--record", type=Path, help="record every model call to this cassette")
    run.add_argument("--replay", type=Path, help="answer every model call from this cassette")
    run.add_argument("--quiet", action="store_true", help="no progress, only the answer")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument(
        "--memory", type=Path, help="long-term store directory (overrides memory.path)"
    )
    run.add_argument("--no-memory", action="store_true", help="run without long-term memory")
    _bus_options(run)
    cli_runs.add_run_options(run)
    run.add_argument(
        "--remote",
        action="append",
        default=[],
        metavar="AGENT",
        help="an agent that runs in another process (`gwa agent`); repeat for several",
    )
    run.add_argument(
        "--join-timeout", type=float, default=60.0, help="seconds to wait for remote agents"
    )
    run.add_argument(
        "--otlp",
        metavar="URL",
        help="export spans and metrics over OTLP/HTTP (needs gwa[otel]), e.g. http://127.0.0.1:4318",
    )


def _agent_parser(sub: Any) -> None:
    agent = sub.add_parser("agent", help="run one agent of a scenario in this process, over MQTT")
    agent.add_argument("scenario", help="a scenario file, or the name of a shipped one")
    agent.add_argument(
        "--role", action="append", required=True, help="an agent's name or sole role; repeatable"
    )
    agent.add_argument("--model", help="fake | local | local:FILE.gguf | replay:FILE | openai:NAME")
    agent.add_argument("--run", help="join this run id (default: the first that expects it)")
    agent.add_argument("--wait", type=float, default=300.0, help="seconds to wait for a run")
    _bus_options(agent, required=True)


def _view_parser(sub: Any) -> None:
    view = sub.add_parser("view", help="open a trace in the viewer (a local web page)")
    view.add_argument("trace", type=Path, nargs="?", help="a trace file (or --serve URL)")
    view.add_argument(
        "--serve", metavar="URL", help="open the live console of a `gwa serve` (GWA_SERVE_TOKEN)"
    )
    view.add_argument("--compare", type=Path, help="a second trace to show side by side")
    view.add_argument("--port", type=int, default=8765, help="port (0: any free one)")
    view.add_argument("--host", default="127.0.0.1", help="address to bind (default: local only)")
    view.add_argument("--live", action="store_true", help="follow a trace that is still written")
    view.add_argument("--no-browser", action="store_true", help="only print the address")


def _bus_options(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    p.add_argument(
        "--bus",
        required=required,
        metavar="URL",
        help="mqtt://HOST:PORT or mqtts://… (user and password: GWA_MQTT_USERNAME / "
        "GWA_MQTT_PASSWORD, or in the URL)",
    )
    p.add_argument("--bus-ca", type=Path, help="CA certificate for mqtts://")
    p.add_argument("--bus-cert", type=Path, help="client certificate for mqtts://")
    p.add_argument("--bus-key", type=Path, help="client key for mqtts://")


def _mqtt_options(args: argparse.Namespace) -> Any:
    import os

    from gwa.broadcast import MqttOptions

    return MqttOptions.from_url(
        args.bus,
        username=os.environ.get("GWA_MQTT_USERNAME"),
        password=os.environ.get("GWA_MQTT_PASSWORD"),
        ca_file=args.bus_ca,
        cert_file=args.bus_cert,
        key_file=args.bus_key,
    )


def _with_max_cycles(scenario: Scenario, n: int | None) -> Scenario:
    if n is None:
        return scenario
    if n < 1:
        raise ConfigError(f"--max-cycles must be at least 1, got {n}")
    ws = scenario.workspace.model_copy(update={"max_cycles": n})
    return scenario.model_copy(update={"workspace": ws})


def _model_override(args: argparse.Namespace) -> ModelSpec | None:
    if args.replay and args.model:
        raise ConfigError("--replay and --model cannot be combined: a replay answers every call")
    if args.replay:
        return parse_model_option(f"replay:{args.replay}")
    return parse_model_option(args.model) if args.model else None


def _bus(args: argparse.Namespace) -> Bus | None:
    if args.bus:
        from gwa.broadcast import MqttBus

        return MqttBus(_mqtt_options(args))
    if args.remote:
        raise ConfigError("--remote needs --bus mqtt://HOST:PORT (agents elsewhere need a broker)")
    return None


def _workspace(args: argparse.Namespace, bus: Bus | None) -> Workspace:
    """The workspace `gwa run` asks for: a scenario file or a stored run's scenario, with the
    command's overrides, checked before anything starts."""
    cli_runs.check_options(args)
    if args.scenario is None:
        scenario, base = cli_runs.stored(args)
    else:
        path = resolve_scenario_path(args.scenario)
        scenario, base = load_scenario(path), path.parent
    scenario = _with_max_cycles(scenario, args.max_cycles)
    override = _model_override(args)
    if args.memory is not None and args.no_memory:
        raise ConfigError("--memory and --no-memory cannot be combined")
    uses_memory = args.memory is None and not args.no_memory
    if args.scenario is not None:
        preflight(
            path, scenario, trace=args.trace is None, memory=uses_memory, models=override is None
        )
    return Workspace(
        scenario,
        runs=args.runs,
        base_dir=base,
        model_override=override,
        trace_path=args.trace,
        memory_path=False if args.no_memory else args.memory,
        bus=bus,
        remote_agents=args.remote,
        join_timeout_s=args.join_timeout,
        otlp=args.otlp,
    )


async def _run(
    args: argparse.Namespace, console: Console
) -> tuple[RunResult, Callable[[str], str]]:
    bus = _bus(args)
    ws = _workspace(args, bus)
    if args.record:
        ws.record_to(args.record)
    ws.build_agents()
    if ws.model_choice is not None:
        console.print(
            f"[bold]model[/bold] {escape(ws.model_choice.model.name)} "
            f"[dim](because {escape(ws.model_choice.reason)})[/dim]"
        )
    if not args.quiet:
        ws.add_listener(Progress(console))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, lambda: ws.stop("interrupted (Ctrl-C)"))
    try:
        if bus is not None:
            await bus.start()
        return await cli_runs.start(ws, args), ws.redact
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if bus is not None:
            await bus.close()


def _cmd_run(args: argparse.Namespace) -> int:
    console = Console(stderr=True, quiet=args.quiet, soft_wrap=True)
    result, redact = asyncio.run(_run(args, console))
    console.print(
        f"[bold]{result.status}[/bold] after {result.cycles} cycle(s): {escape(result.reason)}; "
        f"{result.usage.total:,} tokens; trace {result.trace_path}"
    )
    if args.json:
        body = {
            "run": result.run,
            "status": result.status,
            "reason": result.reason,
            "answer": redact(result.answer) if result.answer is not None else None,
            "cycles": result.cycles,
            "tokens": {
                "prompt": result.usage.prompt_tokens,
                "completion": result.usage.completion_tokens,
            },
            "trace": str(result.trace_path) if result.trace_path else None,
        }
        print(json.dumps(body, ensure_ascii=False))
    elif result.answer is not None:
        print(redact(result.answer))
    if result.status == "paused":  # said even when --quiet: the run needs a person
        print(
            f"paused, waiting for a person: gwa runs approve {result.run} [--edit TEXT] | "
            f"gwa runs reject {result.run} [--reason TEXT]",
            file=sys.stderr,
        )
    return EXIT_ANSWERED if result.answer is not None else EXIT_NO_ANSWER


async def _agent(args: argparse.Namespace) -> int:
    from gwa import run_agent

    path = resolve_scenario_path(args.scenario)
    return await run_agent(
        load_scenario(path),
        args.role,
        _mqtt_options(args),
        model=parse_model_option(args.model) if args.model else None,
        base_dir=path.parent,
        run=args.run,
        wait_s=args.wait,
        say=lambda m: print(m, file=sys.stderr, flush=True),
    )


def _cmd_validate(args: argparse.Namespace) -> int:
    failed = False
    for path in args.files:
        try:
            s = load_scenario(path)
            preflight(path, s)
        except ConfigError as exc:
            failed = True
            print(exc, file=sys.stderr)
            continue
        print(f"{path}: ok ({len(s.agents)} agents, selection {s.selection.policy})")
    return EXIT_BAD_INPUT if failed else 0


def _cmd_view(args: argparse.Namespace) -> int:
    import webbrowser

    from gwa.viewer import Viewer, make_server
    from gwa.viewer.server import address

    if args.serve:
        return cli_serve.open_console(args.serve, args.no_browser)
    if args.trace is None:
        raise ConfigError("give a trace file to view, or --serve URL for a live console")
    for path in (args.trace, args.compare):
        if path is not None and not path.is_file():
            raise ConfigError(f"{path}: trace file not found")
    viewer = Viewer(args.trace, args.compare, live=args.live)
    try:
        server = make_server(viewer, args.host, args.port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror}); "
            "choose another with --port N (0 picks a free one)"
        ) from None
    url = address(server)
    print(f"gwa viewer on {url}  (Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _cmd_scenarios(args: argparse.Namespace) -> int:
    for name, path in builtin_scenarios().items():
        print(f"{name:<20} {path}")
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _cmd_run,
    "validate": _cmd_validate,
    "view": _cmd_view,
    "agent": lambda args: asyncio.run(_agent(args)),
    "memory": cmd_memory,
    "eval": cmd_eval,
    "schema": cli_trace.cmd_schema,
    "scenarios": _cmd_scenarios,
    "trace": cli_trace.cmd_trace,
    "runs": cli_runs.cmd_runs,
    "serve": cli_serve.cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gwa`` console script; returns the exit code."""
    try:
        args = _parser().parse_args(cli_runs.as_run(list(sys.argv[1:] if argv is None else argv)))
        return _COMMANDS[args.command](args)
    except (ConfigError, ModelUnavailable, RunsError) as exc:
        print(f"gwa: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except GwaError as exc:
        print(f"gwa: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_NO_ANSWER


if __name__ == "__main__":
    sys.exit(main())
