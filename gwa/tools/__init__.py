"""Agents that act: tools from Python functions, LangChain and MCP servers.

A generator proposes an action (a tool and its arguments) with a thought; critics score it
like any thought; if it wins, the workspace runs it through the run's `Toolbox` (the only
place tools run) and the next cycle perceives the result as an input from ``tool:<name>``.
"""

from gwa.tools.base import (
    MAX_RESULT_CHARS,
    Outcome,
    Tool,
    ToolBase,
    Toolbox,
    as_text,
    check_arguments,
)
from gwa.tools.python import FunctionTool, LangChainTool, as_tool, tool

__all__ = [
    "MAX_RESULT_CHARS",
    "FunctionTool",
    "LangChainTool",
    "Outcome",
    "Tool",
    "ToolBase",
    "Toolbox",
    "as_text",
    "as_tool",
    "check_arguments",
    "tool",
]
