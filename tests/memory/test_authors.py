"""The author lift of retrieval: a query that names one author lifts what that author wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gwa.eval.memory import _store_turns, load_locomo
from gwa.memory.store import LongTermMemory, MemoryConfig, NewMemory

MELANIE = [
    "Melanie: I've been running farther lately, it clears my head.",
    "Melanie: Pottery class on Tuesdays is like therapy for me.",
    "Melanie: The kids and I went camping at the beach last weekend.",
]
CAROLINE = [
    "Caroline: Melanie, how do you relax after a stressful week?",
    "Caroline: Thanks Melanie, the support group helped me destress.",
    "Caroline: I researched adoption agencies today, Melanie.",
    "Caroline: Melanie, your family sounds so calm and happy.",
    "Caroline: Painting helps me unwind, Melanie.",
]
ABOUT_ONE = "What does Melanie do to destress?"
ABOUT_BOTH = "What do Caroline and Melanie both do to relax?"


def _ranked(path: Path, question: str, **config: object) -> list[str]:
    store = LongTermMemory(path, config=MemoryConfig(**config))  # type: ignore[arg-type]
    store.add([NewMemory(t, agent=t.split(":", 1)[0]) for t in MELANIE + CAROLINE])
    texts = [h.record.text for h in store.search([question], 8)]
    store.close()
    return texts


@pytest.mark.parametrize("weight", [0.25, 1.0])
def test_the_named_author_s_memories_rise_but_not_above_the_best_match(
    tmp_path: Path, weight: float
) -> None:
    control = _ranked(tmp_path / "off", ABOUT_ONE, author_weight=0.0)
    # Without the lift, what Caroline said to Melanie outranks Melanie's own running.
    assert control.index(MELANIE[0]) > 3
    ranked = _ranked(tmp_path / "on", ABOUT_ONE, author_weight=weight)
    assert ranked[0] == control[0] == CAROLINE[1]  # the exact match stays first
    assert set(ranked[1:4]) == set(MELANIE)


def test_a_query_naming_two_authors_lifts_neither(tmp_path: Path) -> None:
    control = _ranked(tmp_path / "off", ABOUT_BOTH, author_weight=0.0)
    assert _ranked(tmp_path / "on", ABOUT_BOTH, author_weight=1.0) == control
    # The lift itself is on: the same weight lifts Melanie for a question about her alone.
    alone = _ranked(tmp_path / "alone-off", ABOUT_ONE, author_weight=0.0)
    assert _ranked(tmp_path / "alone-on", ABOUT_ONE, author_weight=1.0) != alone


def test_eval_memory_stores_each_turn_under_its_speaker(tmp_path: Path) -> None:
    turns = [
        {"speaker": "Ana", "dia_id": "D1:1", "text": "I adopted a grey kitten."},
        {"speaker": "Ben", "dia_id": "D1:2", "text": "I started learning the cello."},
    ]
    data = tmp_path / "tiny.json"
    conversation = {"speaker_a": "Ana", "speaker_b": "Ben", "session_1": turns}
    data.write_text(json.dumps([{"sample_id": "t", "conversation": conversation, "qa": []}]))
    store = LongTermMemory(tmp_path / "store")
    _store_turns(store, load_locomo(data)[0])
    by_author = {r.agent: r.text.split(":", 1)[0] for r in store.cache.values()}
    store.close()
    assert by_author == {"Ana": "Ana", "Ben": "Ben"}
