"""Scenario sections for acting and approving: tools (Python, LangChain, MCP) and the points
where a person approves."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from gwa.scenario.base import _Spec


class McpSpec(_Spec):
    """An MCP server: a command run over stdio, or a streamable-HTTP URL."""

    command: list[str] = Field(default_factory=list)
    """The server's command line (``python`` means this Python; an argument starting with
    ``./`` or ``../`` is a path relative to the scenario file)."""
    url: str | None = Field(default=None, pattern=r"^https?://")
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment for a stdio server."""
    only: list[str] = Field(default_factory=list)
    """Take only these of its tools (default: all it lists)."""
    prefix: str = ""
    """Put before each tool name (two servers may share names)."""

    @model_validator(mode="after")
    def _one_way(self) -> McpSpec:
        if bool(self.command) == bool(self.url):
            raise ValueError("an MCP server needs either command or url (not both)")
        return self


class ToolSpec(_Spec):
    """A tool the agents may call: one of ``python``, ``langchain`` or ``mcp``."""

    python: str | None = Field(default=None, pattern=r"^[\w./-]+:[A-Za-z_]\w*$")
    """``module:function`` or ``file.py:function`` (relative to the scenario); the type
    hints give the argument schema."""
    langchain: str | None = Field(default=None, pattern=r"^[\w.]+:[A-Za-z_]\w*$")
    """``module:attribute``: a langchain-core BaseTool, or a function returning one."""
    mcp: McpSpec | None = None
    name: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
    """python: the tool's name (default: the function's)."""
    bind: dict[str, Any] = Field(default_factory=dict)
    """python: fixed arguments hidden from the model; a string starting with ``./`` or
    ``../`` is a path relative to the scenario file."""
    enum: dict[str, list[Any]] = Field(default_factory=dict)
    """python: allowed values of arguments (put in the schema, so a small model cannot
    invent others: ``{path: [expenses.csv]}``)."""
    confirm: bool = False
    """A person approves each call first (the run pauses, see ``approval``)."""
    timeout_s: float = Field(default=30.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _one_source(self) -> ToolSpec:
        if sum(x is not None for x in (self.python, self.langchain, self.mcp)) != 1:
            raise ValueError("a tool is exactly one of python, langchain or mcp")
        return self


class ApprovalSpec(_Spec):
    """Points where the run stops and asks a person (``gwa runs approve|reject``,
    ``ws.resume(run, decision)`` or an ``approve``/``reject`` message on the run's control
    topic continue it)."""

    respond: bool = False
    """Before an answer is given: approve it, edit it, or reject it (the run thinks on, the
    reason given as an input)."""
    admit_inputs: bool = False
    """Before an input (untrusted by default) enters long-term memory: approve (it is offered
    to admission like any candidate) or reject (it is never stored)."""
    wait_s: float = Field(default=0.0, ge=0.0, le=86400.0)
    """How long a paused run waits, alive, for a decision on its control topic before it
    stops as ``paused`` (0: it stops at once; resume it later)."""
