"""The trace contract: every kind typed, the exported JSON Schema, and what shipped runs write."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from test_golden import CASES

from gwa import Workspace, parse_scenario
from gwa.agents.testing import FakeModel
from gwa.cli import main
from gwa.events import KINDS, RunEnd, SelectionMade, parse_event, to_record, trace_schema
from gwa.testing import capture_events


def test_gwa_schema_trace_prints_a_schema_with_every_kind(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`gwa schema --trace` is the JSON Schema of a line: one variant per event kind."""
    assert main(["schema", "--trace"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert len(schema["oneOf"]) == len(KINDS)
    consts = {
        v["properties"]["event"]["const"]
        for v in schema["$defs"].values()
        if "event" in v.get("properties", {}) and "const" in v["properties"]["event"]
    }
    assert consts == set(KINDS)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_event_a_shipped_run_writes_fits_its_type_and_the_schema(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each line of each shipped scenario's trace parses as its kind with no field left over,
    and validates against the exported schema."""
    monkeypatch.chdir(tmp_path)
    trace = tmp_path / "t.jsonl"
    main([*CASES[case], "--quiet", "--trace", str(trace)])
    validator = jsonschema.Draft202012Validator(trace_schema())
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert lines
    for line in lines:
        event = parse_event(line)
        assert type(event) is KINDS[line["event"]]
        assert to_record(event) == line
        validator.validate(line)


async def test_capture_events_collects_typed_events_of_a_run() -> None:
    """gwa.testing.capture_events gives a test the run's events, typed, in order."""
    scenario = parse_scenario(
        "goal: g\nagents:\n  - {name: g, role: generator}\n"
        "selection: {policy: score, respond_min_score: -5}\nworkspace: {max_cycles: 3}\n"
    )
    ws = Workspace(scenario, models={"default": FakeModel(final_after=1)}, trace_path=False)
    with capture_events(ws) as events:
        result = await ws.run()
    assert events.kinds[0] == "run.start"
    (end,) = events.of(RunEnd)
    assert (end.status, end.answer) == (result.status, result.answer)
    assert [s.cycle for s in events.of(SelectionMade)] == list(range(1, result.cycles + 1))
    await ws.run()
    assert events.kinds.count("run.start") == 1  # nothing is captured after the block
