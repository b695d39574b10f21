"""Tools: valid calls by construction on the embedded model, and what MCP costs per call.

Part 1: the bookkeeper scenario's generator (tools read_file, calculate and an MCP-style
search) asked N times on SmolLM2-135M-Instruct (grammar-constrained), over varied goals and
temperatures, first attempts only; reported: actions proposed and how many name a tool with
arguments its schema accepts (target 99%), and whole outputs that pass every check (the
thought's text has checks of its own: fragments and JSON debris are rejected).

Part 2: one call of the same tool (`calculate`) made directly in Python, through an MCP
server over stdio, and over streamable HTTP (server started here); ms, median and p95.

Run: python bench/tools.py [--samples 50] [--calls 200]
"""

import argparse
import asyncio
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import table, write

from gwa.agents.local import LocalChatModel
from gwa.agents.models import ChatRequest
from gwa.agents.prompts import render
from gwa.agents.roles import BUILTIN_ROLES, RoleOutputError, parse_output, request_schema
from gwa.tools import FunctionTool, check_arguments
from gwa.tools.builtin import calculate, read_file
from gwa.tools.mcp import open_mcp
from gwa.types import Broadcast, Phase, Request, ToolInfo

GOALS = [
    "How much did the community garden spend this season (expenses.csv), and is it within budget?",
    "What is the total of the amounts in expenses.csv?",
    "Which single expense in expenses.csv was the largest, and how much over 900 euros are we?",
    "Find the budget the committee agreed in the notes and compare it with the spending.",
    "Add 84.50, 312, 96, 143.75, 29.90 and 265.",
]
SERVER = """
from mcp.server.mcpserver import MCPServer
import sys
from gwa.tools.builtin import calculate
server = MCPServer("calc", log_level="WARNING")
server.tool()(calculate)
if len(sys.argv) > 1:
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
else:
    server.run()
"""


def tool_infos() -> list[ToolInfo]:
    search = ToolInfo(
        "search",
        "Memories relevant to a query, best first.",
        {"type": "object", "properties": {"query": {"type": "string"}, "k": {"type": "integer"}},
         "required": ["query"]},
    )  # fmt: skip
    files = FunctionTool(read_file, bind={"root": "."}, enum={"path": ["expenses.csv"]}).info
    return [files, FunctionTool(calculate).info, search]


def _actions(text: str, tools: list[ToolInfo]) -> tuple[int, int]:
    """(actions proposed, actions naming a tool with arguments its schema accepts) in one
    raw output, judged on their own (the thought text has checks of its own)."""
    try:
        data = json.loads(text[text.find("{") : text.rfind("}") + 1], strict=False)
    except ValueError:
        return 0, 0
    by_name = {t.name: t for t in tools}
    proposed = valid = 0
    for c in data.get("candidates", []) if isinstance(data, dict) else []:
        action = c.get("action") if isinstance(c, dict) else None
        if not action:
            continue
        proposed += 1
        tool = by_name.get(str(action.get("tool")))
        valid += tool is not None and check_arguments(tool, action.get("arguments")) is None
    return proposed, valid


async def part1(samples: int) -> dict[str, Any]:
    """First attempts of the generator on the embedded model, judged as the agent does."""
    tools = tool_infos()
    model = LocalChatModel.shared()
    role = BUILTIN_ROLES["generator"]
    ok = proposed = valid = 0
    reasons: dict[str, int] = {}
    for i in range(samples):
        b = Broadcast(
            "bench", i + 1, GOALS[i % len(GOALS)], "You are a careful bookkeeper.", (), None
        )
        request = Request(Phase.PROPOSE, b, 0.3 + 0.9 * (i % 4) / 3)
        chat = ChatRequest(
            messages=render(role, request, tools=tools),
            temperature=request.temperature,
            max_tokens=200,
            seed=i,
            schema=request_schema("candidates", max_tokens=200, tools=tools),
        )
        text = (await model.complete(chat)).text
        n, v = _actions(text, tools)
        proposed, valid = proposed + n, valid + v
        try:
            parse_output("candidates", text, tools=tools)
            ok += 1
        except RoleOutputError as exc:
            why = "the action" if "action" in str(exc) else "the thought's text"
            reasons[why] = reasons.get(why, 0) + 1
        print(f"  {i + 1}/{samples}", file=sys.stderr)
    return {
        "samples": samples,
        "actions_proposed": proposed,
        "actions_valid_first_attempt": valid,
        "actions_valid_share": round(valid / max(1, proposed), 4),
        "outputs_valid_first_attempt": ok,
        "outputs_valid_share": round(ok / samples, 4),
        "outputs_rejected_for": reasons,
    }


def _ms(values: list[float]) -> tuple[float, float]:
    s = sorted(values)
    return statistics.median(s), s[min(len(s) - 1, int(0.95 * len(s)))]


async def _time(call: Any, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        await call({"expression": f"{i} + 2 * 3"})
        out.append((time.perf_counter() - t) * 1000)
    return out


def start_http(script: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The calculator MCP server over streamable HTTP on a free port, once it listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, str(script), str(port)], stderr=subprocess.DEVNULL)
    for _ in range(100):
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        time.sleep(0.1)
    return proc, port


async def part2(calls: int) -> list[list[Any]]:
    direct = FunctionTool(calculate)
    rows = [["direct Python (FunctionTool)", *_ms(await _time(direct.call, calls))]]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "calc_server.py"
        script.write_text(SERVER)
        async with contextlib.AsyncExitStack() as stack:
            (stdio,) = await open_mcp(stack, command=["python", str(script)])
            rows.append(["MCP over stdio", *_ms(await _time(stdio.call, calls))])
        proc, port = start_http(script)
        try:
            async with contextlib.AsyncExitStack() as stack:
                (http,) = await open_mcp(stack, url=f"http://127.0.0.1:{port}/mcp")
                rows.append(["MCP over streamable HTTP", *_ms(await _time(http.call, calls))])
        finally:
            proc.terminate()
            proc.wait(10)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()
    rows = asyncio.run(part2(args.calls))
    print(table(["one call of calculate", "median ms", "p95 ms"], rows))
    first = asyncio.run(part1(args.samples))
    print(
        table(
            ["embedded model, generator with 3 tools", "value"],
            [[k.replace("_", " "), v] for k, v in first.items()],
        )
    )
    path = write(
        "tools",
        {
            "constrained": first,
            "mcp_ms": [dict(zip(["how", "median", "p95"], r, strict=True)) for r in rows],
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
