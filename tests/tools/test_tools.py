"""Tools from Python and LangChain, the toolbox's safety rules, and actions in the cycle: a
winning thought's tool call runs, is traced, and its result is the next cycle's input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gwa import Workspace, parse_scenario
from gwa.agents.models import ChatRequest
from gwa.agents.roles import RoleOutputError, parse_output, request_schema
from gwa.agents.testing import FunctionModel
from gwa.errors import ConfigError
from gwa.events import CycleStart, ToolCalled, ToolResult
from gwa.testing import capture_events
from gwa.tools import FunctionTool, LangChainTool, Toolbox, tool
from gwa.tools.builtin import calculate, read_file
from gwa.types import Action, ToolInfo


def add(a: int, b: int = 2) -> int:
    """Add two integers.

    More text that is not the description."""
    return a + b


async def slow(seconds: float) -> str:
    """Sleep, then say so."""
    await asyncio.sleep(seconds)
    return "slept"


def boom(x: str) -> str:
    """Always fails."""
    raise RuntimeError(f"cannot {x}")


def test_a_function_becomes_a_tool_with_its_hints_as_the_schema() -> None:
    """Name, first docstring paragraph, parameters with types, defaults and required."""
    info = FunctionTool(add).info
    assert (info.name, info.description) == ("add", "Add two integers.")
    assert info.parameters["properties"]["a"]["type"] == "integer"
    assert info.parameters["required"] == ["a"]
    assert info.parameters["additionalProperties"] is False
    bound = FunctionTool(read_file, bind={"root": "/srv"}, enum={"path": ["a.csv"]}).info
    assert list(bound.parameters["properties"]) == ["path"]
    assert bound.parameters["properties"]["path"]["enum"] == ["a.csv"]


@pytest.mark.timeout(30)
async def test_the_toolbox_turns_every_failure_into_a_result() -> None:
    """Unknown or disallowed tool, bad arguments, a timeout, an exception, an exhausted
    budget: each a failed outcome saying why; a good call returns text."""
    box = Toolbox(
        [FunctionTool(add), FunctionTool(slow, timeout_s=0.05), FunctionTool(boom)], budget=5
    )
    ok = await box.run(Action("add", {"a": 40}), ["*"], 0)
    assert (ok.ok, ok.text) == (True, "42")
    cases = [
        (Action("nope", {}), ["*"], 0, "no tool 'nope' for this agent"),
        (Action("add", {"a": 1}), ["boom"], 0, "no tool 'add' for this agent (its tools: boom)"),
        (Action("add", {"a": "x"}), ["*"], 0, "invalid arguments: add: a: 'x' is not of type"),
        (Action("add", {"a": 1, "c": 3}), ["*"], 0, "Additional properties are not allowed"),
        (Action("slow", {"seconds": 5}), ["*"], 0, "slow timed out after 0.05 s"),
        (Action("boom", {"x": "fly"}), ["*"], 0, "boom failed: RuntimeError: cannot fly"),
        (Action("add", {"a": 1}), ["*"], 5, "refused: the run's tool-call budget (5) is used"),
    ]
    for action, allow, used, why in cases:
        out = await box.run(action, allow, used)
        assert not out.ok
        assert why in out.text, out.text
    with pytest.raises(ValueError, match="two tools are named 'add'"):
        Toolbox([FunctionTool(add), FunctionTool(add)])


def test_builtin_tools_are_safe() -> None:
    """calculate does arithmetic only; read_file stays inside its folder."""
    assert calculate("84.5 + 312 * 2 - (10 / 4)") == 706.0
    for bad in ("__import__('os')", "2 ** 1000", "open('x')"):
        with pytest.raises(ValueError, match=r"allowed|too large"):
            calculate(bad)
    root = Path(__file__).resolve().parents[2] / "gwa" / "scenarios" / "data"
    assert "raised bed timber" in read_file("expenses.csv", str(root))
    with pytest.raises(ValueError, match="outside the folder"):
        read_file("../bookkeeper.yaml", str(root))
    with pytest.raises(ValueError, match=r"files here: expenses\.csv"):
        read_file("missing.csv", str(root))


@pytest.mark.timeout(30)
async def test_a_langchain_tool_is_a_tool() -> None:
    """A langchain-core @tool keeps its name, description and argument schema."""
    from langchain_core.tools import tool as lc_tool

    @lc_tool
    def multiply(a: float, b: float) -> float:
        """Multiply two numbers."""
        return a * b

    wrapped = LangChainTool(multiply)
    assert wrapped.info.name == "multiply"
    assert "Multiply" in wrapped.info.description
    assert set(wrapped.info.parameters["properties"]) == {"a", "b"}
    out = await Toolbox([wrapped]).run(Action("multiply", {"a": 6, "b": 7}), ["*"], 0)
    assert (out.ok, out.text) == (True, "42.0")


def test_a_generator_with_tools_must_propose_valid_calls() -> None:
    """The schema offers null or one call per tool; a call with bad arguments is a
    `RoleOutputError` naming the problem (the agent's repair attempt sees it)."""
    info = ToolInfo("add", "Add.", FunctionTool(add).info.parameters)
    schema = request_schema("candidates", tools=[info])
    action = schema["properties"]["candidates"]["items"]["properties"]["action"]
    assert action["anyOf"][0] == {"type": "null"}
    assert action["anyOf"][1]["properties"]["tool"] == {"type": "string", "enum": ["add"]}
    good = json.dumps(
        {
            "candidates": [
                {
                    "text": "Add the two numbers now.",
                    "action": {"tool": "add", "arguments": {"a": 1}},
                }
            ]
        }
    )
    out = parse_output("candidates", good, tools=[info])
    assert out.candidates[0].action.arguments == {"a": 1}  # type: ignore[attr-defined]
    bad = good.replace('{"a": 1}', '{"a": "one"}')
    with pytest.raises(RoleOutputError, match="action add: a: 'one' is not of type 'integer'"):
        parse_output("candidates", bad, tools=[info])
    with pytest.raises(RoleOutputError, match="tool 'mul'; the tools are: add"):
        parse_output("candidates", good.replace('"add"', '"mul"'), tools=[info])


SCENARIO = """
goal: What is 40 plus 2?
agents:
  - {name: g, role: generator, tools: [add]}
selection: {policy: score, respond_min_score: -5}
workspace: {max_cycles: 4}
"""


def scripted(request: ChatRequest) -> str:
    """Cycle 1: propose the call; later: answer from the result seen in NEW INPUTS."""
    prompt = request.messages[-1].content
    if "Result of add" in prompt:
        text = "The result says 42, so the answer is 42."
        return json.dumps({"candidates": [{"text": text, "final": True, "action": None}]})
    call = {"tool": "add", "arguments": {"a": 40}}
    return json.dumps({"candidates": [{"text": "Let me add 40 and 2.", "action": call}]})


@pytest.mark.timeout(30)
async def test_a_winning_action_runs_and_its_result_is_perceived(tmp_path: Path) -> None:
    """The winner's call is traced (tool.call, tool.result), its result is the next cycle's
    input from tool:add, and the run answers from it."""
    ws = Workspace(
        parse_scenario(SCENARIO),
        models={"default": FunctionModel(scripted)},
        tools=[add],
        trace_path=tmp_path / "t.jsonl",
        runs=False,
    )
    with capture_events(ws) as events:
        result = await ws.run()
    (call,) = events.of(ToolCalled)
    (res,) = events.of(ToolResult)
    assert (call.tool, call.arguments, call.cycle) == ("add", {"a": 40}, 1)
    assert (res.ok, res.result, res.call) == (True, "42", call.call)
    assert events.of(CycleStart)[1].inputs == ['Result of add {"a": 40}: 42']
    assert result.answer == "The result says 42, so the answer is 42."
    assert events.kinds.index("tool.result") < events.kinds.index("drive.update")


@pytest.mark.timeout(30)
async def test_a_confirm_tool_waits_for_a_person(tmp_path: Path) -> None:
    """A tool marked confirm pauses the run with the call as its question; rejected, the
    call never runs and its result says so; approved, it runs."""
    calls: list[int] = []

    @tool(confirm=True, name="add")
    def guarded_add(a: int, b: int = 2) -> int:
        """Add, with a person's approval."""
        calls.append(a)
        return a + b

    def make() -> Workspace:
        return Workspace(
            parse_scenario(SCENARIO),
            models={"default": FunctionModel(scripted)},
            tools=[guarded_add],
            trace_path=tmp_path / "t.jsonl",
            runs=tmp_path / "runs.sqlite",
        )

    paused = await make().run()
    assert paused.status == "paused"
    assert calls == []
    rejected = make()
    with capture_events(rejected) as events:
        again = await rejected.resume(paused.run, "reject")
    (res,) = events.of(ToolResult)
    assert (res.ok, res.error) == (False, "rejected by a person")
    assert again.status == "paused"  # the model proposes the call again
    approved = make()
    with capture_events(approved) as events:
        done = await approved.resume(again.run, "approve")
    assert calls == [40]
    assert events.of(ToolResult)[0].result == "42"
    assert done.answer == "The result says 42, so the answer is 42."


def test_scenario_tool_errors_name_the_fix(tmp_path: Path) -> None:
    """An unimportable tool and an agent naming a tool nobody provides: ConfigError."""
    base = (
        "goal: g\nselection: {policy: score}\nagents:\n  - {name: g, role: generator, "
        "tools: [TOOLS]}\ntools:\n  - python: SPEC\n"
    )
    cases = [
        ("gwa.tools.builtin:nothing", "calculate", "cannot be imported"),
        ("gwa.tools.builtin:calculate", "abacus", "agent g may use abacus, which no tool"),
    ]
    for spec, tools, why in cases:
        ws = Workspace(
            parse_scenario(base.replace("SPEC", spec).replace("TOOLS", tools)),
            models={"default": FunctionModel(scripted)},
            trace_path=False,
            runs=False,
        )
        with pytest.raises(ConfigError, match=why):
            ws.run_sync()
