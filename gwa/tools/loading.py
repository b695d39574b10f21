"""A scenario's ``tools:`` as `Tool` objects: imported functions and LangChain tools, and MCP
servers connected for the run."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gwa.errors import ConfigError
from gwa.scenario import Scenario, ToolSpec
from gwa.tools.base import Tool, Toolbox
from gwa.tools.mcp import open_mcp
from gwa.tools.python import FunctionTool, LangChainTool


def import_target(ref: str, base: Path | None, what: str) -> Any:
    """``module:attr`` or ``file.py:attr`` (a file relative to ``base``)."""
    module_name, _, attr = ref.partition(":")
    try:
        if module_name.endswith(".py"):
            path = (base or Path.cwd()) / module_name
            spec = importlib.util.spec_from_file_location(f"gwa_tools_{path.stem}", path)
            if spec is None or spec.loader is None or not path.is_file():
                raise ImportError(f"no file {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"tools: {what} {ref!r} cannot be imported ({exc})") from None


def _bound(bind: dict[str, Any], base: Path | None) -> dict[str, Any]:
    return {
        k: str((base or Path.cwd()) / v)
        if isinstance(v, str) and v.startswith(("./", "../"))
        else v
        for k, v in bind.items()
    }


def _local(spec: ToolSpec, base: Path | None) -> Tool:
    if spec.python is not None:
        fn = import_target(spec.python, base, "python")
        if isinstance(fn, FunctionTool):
            return fn
        if not callable(fn):
            raise ConfigError(f"tools: python {spec.python!r} is not a function")
        try:
            return FunctionTool(
                fn, name=spec.name, confirm=spec.confirm, timeout_s=spec.timeout_s,
                bind=_bound(spec.bind, base), enum=spec.enum,
            )  # fmt: skip
        except ValueError as exc:
            raise ConfigError(f"tools: python {spec.python!r}: {exc}") from None
    assert spec.langchain is not None
    obj = import_target(spec.langchain, base, "langchain")
    if callable(obj) and not hasattr(obj, "ainvoke"):
        obj = obj()
    if not hasattr(obj, "ainvoke") or not hasattr(obj, "tool_call_schema"):
        raise ConfigError(f"tools: langchain {spec.langchain!r} is not a langchain BaseTool")
    return LangChainTool(obj, confirm=spec.confirm, timeout_s=spec.timeout_s)


async def open_toolbox(
    stack: contextlib.AsyncExitStack,
    scenario: Scenario,
    base: Path | None,
    extra: Sequence[Tool] = (),
) -> Toolbox:
    """The run's toolbox: the scenario's tools (MCP servers connected on ``stack``) and the
    ones registered in Python; each agent's allowlist checked against it."""
    tools: list[Tool] = list(extra)
    for spec in scenario.tools:
        if spec.mcp is None:
            tools.append(_local(spec, base))
            continue
        m = spec.mcp
        tools += await open_mcp(
            stack, command=m.command, url=m.url, env=m.env, only=m.only, prefix=m.prefix,
            confirm=spec.confirm, timeout_s=spec.timeout_s, base=base,
        )  # fmt: skip
    try:
        box = Toolbox(tools, budget=scenario.workspace.tool_calls)
    except ValueError as exc:
        raise ConfigError(f"tools: {exc}") from None
    for agent in scenario.agents:
        unknown = [n for n in agent.tools if n != "*" and n not in box.tools]
        if unknown:
            raise ConfigError(
                f"agent {agent.name} may use {', '.join(unknown)}, which no tool provides; "
                f"tools: {', '.join(box.tools) or 'none'}"
            )
    return box
