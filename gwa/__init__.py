"""GWA — Global Workspace Agents.

A swarm of specialised LLM agents around one global workspace: each cycle the agents react
concurrently to the current broadcast, one winner is selected and broadcast back, and the
cycle continues until an answer, a budget, or a stop.
"""

from gwa._version import __version__
from gwa.agents.agent import Agent, AgentContext, LLMAgent
from gwa.agents.models import ChatModel, ChatRequest, ChatResponse
from gwa.agents.roles import BUILTIN_ROLES, Role
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
    ScenarioError,
    TraceError,
)
from gwa.scenario import Scenario, load_scenario, parse_scenario
from gwa.trace import TraceRecord, read_trace
from gwa.types import Broadcast, Candidate, ChatMessage, Critique, Phase, Request, Usage
from gwa.workspace import RunResult, Workspace

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
    "RunResult",
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
]
