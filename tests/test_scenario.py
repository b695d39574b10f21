"""Scenario files: shipped ones validate; every mistake is located as file:line:column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SCENARIOS

from gwa.errors import ScenarioError
from gwa.scenario import Scenario, load_scenario, parse_scenario

MINIMAL = "agents:\n  - {name: g, role: generator}\nselection: {policy: score}\n"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_scenarios_are_valid(path: Path) -> None:
    """Every shipped scenario loads."""
    assert load_scenario(path).agents


def test_at_least_three_scenarios_ship() -> None:
    """The package carries example scenarios."""
    assert len(list(SCENARIOS.glob("*.yaml"))) >= 3


def _problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    return [str(p) for p in info.value.problems]


def test_unknown_role_names_the_line_and_the_valid_roles() -> None:
    """An unknown role points at its value and lists valid roles."""
    text = "agents:\n  - name: g\n    role: generatr\nselection: {policy: score}\n"
    (problem,) = _problems(text)
    assert problem.startswith("s.yaml:3:11: unknown role 'generatr'; valid: arbiter, attention")


def test_wrong_type_names_field_and_position() -> None:
    """A string where a number belongs is reported at the value."""
    (problem,) = _problems(MINIMAL + "workspace:\n  max_cycles: lots\n")
    assert problem.startswith("s.yaml:5:15: workspace.max_cycles:")


def test_unknown_field_lists_valid_fields() -> None:
    """A misspelt key is reported at the key with the fields valid there."""
    (problem,) = _problems(MINIMAL + "workspace:\n  max_cycle: 3\n")
    assert problem.startswith("s.yaml:5:3: unknown field 'workspace.max_cycle'; valid fields:")
    assert "max_cycles" in problem


def test_every_problem_is_reported_at_once() -> None:
    """Several mistakes give several problems."""
    text = "agents:\n  - {name: g, role: generator, candidates: 0}\nselection: {policy: best}\n"
    assert len(_problems(text)) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the scenario is empty"),
        ("- a\n- b\n", "must be a mapping"),
        ("agents: [\n", "YAML syntax"),
        ("agents: []\n", "agents"),
        ("agents:\n  - {name: c, role: critic}\nselection: {policy: score}\n", "no agent proposes"),
        ("agents:\n  - {name: g, role: generator}\n", "needs an agent with role: arbiter"),
        (MINIMAL + "agents: []\n", "duplicate key 'agents'"),
        (
            "agents:\n  - {name: g, role: generator, model: big}\nselection: {policy: score}\n",
            "unknown model 'big'",
        ),
    ],
)
def test_bad_scenarios_get_clear_errors(text: str, message: str) -> None:
    """Empty, malformed, or inconsistent scenarios explain themselves."""
    assert any(message in p for p in _problems(text)), _problems(text)


def test_environment_variables_are_interpolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """${VAR} takes the environment's value; ${VAR:-x} falls back to x."""
    monkeypatch.setenv("GWA_TEST_URL", "http://127.0.0.1:1234/v1")
    text = MINIMAL + (
        "models:\n  default:\n    base_url: ${GWA_TEST_URL}\n    name: ${GWA_NO_SUCH_VAR:-tiny}\n"
    )
    s = parse_scenario(text)
    assert s.models["default"].base_url == "http://127.0.0.1:1234/v1"
    assert s.models["default"].name == "tiny"


def test_missing_environment_variable_is_located() -> None:
    """An unset ${VAR} without default is an error at that value."""
    (problem,) = _problems(MINIMAL + "models:\n  default:\n    api_key: ${GWA_UNSET_SECRET}\n")
    assert problem.startswith("s.yaml:6:14: environment variable GWA_UNSET_SECRET is not set")


def test_missing_file_is_reported(tmp_path: Path) -> None:
    """A path that does not exist is a ScenarioError naming it."""
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_json_schema_documents_fields() -> None:
    """The published JSON Schema carries field descriptions for editors."""
    schema = Scenario.model_json_schema()
    text = json.dumps(schema)
    assert "agent_deadline_s" in text
    assert schema["$defs"]["WorkspaceSpec"]["properties"]["max_cycles"]["description"]
