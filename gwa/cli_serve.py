"""`gwa serve`: host workspaces over HTTP (run API, OpenAI-compatible endpoint, console)."""

from __future__ import annotations

import argparse
import gc
import os
import secrets
import sys
from typing import Any

from gwa.errors import ConfigError
from gwa.resolve import parse_model_option
from gwa.scenario import builtin_scenarios, load_scenario, resolve_scenario_path

TOKEN_ENV = "GWA_SERVE_TOKEN"


def add_commands(sub: Any) -> None:
    """Register `gwa serve`."""
    serve = sub.add_parser(
        "serve", help="host workspaces over HTTP (API, OpenAI endpoint, console)"
    )
    serve.add_argument("scenarios", nargs="*", help="scenario files or names (default: shipped)")
    serve.add_argument("--host", default="127.0.0.1", help="default loopback only")
    serve.add_argument("--port", type=int, default=8766)
    serve.add_argument("--model", help="fake | local | replay:FILE | openai:NAME for every agent")
    serve.add_argument("--runs", metavar="STORE", help="checkpoint store")
    serve.add_argument("--no-memory", action="store_true", help="runs without long-term memory")
    serve.add_argument(
        "--cors", action="append", default=[], metavar="ORIGIN", help="allow this origin; repeat"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; print the URL and the token."""
    try:
        import uvicorn

        from gwa.serve import RunHub, Served, build_app
    except ImportError:
        raise ConfigError("gwa serve needs its web stack: pip install 'gwa[serve]'") from None
    names = args.scenarios or list(builtin_scenarios())
    served = {}
    for name in names:
        path = resolve_scenario_path(name)
        scenario = load_scenario(path)
        served[scenario.name] = Served(scenario, path.parent)
    model = parse_model_option(args.model) if args.model else None
    hub = RunHub(served, model=model, runs=args.runs, memory=not args.no_memory)
    token = os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)
    app = build_app(hub, token, cors=args.cors)
    url = f"http://{args.host}:{args.port}"
    print(f"gwa serve: {', '.join(served)} on {url}", file=sys.stderr)
    print(f"console: {url}/#token={token}", file=sys.stderr)
    print(f"token ({TOKEN_ENV} to choose one): {token}", file=sys.stderr, flush=True)
    # What is alive now (modules, the app, the scenarios) lives as long as the server: keep
    # it out of every later collection, whose pauses would otherwise stall all runs at once
    # (a full one took 50-75 ms here with 50 conversations, 15-50 ms after this).
    gc.collect()
    gc.freeze()
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port} ({exc})") from None
    return 0


def open_console(url: str, no_browser: bool) -> int:
    """`gwa view --serve URL`: the live console of a running `gwa serve`, with the token."""
    import webbrowser

    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--serve must be the server's http(s) URL, got {url!r}")
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise ConfigError(f"set {TOKEN_ENV} to the token `gwa serve` printed")
    page = f"{url.rstrip('/')}/#token={token}"
    print(f"console: {url.rstrip('/')}/ (token from {TOKEN_ENV})", file=sys.stderr)
    if not no_browser:
        webbrowser.open(page)
    return 0
