"""A run killed with SIGKILL at random moments and resumed each time writes, cycle for cycle,
the events of an uninterrupted run, and its long-term memory ends the same (none lost, none
stored twice)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gwa import read_trace
from gwa.memory import LongTermMemory

CASSETTE = Path(__file__).resolve().parent.parent / "gwa/scenarios/cassettes/brainstorm.json"
VOLATILE = ("ts", "run", "seq", "latency_ms", "duration_s", "ms", "bytes", "id")
KILLS = 20


def _command(trace: Path, memory: Path, resume: bool) -> list[str]:
    head = ["--resume", "last"] if resume else ["brainstorm"]
    return [
        sys.executable, "-m", "gwa", "run", *head, "--replay", str(CASSETTE),
        "--trace", str(trace), "--memory", str(memory), "--quiet",
    ]  # fmt: skip


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _run(cmd: list[str], env: dict[str, str], trace: Path, kill_at: int | None) -> bool:
    """Run ``cmd``; SIGKILL it once the trace holds ``kill_at`` lines. True if it was killed."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while proc.poll() is None:
            if kill_at is not None and _lines(trace) >= kill_at:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.0005)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 1), proc.stderr.read().decode() if proc.stderr else ""
    return False


def effective(trace: Path) -> list[dict[str, Any]]:
    """The events that count: at each ``run.resume`` from cycle k, what the killed process
    wrote after its checkpoint of cycle k is dropped (that work was lost and done again)."""
    out: list[dict[str, Any]] = []
    for record in read_trace(trace):
        d = json.loads(record.model_dump_json(exclude_unset=True))
        d["event"] = record.event
        if record.event == "run.resume":
            k = d["cycle"]
            marks = [i for i, e in enumerate(out) if e["event"] == "checkpoint" and e["cycle"] == k]
            del out[marks[-1] + 1 if marks else 0 :]
            continue
        for key in VOLATILE:
            d.pop(key, None)
        if record.event == "run.start":
            d.pop("config", None)
        out.append(d)
    return out


def _memories(path: Path) -> list[tuple[str, str]]:
    store = LongTermMemory(path, create=False)
    try:
        return sorted((r.id, r.text) for r in store.records())
    finally:
        store.close()


@pytest.mark.timeout(600)
def test_kill_and_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """20 SIGKILLs at random moments, each followed by --resume last: the same events, cycle
    for cycle, and the same long-term memories as a run never interrupted."""
    env = {**os.environ, "GWA_RUNS": str(tmp_path / "runs.sqlite")}
    ref_trace, ref_mem = tmp_path / "ref.jsonl", tmp_path / "ref-mem"
    _run(_command(ref_trace, ref_mem, False), env, ref_trace, None)
    reference = effective(ref_trace)
    total = _lines(ref_trace)
    rng = random.Random(15)
    kills, chains = 0, 0
    while kills < KILLS:
        chains += 1
        trace, mem = tmp_path / f"chain{chains}.jsonl", tmp_path / f"mem{chains}"
        env["GWA_RUNS"] = str(tmp_path / f"runs{chains}.sqlite")
        resume = False
        while kills < KILLS:
            at = _lines(trace) + rng.randint(1, total // 3)
            if not _run(_command(trace, mem, resume), env, trace, at):
                break
            kills, resume = kills + 1, True
        else:
            _run(_command(trace, mem, True), env, trace, None)
        resumes = sum(1 for e in read_trace(trace) if e.event == "run.resume")
        assert resumes >= 1 or kills == 0
        assert effective(trace) == reference, f"chain {chains} differs"
        assert _memories(mem) == _memories(ref_mem)
