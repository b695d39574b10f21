"""The gwa command: run, validate, schema, exit codes and error messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SCENARIOS

import gwa
from gwa.cli import main


def test_run_prints_progress_and_the_answer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A shipped scenario on the fake model answers: exit 0, answer out, progress on stderr."""
    code = main(["run", "brainstorm", "--model", "fake", "--trace", str(tmp_path / "t.jsonl")])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith("Answer to Suggest three practical ways")
    assert "model test:fake (because --model fake)" in err
    assert "cycle   1" in err
    assert "answered after" in err
    assert (tmp_path / "t.jsonl").exists()


def test_run_without_an_answer_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Stopping at max cycles with no answer is exit code 1; --json reports the status."""
    code = main(
        [
            "run",
            str(SCENARIOS / "debate.yaml"),
            "--model",
            "fake",
            "--max-cycles",
            "1",
            "--json",
            "--trace",
            str(tmp_path / "t.jsonl"),
        ]
    )
    body = json.loads(capsys.readouterr().out)
    assert code == 1
    assert (body["status"], body["cycles"], body["answer"]) == ("max_cycles", 1, None)


def test_record_then_replay_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--record writes a cassette that --replay answers from, giving the same answer."""
    cassette = tmp_path / "c.json"
    assert (
        main(
            [
                "run",
                "brainstorm",
                "--model",
                "fake",
                "--record",
                str(cassette),
                "--quiet",
                "--trace",
                str(tmp_path / "a.jsonl"),
            ]
        )
        == 0
    )
    first = capsys.readouterr().out
    assert (
        main(
            [
                "run",
                "brainstorm",
                "--replay",
                str(cassette),
                "--quiet",
                "--trace",
                str(tmp_path / "b.jsonl"),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == first


def test_validate_reports_located_errors_and_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Bad scenario files give file:line:col messages and exit code 2; good ones say ok."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents:\n  - name: x\n    role: wizard\n")
    code = main(["validate", str(SCENARIOS / "debate.yaml"), str(bad)])
    captured = capsys.readouterr()
    assert code == 2
    assert "debate.yaml: ok (4 agents, selection score)" in captured.out
    assert f"{bad}:3:11: unknown role 'wizard'" in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "no-such-scenario.yaml"], "file not found"),
        (["run", "brainstorm", "--model", "gpt"], "--model 'gpt' is not understood"),
        (["run", "brainstorm", "--replay", "missing.json"], "cassette not found"),
        (["run", "brainstorm", "--model", "fake", "--max-cycles", "0"], "at least 1"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Missing files, unknown options and broken cassettes are exit 2 with the reason."""
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_schema_prints_the_scenario_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """gwa schema prints a JSON Schema whose title is Scenario."""
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "Scenario"


def test_console_script_reports_its_version() -> None:
    """The installed entry point runs as a separate process."""
    result = subprocess.run(
        [sys.executable, "-m", "gwa", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"gwa {gwa.__version__}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the scenario is empty"),
        ("agents:\n  - {name: g, role: generator}\nworkspace: {max_cycles: many}\n", "max_cycles"),
        ("agents:\n  - {name: g, role: oracle}\n", "unknown role 'oracle'"),
        ("agents: {name: g}\n", "agents"),
    ],
)
def test_run_refuses_bad_scenarios_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    """Empty files, wrong types and unknown roles stop `gwa run` before any model is called."""
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    assert main(["run", str(path), "--model", "fake"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:" in err
    assert message in err
