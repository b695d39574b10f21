"""The one Tool protocol, the toolbox a run calls tools through, and its safety rules.

Every tool, whatever its source (a Python function, a LangChain ``BaseTool``, an MCP server's
tool), is a `Tool`: a `ToolInfo` (name, description, JSON Schema of its arguments), whether a
person must confirm each call, a timeout, and ``call``. The `Toolbox` is the only place tools
run: it checks the proposer may use the tool, validates the arguments against the schema
before the call, enforces the timeout and the run's call budget, and turns every failure into
a result (a tool never crashes a run).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jsonschema

from gwa.types import Action, ToolInfo

MAX_RESULT_CHARS = 4000
"""A result longer than this is cut (marked) before it becomes an input."""


class Tool(Protocol):
    """Something the workspace can call on an agent's behalf."""

    @property
    def info(self) -> ToolInfo:
        """Name, description and argument schema (what agents see)."""
        ...

    @property
    def confirm(self) -> bool:
        """A person approves each call first (the run pauses)."""
        ...

    @property
    def timeout_s(self) -> float:
        """Longest a call may take."""
        ...

    async def call(self, arguments: dict[str, Any]) -> str:
        """Run with validated arguments; the result as text (raise to fail)."""
        ...


class ToolBase:
    """What every shipped tool holds: its `ToolInfo`, ``confirm`` and ``timeout_s`` (a tool
    of another source subclasses it and writes ``call``)."""

    def __init__(self, info: ToolInfo, *, confirm: bool = False, timeout_s: float = 30.0) -> None:
        self._info = info
        self._confirm = confirm
        self._timeout_s = timeout_s

    @property
    def info(self) -> ToolInfo:
        """Name, description, argument schema."""
        return self._info

    @property
    def confirm(self) -> bool:
        """A person approves each call first."""
        return self._confirm

    @property
    def timeout_s(self) -> float:
        """Longest a call may take."""
        return self._timeout_s


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call came to."""

    ok: bool
    text: str
    """The result (cut to `MAX_RESULT_CHARS`), or the error."""
    ms: float


def as_text(value: Any) -> str:
    """A tool's return value as text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def check_arguments(info: ToolInfo, arguments: Any) -> str | None:
    """Why ``arguments`` do not fit the tool's schema (None: they do)."""
    if not isinstance(arguments, dict):
        return f"arguments of {info.name} must be an object, got {type(arguments).__name__}"
    try:
        jsonschema.validate(arguments, info.parameters)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "arguments"
        return f"{info.name}: {where}: {exc.message}"
    except jsonschema.SchemaError as exc:
        return f"{info.name} has an invalid argument schema: {exc.message}"
    return None


class Toolbox:
    """The tools of one run, by name; calls them under the safety rules."""

    def __init__(self, tools: Sequence[Tool] = (), *, budget: int = 20) -> None:
        self.tools: dict[str, Tool] = {}
        for tool in tools:
            name = tool.info.name
            if name in self.tools:
                raise ValueError(
                    f"two tools are named {name!r}; rename one (name: in the scenario)"
                )
            self.tools[name] = tool
        self.budget = budget
        """Calls allowed per run (a refused call is traced as a failed result)."""

    def allowed(self, allow: Sequence[str]) -> list[str]:
        """The tool names an allowlist grants (``*``: every tool)."""
        if "*" in allow:
            return list(self.tools)
        return [name for name in allow if name in self.tools]

    def infos(self, allow: Sequence[str]) -> list[ToolInfo]:
        """What an agent with this allowlist is told of its tools."""
        return [self.tools[name].info for name in self.allowed(allow)]

    def needs_confirm(self, action: Action) -> bool:
        """Whether a person must approve this call first."""
        tool = self.tools.get(action.tool)
        return tool is not None and tool.confirm

    async def run(self, action: Action, allow: Sequence[str], used: int) -> Outcome:
        """Call the tool an action names (``used``: calls made so far in the run)."""
        started = time.perf_counter()

        def done(ok: bool, text: str) -> Outcome:
            return Outcome(ok, text, round((time.perf_counter() - started) * 1000, 3))

        tool = self.tools.get(action.tool)
        if tool is None or action.tool not in self.allowed(allow):
            names = ", ".join(self.allowed(allow)) or "none"
            return done(False, f"no tool {action.tool!r} for this agent (its tools: {names})")
        if used >= self.budget:
            return done(False, f"refused: the run's tool-call budget ({self.budget}) is used")
        problem = check_arguments(tool.info, action.arguments)
        if problem is not None:
            return done(False, f"invalid arguments: {problem}")
        try:
            async with asyncio.timeout(tool.timeout_s):
                text = await tool.call(dict(action.arguments))
        except TimeoutError:
            return done(False, f"{action.tool} timed out after {tool.timeout_s:g} s")
        except Exception as exc:  # a tool's failure is its result, never the run's
            return done(False, f"{action.tool} failed: {type(exc).__name__}: {exc}")
        if len(text) > MAX_RESULT_CHARS:
            text = text[:MAX_RESULT_CHARS] + f" … [{len(text):,} characters, cut]"
        return done(True, text)
