"""The recorded runs replay to the same event sequence, pinned in tests/golden/.

Each case is a shipped cassette (recorded from the embedded model) or a shipped scenario on
the fake model. A change to the core that alters what a run writes fails here; a change that
does so on purpose re-pins with ``python tests/test_golden.py`` and says why in its commit.

Everything is compared exactly but floating-point numbers, which may differ in their last
digits between CPUs: onnxruntime picks its matrix kernels by instruction set (AVX2 against
AVX-512), so the embedder's vectors, and the entropies, similarities and temperatures computed
from them, move by about 1e-7 (seen between an AMD EPYC with AVX2 and the machine that pinned
these runs; a temperature rounded to 4 decimals then moves by one unit of its last place).
Every decision taken from them (winners, deadlocks, memories kept) must still be the same.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from gwa import read_trace
from gwa.cli import main

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
SCENARIOS = HERE.parent / "gwa" / "scenarios"
VOLATILE = ("ts", "run", "latency_ms", "duration_s", "ms")
REL_TOL, ABS_TOL = 1e-5, 1.5e-4
"""How far a float may move between CPUs (see the module's docstring): 1.5e-4 is one and a
half units of the last place of a value rounded to 4 decimals."""

CASES: dict[str, list[str]] = {
    "brainstorm-replay": [
        "run",
        "brainstorm",
        "--replay",
        str(SCENARIOS / "cassettes" / "brainstorm.json"),
    ],
    "debate-replay": ["run", "debate", "--replay", str(SCENARIOS / "cassettes" / "debate.json")],
    "bookkeeper-replay": [
        "run",
        "bookkeeper",
        "--replay",
        str(SCENARIOS / "cassettes" / "bookkeeper.json"),
    ],
    "brainstorm-fake": ["run", "brainstorm", "--model", "fake"],
    "echo-chamber-fake": ["run", "echo-chamber", "--model", "fake", "--max-cycles", "12"],
    "idle-thinker-fake": ["run", "idle-thinker", "--model", "fake"],
}


def normalise(path: Path) -> list[dict[str, Any]]:
    """The events of a trace without what differs between runs (time, run id, latency)."""
    out = []
    for record in read_trace(path):
        d = json.loads(record.model_dump_json(exclude_unset=True))
        for key in VOLATILE:
            d.pop(key, None)
        d["event"] = record.event
        if record.event == "run.start":
            d.pop("config", None)
        if record.event == "checkpoint":  # id: the run id; ms and bytes (a timestamp inside) vary
            d.pop("id", None)
            d.pop("ms", None)
            d.pop("bytes", None)
        out.append(d)
    return out


def replay(case: str, folder: Path) -> list[dict[str, Any]]:
    """Run one case in ``folder`` (its memory store starts empty) and normalise its trace."""
    trace = folder / f"{case}.jsonl"
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        main([*CASES[case], "--quiet", "--trace", str(trace)])
    finally:
        os.chdir(cwd)
    return normalise(trace)


def same(a: Any, b: Any) -> bool:
    """Equal, floats within the CPU tolerance (an int and a float never match: a count that
    becomes a fraction is a change)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_same_tolerates_float_noise_and_nothing_else() -> None:
    assert same({"t": 1.0446, "h": [0.07342258553]}, {"t": 1.0445, "h": [0.07342278340]})
    assert not same({"t": 1.0446}, {"t": 1.0449})
    assert not same({"n": 1}, {"n": 1.0})
    assert not same({"w": "a", "t": 1.0}, {"w": "b", "t": 1.0})
    assert not same([1.0, 2.0], [1.0])
    assert not same({"a": 1.0}, {"a": 1.0, "b": 2})


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", sorted(CASES))
def test_runs_replay_to_the_pinned_events(case: str, tmp_path: Path) -> None:
    """Every event a pinned run wrote is written again, in order, with the same fields."""
    pinned = [json.loads(line) for line in (GOLDEN / f"{case}.jsonl").read_text().splitlines()]
    events = replay(case, tmp_path)
    assert [e["event"] for e in events] == [e["event"] for e in pinned]
    for i, (got, want) in enumerate(zip(events, pinned, strict=True)):
        assert same(got, want), f"event {i} ({want['event']}) differs:\n{got}\n{want}"


if __name__ == "__main__":  # re-pin: python tests/test_golden.py [CASE ...]
    import tempfile

    os.environ["GWA_FORBID_NETWORK_MODELS"] = "1"
    GOLDEN.mkdir(exist_ok=True)
    for name in sys.argv[1:] or sorted(CASES):
        with tempfile.TemporaryDirectory() as tmp:
            lines = [json.dumps(e, ensure_ascii=False) for e in replay(name, Path(tmp))]
        (GOLDEN / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
        print(f"pinned {name}: {len(lines)} events")
