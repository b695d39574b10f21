"""GWA — Global Workspace Agents.

A swarm of specialised LLM agents around one global workspace: each cycle the agents react
concurrently to the current broadcast, one winner is selected and broadcast back, and the
cycle continues until an answer, a budget, or a stop.

Names are loaded on first use, so ``import gwa.types`` or ``import gwa.broadcast`` loads
only what it needs (the kernel: `gwa.types`, `gwa.errors`, `gwa.events`, `gwa.netguard`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from gwa._version import __version__
from gwa.errors import (
    BusClosed,
    BusError,
    CassetteMiss,
    ConfigError,
    GwaError,
    HandlerError,
    ModelError,
    ModelTimeout,
    ModelUnavailable,
    NetworkModelForbidden,
    RoleOutputError,
    RunLocked,
    RunsError,
    ScenarioError,
    TraceError,
)
from gwa.types import Broadcast, Candidate, ChatMessage, Critique, Phase, Request, Usage

if TYPE_CHECKING:
    from gwa.agents.agent import Agent, AgentContext, LLMAgent
    from gwa.agents.models import ChatModel, ChatRequest, ChatResponse
    from gwa.agents.roles import BUILTIN_ROLES, Role
    from gwa.scenario import Scenario, load_scenario, parse_scenario
    from gwa.trace import TraceRecord, read_trace
    from gwa.worker import run_agent
    from gwa.workspace import Decision, RunResult, Workspace

_LAZY = {
    "Agent": "gwa.agents.agent",
    "AgentContext": "gwa.agents.agent",
    "LLMAgent": "gwa.agents.agent",
    "ChatModel": "gwa.agents.models",
    "ChatRequest": "gwa.agents.models",
    "ChatResponse": "gwa.agents.models",
    "BUILTIN_ROLES": "gwa.agents.roles",
    "Role": "gwa.agents.roles",
    "Scenario": "gwa.scenario",
    "load_scenario": "gwa.scenario",
    "parse_scenario": "gwa.scenario",
    "TraceRecord": "gwa.trace",
    "read_trace": "gwa.trace",
    "run_agent": "gwa.worker",
    "RunResult": "gwa.workspace",
    "Decision": "gwa.workspace",
    "Workspace": "gwa.workspace",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'gwa' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "BUILTIN_ROLES",
    "Agent",
    "AgentContext",
    "Broadcast",
    "BusClosed",
    "BusError",
    "Candidate",
    "CassetteMiss",
    "ChatMessage",
    "ChatModel",
    "ChatRequest",
    "ChatResponse",
    "ConfigError",
    "Critique",
    "Decision",
    "GwaError",
    "HandlerError",
    "LLMAgent",
    "ModelError",
    "ModelTimeout",
    "ModelUnavailable",
    "NetworkModelForbidden",
    "Phase",
    "Request",
    "Role",
    "RoleOutputError",
    "RunLocked",
    "RunResult",
    "RunsError",
    "Scenario",
    "ScenarioError",
    "TraceError",
    "TraceRecord",
    "Usage",
    "Workspace",
    "__version__",
    "load_scenario",
    "parse_scenario",
    "read_trace",
    "run_agent",
]
