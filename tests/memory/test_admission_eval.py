"""`gwa eval admission` reports the learned policy with and without the chat-style cues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gwa.eval.admission import LEARNED, _deciding, evaluate_admission, format_admission
from gwa.memory.admission import CHAT_CUES, COLD_START, LogisticPolicy, without

FACTS = [
    ("Ana", "I adopted a grey cat named Pixel last week!"),
    ("Ben", "Wow, that's great! What does Pixel like?"),
    ("Ana", "Pixel loves chasing the red laser pointer in the hallway."),
    ("Ben", "Cool. I started learning the cello in March."),
    ("Ana", "Nice! Which teacher do you have?"),
    ("Ben", "My teacher is Mrs Okafor from the Riverside music school."),
    ("Ana", "Thanks for telling me."),
    ("Ben", "Yeah, sure."),
]


def _conversation(sid: str, shift: int) -> dict[str, Any]:
    turns = [
        {"speaker": who, "dia_id": f"D1:{i + 1}", "text": f"{said} ({sid} {shift})"}
        for i, (who, said) in enumerate(FACTS)
    ]
    qa = [
        {"question": "What is the name of Ana's cat?", "evidence": ["D1:1"], "category": 4},
        {"question": "What does Pixel like to chase?", "evidence": ["D1:3"], "category": 4},
        {"question": "Who teaches Ben the cello?", "evidence": ["D1:4", "D1:6"], "category": 1},
    ]
    conv = {"speaker_a": "Ana", "speaker_b": "Ben", "session_1_date_time": "1 May 2023"}
    return {"sample_id": sid, "conversation": {**conv, "session_1": turns}, "qa": qa}


def test_without_zeroes_only_the_named_features() -> None:
    f = {"reaction": 1.0, "novelty": 0.7, "exclaim": 0.5}
    assert without(f, ("reaction", "exclaim")) == {"reaction": 0.0, "novelty": 0.7, "exclaim": 0.0}
    assert without(f, ()) == f


def test_the_generic_policy_decides_without_the_chat_cues() -> None:
    """A policy that weighs a chat cue heavily: with the cue masked the decision ignores it."""
    policy = LogisticPolicy({**COLD_START, "reaction": -10.0}, epsilon=0.0)
    plain = {"bias": 1.0, "novelty": 1.0, "reaction": 0.0}
    reacting = {**plain, "reaction": 1.0}
    full, generic = _deciding(policy, LEARNED["learned"]), _deciding(policy, CHAT_CUES)
    assert full(plain)
    assert not full(reacting)
    assert generic(plain)
    assert generic(reacting)


def test_eval_admission_reports_both_learned_policies(tmp_path: Path) -> None:
    data = tmp_path / "tiny.json"
    data.write_text(json.dumps([_conversation("c-1", 1), _conversation("c-2", 2)]))
    report = evaluate_admission(data, budget=0.5)
    for name in ("learned", "learned-generic"):
        r = report[name]
        assert set(r["ratio_by_conversation"]) == {"c-1", "c-2"}
        assert 0.0 < r["stored_fraction"] < 1.0
        assert r["recall_vs_admit_all"] is not None
    assert {t["policy"] for t in report["training"]} == {"learned", "learned-generic"}
    assert {t["held_out"] for t in report["training"]} == {"c-1", "c-2"}
    text = format_admission(report)
    assert "learned-generic keeps" in text
    assert "learned keeps" in text
