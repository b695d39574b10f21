"""Durable runs in the workspace: a checkpoint per cycle, resume, fork, `gwa runs`, and the
errors of each."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from gwa import Workspace, parse_scenario, read_trace
from gwa.agents.testing import FakeModel
from gwa.cli import main
from gwa.drive import DriveSettings, EntropyDrive
from gwa.errors import ConfigError, RunLocked, RunsError
from gwa.events import CheckpointSaved, CycleStart, Event, RunResume, RunStart
from gwa.memory.embeddings import MiniLMEmbedder
from gwa.runs import RunInfo, SqliteStore, open_store, owner_id
from gwa.testing import capture_events

SCENARIOS = Path(__file__).resolve().parents[2] / "gwa" / "scenarios"
VOLATILE = ("ts", "run", "seq", "latency_ms", "duration_s", "ms", "bytes", "id")


def echo(tmp: Path, **kw: Any) -> Workspace:
    """The echo-chamber scenario (drive, inhibition, escalation) on the fake model."""
    return Workspace.from_yaml(
        SCENARIOS / "echo-chamber.yaml",
        models={"default": FakeModel(final_after=100)},
        memory_path=tmp / "memory",
        runs=tmp / "runs.sqlite",
        **kw,
    )


def effective(events: list[Event]) -> list[dict[str, Any]]:
    """Events as written, without what varies between runs; at a resume from cycle k, what
    followed the checkpoint of cycle k is dropped (it was done again)."""
    out: list[dict[str, Any]] = []
    for e in events:
        d = json.loads(e.model_dump_json(exclude_unset=True))
        d["event"] = e.event
        if isinstance(e, RunResume):
            marks = [
                i for i, x in enumerate(out) if x["event"] == "checkpoint" and x["cycle"] == e.cycle
            ]
            del out[marks[-1] + 1 :]
            continue
        for key in VOLATILE:
            d.pop(key, None)
        d.pop("config", None)
        out.append(d)
    return out


@pytest.mark.timeout(120)
async def test_every_cycle_is_checkpointed_and_traced(tmp_path: Path) -> None:
    """One ``checkpoint`` event per cycle, naming RUN@CYCLE, and one stored checkpoint each."""
    ws = echo(tmp_path, trace_path=tmp_path / "t.jsonl")
    with capture_events(ws) as events:
        result = await ws.run()
    marks = events.of(CheckpointSaved)
    assert [m.cycle for m in marks] == list(range(1, result.cycles + 1))
    assert [m.id for m in marks] == [f"{result.run}@{c}" for c in range(1, result.cycles + 1)]
    assert all(m.bytes > 0 for m in marks)
    info = open_store(tmp_path / "runs.sqlite").info(result.run)
    assert (info.status, info.cycles, info.checkpoints) == (
        result.status,
        result.cycles,
        result.cycles,
    )


@pytest.mark.timeout(120)
async def test_a_stopped_run_resumes_to_the_events_of_an_uninterrupted_one(tmp_path: Path) -> None:
    """Stopped after cycle 4 and resumed by a new workspace (a new model object too), the run
    writes the same events, cycle for cycle, as one never stopped, into the same trace."""
    ref_dir, dir_ = tmp_path / "ref", tmp_path / "run"
    ref = echo(ref_dir, trace_path=ref_dir / "t.jsonl")
    reference = await ref.run()
    expected = effective(list(read_trace(ref_dir / "t.jsonl")))

    first = echo(dir_, trace_path=dir_ / "t.jsonl")

    def stop_at_4(e: Event) -> None:
        if isinstance(e, CheckpointSaved) and e.cycle == 4:
            first.stop("a person closed the laptop")

    first.add_listener(stop_at_4)
    stopped = await first.run()
    assert (stopped.status, stopped.cycles) == ("stopped", 4)
    resumed = await echo(dir_).run(resume=stopped.run)
    assert resumed.run == stopped.run
    assert (resumed.status, resumed.cycles, resumed.answer) == (
        reference.status,
        reference.cycles,
        reference.answer,
    )
    assert effective(list(read_trace(dir_ / "t.jsonl"))) == expected


@pytest.mark.timeout(120)
async def test_a_changed_scenario_is_refused_with_what_changed(tmp_path: Path) -> None:
    """Resuming with other settings names the setting and points to --fork."""
    ws = echo(tmp_path, trace_path=False)
    result = await ws.run()
    changed = echo(tmp_path, trace_path=False)
    changed.scenario = changed.scenario.model_copy(
        update={"workspace": changed.scenario.workspace.model_copy(update={"max_cycles": 3})}
    )
    with pytest.raises(ConfigError, match=r"(?s)fork it.*workspace\.max_cycles = 3"):
        await changed.run(resume=result.run)


@pytest.mark.timeout(120)
async def test_a_fork_starts_a_new_run_from_a_cycle_with_changed_settings(tmp_path: Path) -> None:
    """A fork from cycle 2 is a new run whose trace starts with run.start and run.resume
    (fork, overrides), goes on at cycle 3 with the new setting and the new input, and names
    its parent in the store."""
    parent = await echo(tmp_path, trace_path=False).run()
    ws = echo(tmp_path, trace_path=tmp_path / "fork.jsonl")
    with capture_events(ws) as events:
        fork = await ws.fork(
            parent.run, 2, {"workspace.temperature": "1.3"}, inputs=["Consider a skate park."]
        )
    assert fork.run != parent.run
    assert events.kinds[:2] == ["run.start", "run.resume"]
    start, resume = events.of(RunStart)[0], events.of(RunResume)[0]
    assert start.config["workspace"]["temperature"] == 1.3
    assert (resume.checkpoint, resume.fork, resume.overrides) == (
        f"{parent.run}@2",
        True,
        {"workspace.temperature": "1.3"},
    )
    assert events.of(CycleStart)[0].cycle == 3
    assert "Consider a skate park." in json.dumps([e.model_dump() for e in events])
    assert open_store(tmp_path / "runs.sqlite").info(fork.run).parent == f"{parent.run}@2"
    assert ws.scenario.workspace.temperature != 1.3  # the workspace itself is unchanged


@pytest.mark.timeout(60)
async def test_a_fork_override_that_does_not_fit_names_the_key(tmp_path: Path) -> None:
    """An unknown or ill-typed setting is refused before anything runs."""
    parent = await echo(tmp_path, trace_path=False).run()
    ws = echo(tmp_path, trace_path=False)
    with pytest.raises(ConfigError, match=r"--set workspace\.temperatur: Extra inputs"):
        await ws.fork(parent.run, 1, {"workspace.temperatur": "1"})
    with pytest.raises(ConfigError, match=r"--set agents\.nobody\.x: no item 'nobody'"):
        await ws.fork(parent.run, 1, {"agents.nobody.x": "1"})


@pytest.mark.timeout(60)
def test_the_drive_resumes_exactly_from_its_snapshot() -> None:
    """A drive restored from a JSON round trip of its snapshot regulates the next winners
    exactly as the original does."""
    a = EntropyDrive(DriveSettings(window=4, law="pi"), MiniLMEmbedder.shared())
    for i, text in enumerate(["a lot", "a park", "a park", "a park", "housing"]):
        a.update(i, text)
    b = EntropyDrive(DriveSettings(window=4, law="pi"), MiniLMEmbedder.shared())
    b.restore(json.loads(json.dumps(a.snapshot())))
    for i, text in enumerate(["a park", "a park", "market", None]):
        assert a.update(10 + i, text) == b.update(10 + i, text)


@pytest.mark.timeout(120)
def test_checkpoints_and_run_facts_hold_no_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API key in the scenario and a value taken from the environment into the goal (so
    into every thought and working memory) never reach the store, compressed or not."""
    secret, code = "sk-test-SECRET-4242", "code-5151-xyzzy"
    monkeypatch.setenv("GWA_TEST_LAUNCH_CODE", code)
    text = (
        'goal: "Plan the launch; the code is ${GWA_TEST_LAUNCH_CODE}"\nmodels:\n'
        "  default: {provider: openai, name: x, api_key: " + secret + "}\n"
        "agents:\n  - {name: a, role: generator}\nselection: {policy: score}\n"
        "workspace: {max_cycles: 2}\n"
    )
    ws = Workspace(
        parse_scenario(text),
        models={"default": FakeModel()},
        trace_path=False,
        memory_path=False,
        runs=tmp_path / "runs.sqlite",
    )
    ws.run_sync()
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    blobs = [zlib.decompress(r[0]) for r in db.execute("SELECT data FROM gwa_checkpoints")]
    rows = [r[0] + r[1] for r in db.execute("SELECT facts, goal FROM gwa_runs")]
    db.close()
    assert blobs
    assert rows
    assert any(b"[redacted]" in b for b in blobs)  # the thoughts quoting the goal
    for value in (secret, code):
        assert not any(value.encode() in b for b in blobs)
        assert not any(value in r for r in rows)
        assert value.encode() not in (tmp_path / "runs.sqlite").read_bytes()
    again = Workspace.from_run("last", runs=tmp_path / "runs.sqlite", trace_path=False)
    assert again.scenario.models["default"].api_key is None  # read from the environment again
    again.register_model("default", FakeModel())
    resumed = asyncio.run(again.run(resume="last"))
    assert (resumed.status, resumed.cycles) == ("max_cycles", 2)


@pytest.mark.timeout(180)
def test_the_runs_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """run → runs ls/show → resume refused (answered) → fork with --set → rm → prune."""
    store = ["--runs", str(tmp_path / "runs.sqlite")]
    fake = ["--model", "fake", "--quiet", "--no-memory"]
    assert main(["run", "brainstorm", *fake, *store]) == 0
    capsys.readouterr()
    assert main(["runs", *store, "ls", "--json"]) == 0
    (first,) = json.loads(capsys.readouterr().out)
    assert first["status"] == "answered"
    assert first["checkpoints"] == first["cycles"] > 1
    assert main(["runs", *store, "show", "last"]) == 0
    assert "answered" in capsys.readouterr().out
    assert main(["run", "--resume", "last", *store]) == 2
    assert f"fork it: gwa run --fork {first['run']}@" in capsys.readouterr().err
    sets = ["--set", "workspace.temperature=1.1", "--set", "agents.critic.temperature=0.3"]
    assert main(["run", "--fork", f"{first['run']}@2", *sets, *fake, *store]) == 0
    capsys.readouterr()
    assert main(["runs", *store, "ls", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["parent"] for r in runs] == [f"{first['run']}@2", None]
    assert main(["run", "--resume", "nope", *store]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["run", "brainstorm", "--set", "a=b", *store]) == 2
    assert "add --fork" in capsys.readouterr().err
    assert main(["runs", *store, "rm", first["run"]]) == 0
    assert main(["runs", *store, "prune", "--older-than", "0"]) == 0
    capsys.readouterr()
    assert main(["runs", *store, "ls", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.timeout(120)
def test_resuming_a_run_another_process_runs_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lock: a live owner makes --resume exit 2 naming the process."""
    store = open_store(tmp_path / "runs.sqlite")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = owner_id().rpartition(":")[0]
        info = RunInfo("busy", "brainstorm", "h", "g", "running", "", 1, None, None, None,
                       None, 1.0, 1.0, facts={"scenario_hash": "h"})  # fmt: skip
        store.begin(info, f"{host}:{child.pid}")
        with pytest.raises(RunLocked):
            store.claim("busy", owner_id())
        code = main(
            ["run", "brainstorm", "--resume", "busy", "--runs", str(tmp_path / "runs.sqlite")]
        )
        assert code == 2
        assert f"being run by process {host}:{child.pid}" in capsys.readouterr().err
    finally:
        child.kill()
        child.wait()
        store.close()


@pytest.mark.timeout(120)
async def test_a_full_disk_ends_the_run_with_an_error_and_keeps_its_checkpoints(
    tmp_path: Path,
) -> None:
    """When a checkpoint cannot be written the run stops (``run.end`` error, `RunsError`
    naming the store and the fix) and the checkpoints before it still resume."""
    store = SqliteStore(tmp_path / "runs.sqlite")
    ws = Workspace.from_yaml(
        SCENARIOS / "echo-chamber.yaml",
        models={"default": FakeModel(final_after=100)},
        memory_path=False,
        trace_path=tmp_path / "t.jsonl",
        runs=store,
    )

    def fill_the_disk(e: Event) -> None:
        if isinstance(e, CheckpointSaved) and e.cycle == 2:
            pages = store._db.execute("PRAGMA page_count").fetchone()[0]
            store._db.execute(f"PRAGMA max_page_count={pages}")

    ws.add_listener(fill_the_disk)
    with pytest.raises(RunsError, match=r"disk full.*previous checkpoint is intact"):
        await ws.run()
    end = list(read_trace(tmp_path / "t.jsonl"))[-1]
    assert (end.event, end.status, end.error_type) == ("run.end", "error", "RunsError")
    store._db.execute("PRAGMA max_page_count=1073741823")
    assert store.get(store.info("last").run).cycle == 2
