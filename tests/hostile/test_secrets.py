"""Secrets are redacted by value, wherever GWA writes: a value a scenario took from the
environment, a password in a URL, an API key; in the trace, the output, the cassette and the
long-term store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gwa.cli import main

SECRET = "pw-9f8e7d6c5b4a"
SCENARIO = """
goal: "Plan the launch; the admin password is ${GWA_TEST_DB_PASS}"
agents:
  - {name: g, role: generator}
selection: {policy: score, respond_min_score: -5}
workspace: {max_cycles: 6, working_memory_tokens: 40}
memory: {path: store}
models:
  spare:
    provider: openai
    name: m
    base_url: "http://bob:hunter2-horse@127.0.0.1:9/v1"
"""


def everything_written(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_an_environment_value_never_reaches_a_file_or_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ${VAR} interpolated into the goal (whose name does not look secret) is redacted in
    stdout (plain and --json), stderr, the trace, the cassette and the store files; so is the
    password in a model URL."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GWA_TEST_DB_PASS", SECRET)
    (tmp_path / "s.yaml").write_text(SCENARIO)
    for extra in ([], ["--json"]):
        code = main(
            ["run", "s.yaml", "--model", "fake", "--record", "c.json", "--trace", "t.jsonl", *extra]
        )
        assert code == 0
        out, err = capsys.readouterr()
        assert SECRET not in out
        assert SECRET not in err
        assert "[redacted]" in out
    written = everything_written(tmp_path / "store") + (tmp_path / "t.jsonl").read_bytes()
    written += (tmp_path / "c.json").read_bytes()
    assert SECRET.encode() not in written
    assert b"hunter2-horse" not in written
    assert b"[redacted]" in (tmp_path / "t.jsonl").read_bytes()
    assert main(["memory", "--store", "store", "export", "-"]) == 0
    exported = capsys.readouterr().out
    assert exported.count("\n") > 1
    assert SECRET not in exported
    recorded = json.loads((tmp_path / "c.json").read_text())["interactions"]
    assert any("[redacted]" in i.get("text", "") for i in recorded)
