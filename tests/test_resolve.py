"""Which model runs: --model, the scenario's default, the environment, the local model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import SCENARIOS

from gwa import read_trace
from gwa.agents.local import LocalChatModel
from gwa.agents.providers import OpenAIChatModel
from gwa.cli import main
from gwa.errors import ConfigError, ModelUnavailable
from gwa.resolve import parse_model_option, resolve_default
from gwa.scenario import ModelSpec

CASSETTE = SCENARIOS / "cassettes" / "brainstorm.json"


@pytest.fixture
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_environment_endpoint_wins_over_the_local_model(
    monkeypatch: pytest.MonkeyPatch, no_endpoint: None
) -> None:
    """OPENAI_BASE_URL selects the OpenAI-compatible provider and says so."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    resolved = resolve_default({})
    assert isinstance(resolved.model, OpenAIChatModel)
    assert resolved.model.base_url == "http://127.0.0.1:11434/v1"
    assert resolved.reason == "OPENAI_BASE_URL is set in the environment"


def test_the_scenario_default_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scenario's models.default is used even when an endpoint is configured."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    resolved = resolve_default({"default": ModelSpec(provider="fake")})
    assert resolved.model.name == "test:fake"
    assert resolved.reason == "the scenario's models.default (fake)"


def test_with_nothing_configured_the_local_model_is_used(no_endpoint: None) -> None:
    """No scenario model and no endpoint: the embedded model, with the reason."""
    resolved = resolve_default({})
    assert isinstance(resolved.model, LocalChatModel)
    assert resolved.reason == "no model is configured and no endpoint is set"


def test_missing_local_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, no_endpoint: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without llama-cpp-python the error says exactly what to install; the CLI exits 2."""
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    monkeypatch.setattr(LocalChatModel, "_instances", {})
    with pytest.raises(ModelUnavailable, match=r"pip install 'gwa\[local\]'"):
        resolve_default({})
    assert main(["run", "brainstorm"]) == 2
    assert "pip install 'gwa[local]'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "provider"),
    [
        ("fake", "fake"),
        ("local", "local"),
        ("replay:x.json", "replay"),
        ("openai:gpt-4o", "openai"),
    ],
)
def test_model_option_values(value: str, provider: str) -> None:
    """--model understands each provider's short form."""
    assert parse_model_option(value).provider == provider


@pytest.mark.parametrize(
    "cassette", sorted((SCENARIOS / "cassettes").glob("*.json")), ids=lambda p: p.stem
)
def test_shipped_cassettes_replay_the_recorded_local_model_runs(
    cassette: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each shipped cassette, recorded from the real local model, replays its scenario call
    for call; where the run answered, the replay gives the recorded answer."""
    trace = tmp_path / "t.jsonl"
    code = main(["run", cassette.stem, "--replay", str(cassette), "--quiet", "--trace", str(trace)])
    recorded = json.loads(cassette.read_text())["interactions"]
    records = list(read_trace(trace))
    calls = [r for r in records if r.event == "model.call"]
    assert len(calls) == len(recorded)
    assert {c.field("model") for c in calls} == {"local:SmolLM2-135M-Instruct.Q4_1"}
    assert not [
        r for r in records if r.event == "agent.error" and r.field("error_type") == "CassetteMiss"
    ]
    answers = [r.field("answer") for r in records if r.event == "response"]
    out = capsys.readouterr().out.strip()
    assert code == (0 if answers else 1)
    assert out == (answers[-1].strip() if answers else "")


def test_replay_and_model_cannot_be_combined(capsys: pytest.CaptureFixture[str]) -> None:
    """A replay answers every call, so --model with it is a usage error."""
    assert main(["run", "brainstorm", "--replay", str(CASSETTE), "--model", "fake"]) == 2
    assert "cannot be combined" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        parse_model_option("openai")
