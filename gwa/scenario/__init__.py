"""Scenario files: a documented pydantic model (`spec`), loaded from YAML with located
errors (`loader`)."""

from gwa.agents.roles import OUTPUTS
from gwa.scenario.acting import ApprovalSpec, McpSpec, ToolSpec
from gwa.scenario.base import memo
from gwa.scenario.loader import (
    builtin_scenarios,
    load_scenario,
    parse_scenario,
    resolve_scenario_path,
)
from gwa.scenario.preflight import preflight
from gwa.scenario.spec import (
    AgentSpec,
    DeadlockSpec,
    DriveSpec,
    IdleSpec,
    MemorySpec,
    ModelSpec,
    RoleSpec,
    Scenario,
    SelectionSpec,
    TelemetrySpec,
    TraceSpec,
    WorkspaceSpec,
)

__all__ = [
    "OUTPUTS",
    "AgentSpec",
    "ApprovalSpec",
    "DeadlockSpec",
    "DriveSpec",
    "IdleSpec",
    "McpSpec",
    "MemorySpec",
    "ModelSpec",
    "RoleSpec",
    "Scenario",
    "SelectionSpec",
    "TelemetrySpec",
    "ToolSpec",
    "TraceSpec",
    "WorkspaceSpec",
    "builtin_scenarios",
    "load_scenario",
    "memo",
    "parse_scenario",
    "preflight",
    "resolve_scenario_path",
]
