"""`gwa runs …` and the durable-run options of `gwa run` (--resume, --fork, --set, --runs)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from gwa.durable import stored_scenario
from gwa.errors import ConfigError, RunsError
from gwa.runs import ENDED, RunInfo, open_store, store_location
from gwa.scenario import Scenario
from gwa.workspace import Decision, RunResult, Workspace


def add_run_options(run: argparse.ArgumentParser) -> None:
    """--resume, --fork, --set, --input and --runs on `gwa run`."""
    run.add_argument(
        "--resume", metavar="RUN", help="continue a run from its last checkpoint (or 'last')"
    )
    run.add_argument(
        "--fork", metavar="RUN@CYCLE", help="start a new run from a run's checkpoint of CYCLE"
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --fork: change a scenario setting (workspace.temperature=1.1); repeat",
    )
    run.add_argument(
        "--input", action="append", default=[], metavar="TEXT", help="with --fork: a new input"
    )
    run.add_argument(
        "--runs", metavar="STORE", help=f"checkpoint store (default {store_location()})"
    )
    run.add_argument("--decision", choices=("approve", "edit", "reject"), help=argparse.SUPPRESS)
    run.add_argument("--decision-text", help=argparse.SUPPRESS)


def add_commands(sub: Any) -> None:
    """Register `gwa runs`."""
    runs = sub.add_parser("runs", help="list, show and remove checkpointed runs")
    runs.add_argument("--runs", metavar="STORE", help=f"the store (default {store_location()})")
    rs = runs.add_subparsers(dest="runs_command", required=True)
    ls = rs.add_parser("ls", help="every run: status, cycles, checkpoints, size, scenario")
    ls.add_argument("--json", action="store_true")
    show = rs.add_parser("show", help="one run (or 'last'): its state and checkpoints")
    show.add_argument("run")
    show.add_argument("--json", action="store_true")
    rm = rs.add_parser("rm", help="remove runs and their checkpoints (not their traces)")
    rm.add_argument("run", nargs="+")
    for verb, flag, what in (
        ("approve", "--edit", "give the answer as TEXT instead"),
        ("reject", "--reason", "why (the run thinks on with it as an input)"),
    ):
        p = rs.add_parser(
            verb,
            help=f"{verb} what a paused run asks and continue it (takes `gwa run`'s options)",
        )
        p.add_argument("run")
        p.add_argument(flag, metavar="TEXT", help=what)
    prune = rs.add_parser("prune", help="remove ended runs older than some days")
    prune.add_argument("--older-than", type=float, default=30.0, metavar="DAYS")
    prune.add_argument("--dry-run", action="store_true")


def as_run(argv: list[str]) -> list[str]:
    """``gwa runs [--runs S] approve|reject RUN [--edit|--reason TEXT] [run options]`` is
    ``gwa run --resume RUN`` with the decision: rewrite it so (other argv unchanged)."""
    if not argv or argv[0] != "runs":
        return argv
    rest, store = argv[1:], []
    if rest[:1] == ["--runs"] and len(rest) > 1:
        store, rest = rest[:2], rest[2:]
    if rest[:1] not in (["approve"], ["reject"]) or len(rest) < 2 or rest[1].startswith("-"):
        return argv
    verb, run, options = rest[0], rest[1], rest[2:]
    decision, text = verb, []
    flag = "--edit" if verb == "approve" else "--reason"
    if flag in options:
        i = options.index(flag)
        if i + 1 >= len(options):
            raise ConfigError(f"gwa runs {verb}: {flag} needs a TEXT")
        text = ["--decision-text", options[i + 1]]
        decision = "edit" if verb == "approve" else verb
        options = options[:i] + options[i + 2 :]
    return ["run", "--resume", run, "--decision", decision, *text, *store, *options]


def parse_fork(text: str) -> tuple[str, int | None]:
    """``RUN@CYCLE`` (or ``RUN``: its last checkpoint)."""
    run, _, cycle = text.partition("@")
    if cycle and not cycle.isdigit():
        raise ConfigError(f"--fork {text}: CYCLE must be a number (RUN@CYCLE, e.g. {run}@3)")
    return run, int(cycle) if cycle else None


def parse_sets(items: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` options as a mapping."""
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--set {item}: write KEY=VALUE, e.g. workspace.temperature=1.1")
        out[key.strip()] = value
    return out


def check_options(args: argparse.Namespace) -> None:
    """Refuse combinations that cannot mean anything."""
    if args.resume and args.fork:
        raise ConfigError("--resume and --fork cannot be combined: a fork is a new run")
    if args.decision and not args.resume:
        raise ConfigError("a decision answers a paused run: gwa runs approve|reject RUN")
    if (args.set or args.input) and not args.fork:
        raise ConfigError("--set and --input change a fork: add --fork RUN@CYCLE")
    if args.scenario is None and not (args.resume or args.fork):
        raise ConfigError("name a scenario (a file or a shipped one), or --resume / --fork a run")


def stored(args: argparse.Namespace) -> tuple[Scenario, Path | None]:
    """The scenario (and its folder) a run to resume or fork was checkpointed with."""
    store = open_store(args.runs)
    run = args.resume or parse_fork(args.fork)[0]
    info = store.info(run)
    base = info.facts.get("base_dir")
    return stored_scenario(info), Path(base) if base else None


def start(ws: Workspace, args: argparse.Namespace) -> Awaitable[RunResult]:
    """The run the options ask for: a resume, a fork, or a new run."""
    if args.resume:
        decision = Decision.parse(args.decision, args.decision_text) if args.decision else None
        return ws.run(resume=args.resume, decision=decision)
    if args.fork:
        run, cycle = parse_fork(args.fork)
        return ws.fork(run, cycle, parse_sets(args.set), inputs=args.input)
    return ws.run(args.goal)


def _size(n: int) -> str:
    return f"{n / 1024:.1f} kB" if n < 1024**2 else f"{n / 1024**2:.1f} MB"


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _line(r: RunInfo) -> str:
    return (
        f"{r.run:<24} {r.status:<11} {r.cycles:>6} {r.checkpoints:>5} {_size(r.bytes):>9}  "
        f"{_when(r.updated)}  {r.scenario}"
    )


def cmd_runs(args: argparse.Namespace) -> int:
    """`gwa runs ls|show|rm|prune`."""
    store = open_store(args.runs)
    try:
        if args.runs_command == "ls":
            return _ls(store.runs(), args.json)
        if args.runs_command == "show":
            return _show(store, args.run, args.json)
        if args.runs_command == "rm":
            return _rm(store, args.run)
        return _prune(store, args.older_than, args.dry_run)
    finally:
        store.close()


def _ls(runs: list[RunInfo], as_json: bool) -> int:
    if as_json:
        print(json.dumps([r.as_json() for r in runs], ensure_ascii=False))
        return 0
    if not runs:
        print("no runs yet (every `gwa run` is checkpointed here)", file=sys.stderr)
        return 0
    print(f"{'RUN':<24} {'STATUS':<11} {'CYCLES':>6} {'CKPTS':>5} {'SIZE':>9}  UPDATED  SCENARIO")
    for r in runs:
        print(_line(r))
    return 0


def _show(store: Any, run: str, as_json: bool) -> int:
    info: RunInfo = store.info(run)
    body = info.as_json()
    if info.checkpoints:
        last = store.get(info.run)
        body["last_checkpoint"] = {"id": last.id, "bytes": last.bytes, "at": last.created}
    if as_json:
        print(json.dumps(body, ensure_ascii=False))
        return 0
    for key, value in body.items():
        if value is not None and key != "pending":
            print(f"{key:>16}  {value}")
    if info.pending:
        print(f"{'pending':>16}  {info.pending.get('question')}: {info.pending.get('text')}")
    if info.status in ("interrupted", "paused", "stopped", "error", "cancelled", "timeout"):
        print(f"\nresume with: gwa run --resume {info.run}")
    return 0


def _rm(store: Any, runs: list[str]) -> int:
    live = [r for r in runs if store.info(r).status == "running"]
    if live:
        raise RunsError(f"{store.where}: {', '.join(live)} still running; stop it first")
    n = store.delete(runs)
    print(f"removed {n} run(s) from {store.where} (their trace files are left alone)")
    return 0


def _prune(store: Any, days: float, dry_run: bool) -> int:
    cutoff = time.time() - days * 86400
    old = [r for r in store.runs() if r.status in ENDED and r.updated < cutoff]
    for r in old:
        print(_line(r))
    if not dry_run:
        store.delete([r.run for r in old])
    verb = "would remove" if dry_run else "removed"
    print(f"{verb} {len(old)} ended run(s) older than {days:g} days", file=sys.stderr)
    return 0
