"""The defects a close read of the core found (issue 14), each pinned by a test."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gwa import parse_scenario
from gwa.agents.roles import CandidatesOut, ResponseOut, SummaryOut, debris, parse_output
from gwa.errors import RoleOutputError
from gwa.memory import AdmissionCandidate, Signals, make_entry
from gwa.memory.admission import LearnedAdmission, TrustBook
from gwa.memory.shared import SharedMemory
from gwa.memory.store import LongTermMemory

THOUGHT = "Host a monthly manga club with the local comic shop, run by two teen volunteers."


def test_a_stored_memory_keeps_the_trust_of_its_source(tmp_path: Path) -> None:
    """Admission stored every memory at trust 0.5 (a signal key nothing wrote); now the
    record carries the trust its source had when it was admitted."""
    trust = TrustBook()
    trust.counts["gen"] = [9.0, 11.0]  # 0.45: still trusted, but not the default 0.5
    learned = LearnedAdmission(trust=trust)
    learned.policy.epsilon = 0.0
    memory = SharedMemory(LongTermMemory(tmp_path / "m"), learned)
    entry = make_entry("c1", 1, "gen", "thought", THOUGHT)
    candidate = AdmissionCandidate(entry, "r", "evicted", "generator", (), Signals(won=1.0))
    (decision,) = asyncio.run(memory.offer([candidate]))
    assert decision.admitted
    record = memory.store.get(decision.memory_id or "")
    assert record is not None
    assert record.trust == pytest.approx(0.45)
    memory.close()


@pytest.mark.parametrize(
    "text",
    [
        '...", "final":false}}, {',
        "...“, “final”:false}}, {",
        "... 2, 3.9.2",
        "!!! ??? ... --- !!!",
        '{"text": "a thought", "salience": 0.7}',
        "Ben, Ben, Bina Ben, Ben, Bina Ben, Ben, Bina",
        "ben ben ben ben ben ben",
    ],
)
def test_debris_is_not_a_thought(text: str) -> None:
    """Punctuation, JSON fragments of the output format and a repeated phrase are rejected
    by the role's validation wherever a text can be published."""
    assert debris(text) is not None
    for kind, body in (
        ("candidates", {"candidates": [{"text": text}]}),
        ("response", {"answer": text}),
        ("summary", {"summary": text}),
    ):
        import json

        with pytest.raises(RoleOutputError, match="not a thought"):
            parse_output(kind, json.dumps(body))


@pytest.mark.parametrize(
    "text",
    [
        "Host a monthly manga club run by teen volunteers.",
        "1. Book club; 2. gaming night; 3. a zine workshop.",
        'Call it "Green Corner": short, friendly, local.',
        "42",
        "Open until 9 p.m. on Fridays (teens only).",
    ],
)
def test_ordinary_thoughts_pass(text: str) -> None:
    """Lists, quotes, numbers and brackets in ordinary sentences are thoughts."""
    assert debris(text) is None
    assert CandidatesOut.model_validate({"candidates": [{"text": text}]})
    assert ResponseOut(answer=text).answer == text
    assert SummaryOut(summary=text).summary == text


def test_an_idle_workspace_has_the_drive_unless_the_scenario_turns_it_off() -> None:
    """Idle thinking without the drive loops on near-copies; it is on by default there."""
    base = "goal: g\nagents:\n  - {name: g, role: generator}\nselection: {policy: score}\n"
    idle = base + "workspace: {idle: {enabled: true}}\n"
    assert parse_scenario(idle).drive is not None
    off = parse_scenario(idle + "drive: {enabled: false}\n").drive
    assert off is not None
    assert not off.enabled
    assert parse_scenario(base).drive is None
