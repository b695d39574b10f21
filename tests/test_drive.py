"""The entropy drive: estimators, control laws, deadlock escalation, and the loop it breaks."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gwa import Workspace, parse_scenario, read_trace
from gwa.agents.testing import FunctionModel, ScriptedModel
from gwa.drive import (
    DeadlockDetector,
    DeadlockRules,
    DriveSettings,
    EntropyDrive,
    PILaw,
    assignment_entropy,
    exp_law,
    soft_cluster_entropy,
    spectral_entropy,
)


def unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.where(norms == 0, 1, norms)).astype(np.float32)


VECTORS = arrays(
    np.float32, st.tuples(st.integers(2, 8), st.just(16)), elements=st.floats(-1, 1, width=32)
)


@given(VECTORS)
def test_spectral_and_assignment_entropy_lie_in_zero_to_one(rows: np.ndarray) -> None:
    """Both windowed estimators are normalised to 0..1 for any contents."""
    window = unit(rows + 1e-3)
    assert -1e-6 <= spectral_entropy(window) <= 1 + 1e-6
    assert -1e-6 <= assignment_entropy(window, window[:3]) <= 1 + 1e-6


def test_spectral_entropy_separates_repetition_from_variety() -> None:
    """The same content W times is 0; W orthogonal contents are 1."""
    same = unit(np.tile(np.arange(1, 17, dtype=np.float32), (6, 1)))
    assert spectral_entropy(same) == pytest.approx(0.0, abs=1e-5)
    assert spectral_entropy(np.eye(6, 16, dtype=np.float32)) == pytest.approx(1.0)


def test_assignments_in_one_cluster_have_zero_entropy() -> None:
    """Contents that all fall nearest one centroid give H = 0; spread evenly, H = 1."""
    centroids = np.eye(3, 16, dtype=np.float32)
    assert assignment_entropy(np.tile(centroids[0], (4, 1)), centroids) == 0.0
    assert assignment_entropy(centroids, centroids) == pytest.approx(1.0)


def test_soft_cluster_entropy_is_inert_with_random_centroids_and_wide_tau() -> None:
    """The reference setting (random centroids, τ = 0.5) gives H ≈ 1 for any content."""
    rng = np.random.default_rng(0)
    centroids = unit(rng.normal(size=(6, 384)))
    values = [
        soft_cluster_entropy(unit(rng.normal(size=(1, 384)))[0], centroids, 0.5) for _ in range(20)
    ]
    assert min(values) > 0.99
    assert soft_cluster_entropy(centroids[0], centroids, 0.05) < 0.1


@given(st.floats(0, 1), st.floats(0, 1))
def test_exp_law_cools_as_diversity_rises(h1: float, h2: float) -> None:
    """T = base + α·exp(−βH) falls with H and never passes the cap."""
    low, high = sorted((h1, h2))
    t = [exp_law(h, base=0.7, alpha=0.7, beta=4, cap=1.2) for h in (low, high)]
    assert t[0] >= t[1]
    assert all(0.7 <= x <= 1.2 for x in t)


@settings(max_examples=50)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=40))
def test_pi_law_stays_within_bounds(hs: Sequence[float]) -> None:
    """Whatever diversity it sees, the PI law keeps T within its bounds."""
    law = PILaw(base=0.7, target=0.6, kp=0.8, ki=0.2, low=0.2, high=1.5)
    assert all(0.2 <= law(h) <= 1.5 for h in hs)


def test_pi_law_heats_a_repetitive_workspace_and_cools_a_scattered_one() -> None:
    """Below target, T climbs over cycles; above target, it falls below base."""
    hot = PILaw(base=0.7, target=0.6, kp=0.8, ki=0.2, low=0.2, high=1.5)
    assert [round(hot(0.1), 2) for _ in range(3)] == [1.2, 1.3, 1.4]
    cold = PILaw(base=0.7, target=0.6, kp=0.8, ki=0.2, low=0.2, high=1.5)
    assert cold(1.0) < 0.7


def test_deadlock_escalates_step_by_step_then_recovers() -> None:
    """Persisting repeats climb the ladder spike → perspective → requery → stall; after quiet
    cycles the level steps back by one, to the step that resolved the deadlock."""
    detector = DeadlockDetector(DeadlockRules(similarity=0.9, repeats=2, recovery=2))
    steps = [d.step for _ in range(8) if (d := detector.observe(0.95, 0.5)) is not None]
    assert steps == ["spike", "perspective", "requery", "stall"]
    fresh = DeadlockDetector(DeadlockRules(repeats=2, recovery=2))
    assert [fresh.observe(0.95, 0.5) for _ in range(2)][-1] is not None
    fresh.observe(0.1, 0.5)
    fresh.observe(0.1, 0.5)
    assert fresh.level == 0


def test_after_recovery_the_step_that_worked_comes_first() -> None:
    """A deadlock resolved by the perspective step gets the perspective step next time."""
    detector = DeadlockDetector(DeadlockRules(repeats=1, recovery=2))
    assert [detector.observe(0.95, 0.5).step for _ in range(2)] == ["spike", "perspective"]  # type: ignore[union-attr]
    assert detector.observe(0.1, 0.5) is None
    assert detector.observe(0.1, 0.5) is None
    again = detector.observe(0.95, 0.5)
    assert again is not None
    assert again.step == "perspective"


def test_low_diversity_alone_is_a_deadlock() -> None:
    """H under h_min for low_cycles cycles counts even without exact repeats."""
    detector = DeadlockDetector(DeadlockRules(h_min=0.2, low_cycles=2))
    assert detector.observe(0.5, 0.1) is None
    deadlock = detector.observe(0.5, 0.1)
    assert deadlock is not None
    assert "diversity H < 0.2" in deadlock.evidence


class TableEmbedder:
    """Maps each distinct text to a fixed random unit vector."""

    def __init__(self) -> None:
        self.vectors: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(1)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        for t in texts:
            self.vectors.setdefault(t, unit(self.rng.normal(size=(1, 64)))[0])
        return np.stack([self.vectors[t] for t in texts])


def test_drive_heats_up_on_repetition_and_stays_cool_on_variety() -> None:
    """Repeating winners push T toward the cap; varied winners keep it near base."""
    looping = EntropyDrive(DriveSettings(), TableEmbedder())
    varied = EntropyDrive(DriveSettings(), TableEmbedder())
    for i in range(6):
        looping.update(i, "the same idea again")
        varied.update(i, f"idea number {i}")
    assert looping.temperature() > 1.2
    assert varied.temperature() < 0.8


LOOP = """
goal: name a colour
agents:
  - {{name: parrot, role: generator}}
selection: {{policy: score}}
workspace: {{max_cycles: 30}}
drive:
  estimator: {estimator}
  deadlock: {{repeats: 2, recovery: 5}}
"""


@pytest.mark.parametrize("estimator", ["spectral", "assignments", "soft_cluster"])
async def test_a_looping_run_escalates_and_stops_as_stalled(
    trace_file: Path, estimator: str
) -> None:
    """An agent that repeats itself gets a spike, a perspective note, a re-query, then a stall."""
    model = ScriptedModel([json.dumps({"candidates": [{"text": "Paint it blue."}]})], cycle=True)
    ws = Workspace(
        parse_scenario(LOOP.format(estimator=estimator)),
        models={"default": model},
        trace_path=trace_file,
    )
    result = await ws.run()
    assert result.status == "stalled"
    assert "deadlock persisted" in result.reason
    records = list(read_trace(trace_file))
    steps = [r.field("step") for r in records if r.event == "deadlock"]
    assert steps == ["spike", "perspective", "requery", "stall"]
    updates = [r for r in records if r.event == "drive.update"]
    assert updates[-1].field("estimator") == estimator
    assert max(u.field("temperature") for u in updates) > 1.0
    assert all(set(u.field("temperatures")) == {"parrot"} for u in updates)
    note_cycle = next(
        r.cycle for r in records if r.event == "deadlock" and r.field("step") == "perspective"
    )
    prompts = [r.messages[1].content for r in model.requests]
    assert "The last thoughts repeat each other. Think about the goal" in prompts[note_cycle]
    requery = [r for r in records if r.event == "memory.retrieve" and r.field("mode") == "novelty"]
    assert len(requery) == 1
    withheld = next(r for r in records if r.event == "broadcast" and r.cycle == note_cycle + 1)
    assert withheld.field("winner") is None
    assert all(e["kind"] != "thought" for e in withheld.field("working_memory"))
    assert "LAST WINNER" not in prompts[note_cycle]


COLOURS = ["red", "green", "amber", "violet", "teal", "ochre", "coral", "jade", "lilac"]
DUO = """
goal: name a colour
models: {parrot: {provider: fake}, fresh: {provider: fake}, judge: {provider: fake}}
agents:
  - {name: parrot, role: generator, model: parrot}
  - {name: fresh, role: generator, model: fresh}
  - {name: judge, role: arbiter, model: judge}
selection: {policy: arbiter}
workspace: {max_cycles: 12}
drive:
  inhibition: deadlock
  deadlock: {repeats: 2, recovery: 3}
"""


async def test_inhibition_of_return_stops_a_repeat_from_winning_in_a_deadlock(
    trace_file: Path,
) -> None:
    """Once a deadlock is detected, a near-copy of the last winner may not win again: the
    other generator's different idea wins instead (and the trace names what was inhibited)."""
    said = itertools.count()
    parrot = FunctionModel(
        lambda req: json.dumps(
            {"candidates": [{"text": "Paint it blue.", "salience": 1.0 + 0 * next(said)}]}
        )
    )
    ideas = (f"colour idea {COLOURS[i % len(COLOURS)]} number {i}" for i in itertools.count())
    fresh = FunctionModel(
        lambda req: json.dumps({"candidates": [{"text": next(ideas), "salience": 0.2}]})
    )
    # The judge always picks the first candidate it is shown: the parrot's, while it may win.
    judge = ScriptedModel([json.dumps({"winner": 1, "tag": "THINK_MORE"})], cycle=True)
    ws = Workspace(
        parse_scenario(DUO),
        models={"parrot": parrot, "fresh": fresh, "judge": judge},
        trace_path=trace_file,
    )
    await ws.run()
    records = list(read_trace(trace_file))
    first = next(r.cycle for r in records if r.event == "deadlock")
    inhibited = [r for r in records if r.event == "selection.inhibit"]
    assert inhibited
    assert all(r.cycle > first for r in inhibited)
    winners = {r.cycle: r.agent for r in records if r.event == "selection"}
    assert list(winners.values())[:first] == ["parrot"] * first  # it had been looping
    # While inhibited, the repeat cannot win: the new ideas do, cycle after cycle.
    window = range(first + 1, first + 1 + 2 + 3)  # spike_cycles + recovery
    assert [winners[t] for t in window if t in winners] == ["fresh"] * len(window)


async def test_standing_inhibition_never_lets_a_recent_winner_win_again(trace_file: Path) -> None:
    """inhibition: always (the default): the repeat never wins twice within the window; when
    every candidate is a repeat there is no winner and the attempt feeds deadlock detection."""
    parrot = ScriptedModel(
        [json.dumps({"candidates": [{"text": "Paint it blue.", "salience": 1.0}]})],
        cycle=True,
    )
    judge = ScriptedModel([json.dumps({"winner": 1, "tag": "THINK_MORE"})], cycle=True)
    text = DUO.replace("inhibition: deadlock", "inhibition: always").replace(
        "  - {name: fresh, role: generator, model: fresh}\n", ""
    )
    ws = Workspace(
        parse_scenario(text), models={"parrot": parrot, "judge": judge}, trace_path=trace_file
    )
    result = await ws.run()
    records = list(read_trace(trace_file))
    winners = [r.field("text") for r in records if r.event == "selection" and r.field("text")]
    assert winners[0] == "Paint it blue."
    no_winner = [r for r in records if r.event == "selection" and r.field("text") is None]
    assert no_winner
    assert "repeats a recent winner" in no_winner[0].field("reason")
    # The blocked attempts still count as repeats: the drive escalates and finally stops.
    assert next(r.field("step") for r in records if r.event == "deadlock") == "spike"
    assert result.status == "stalled"
