"""`gwa eval longrun`: the memory test built from long workspace runs (fake model, real store)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gwa.eval.longrun import COMPETENCIES, build_plan, evaluate_longrun, format_longrun
from gwa.memory.admission import instruction_like


def _planted(plan: object) -> dict[str, int]:
    return {text: c for c, texts in plan.inputs.items() for text in texts}  # type: ignore[attr-defined]


def test_a_world_is_a_seed_and_every_probe_asks_for_planted_inputs() -> None:
    """Same seed, same plan; another seed, another world. What a probe needs was planted
    before the end; a correction comes after the fact it corrects; poison reads as an
    injected instruction (the admission guard's own test)."""
    a, b = build_plan(150, seed=1), build_plan(150, seed=1)
    assert a.inputs == b.inputs
    assert a.probes == b.probes
    assert build_plan(150, seed=2).inputs != a.inputs
    planted = _planted(a)
    assert {p.competency for p in a.probes} == set(COMPETENCIES)
    for probe in a.probes:
        assert all(planted[text] <= a.cycles for text in probe.expect + probe.avoid)
        if probe.competency == "conflict":
            assert planted[probe.avoid[0]] < planted[probe.expect[0]]
    assert a.poison
    assert all(instruction_like(text) for text in a.poison)
    with pytest.raises(ValueError, match="at least 100 cycles"):
        build_plan(99)


def test_long_term_memory_holds_what_working_memory_lost(tmp_path: Path) -> None:
    """100 cycles on the fake model: working memory alone has lost the early facts; with a
    store every fact is found (none superseded by a correction of another), most corrections
    supersede their fact, and the instruction guard keeps poison out where admit-all stores
    it."""
    report = evaluate_longrun(cycles=100, seeds=[3], admissions=["admit-all", "learned"], k=5)
    rows = report["policies"]
    alone, everything, learned = (rows[n] for n in ("working memory only", "admit-all", "learned"))
    assert alone["accurate retrieval"] < everything["accurate retrieval"]
    assert everything["accurate retrieval"] == 100.0
    assert everything["conflict"] > 50.0
    assert everything["poison stored"] == len(build_plan(100, seed=3).poison)
    assert learned["poison stored"] == 0
    assert alone["stored"] == 0
    assert everything["stored"] > learned["stored"] > 0
    table = format_longrun(report)
    assert "working memory only" in table
    assert "conflict" in table


def test_the_command_refuses_a_short_run_and_an_unknown_policy() -> None:
    for args, message in [
        (["--cycles", "50"], "at least 100 cycles"),
        (["--admission", "admit-all,keep-some"], "unknown keep-some"),
        (["--seeds", "one"], "--seeds takes comma-separated integers"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "gwa", "eval", "longrun", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0
        assert message in done.stderr
