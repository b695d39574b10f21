"""Selection scoring: salience × critic × novelty, entry threshold, winning margin, tags."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gwa.selection import critic_factor, jaccard, novelty, score_candidates, select_by_score
from gwa.types import Candidate, Critique

A = Candidate("c1.1", "a", "plant tomatoes near the fence", 0.8)
B = Candidate("c1.2", "b", "paint the shed blue", 0.8, final=True)


def test_critics_decide_between_equally_salient_candidates() -> None:
    """With equal salience and novelty, the better-critiqued candidate wins."""
    crits = [Critique("k", "c1.1", -2, "meh"), Critique("k", "c1.2", 4, "good")]
    sel = select_by_score([A, B], crits, [])
    assert sel.winner == B
    assert sel.scores["c1.2"] > sel.scores["c1.1"]


def test_repeating_the_workspace_loses_to_novelty() -> None:
    """A candidate that repeats working memory scores lower than a new one."""
    sel = select_by_score([A, B], [], ["plant tomatoes near the fence"])
    assert sel.winner == B
    assert sel.scores["c1.1"] == 0.0


def test_threshold_and_margin_can_leave_a_cycle_without_winner() -> None:
    """Below the entry threshold, or without a clear lead, nothing wins."""
    assert select_by_score([A, B], [], [], threshold=0.9).winner is None
    tie = select_by_score([A, Candidate("c1.3", "c", "fix the gate", 0.8)], [], [], margin=0.1)
    assert tie.winner is None
    assert "margin" in tie.reason


def test_final_winner_responds_only_if_critics_agree() -> None:
    """A final candidate is tagged RESPOND when its mean critic score reaches the minimum."""
    assert select_by_score([B], [Critique("k", "c1.2", 3, "")], []).tag == "RESPOND"
    assert select_by_score([B], [Critique("k", "c1.2", 0, "")], []).tag == "THINK_MORE"
    assert select_by_score([A], [], []).tag == "THINK_MORE"


WORDS = st.text(alphabet="abcd ", max_size=40)


@given(WORDS, WORDS)
def test_jaccard_is_symmetric_and_bounded(a: str, b: str) -> None:
    """Similarity is symmetric, in 0..1, and 1 for a text with itself."""
    assert jaccard(a, b) == jaccard(b, a)
    assert 0.0 <= jaccard(a, b) <= 1.0
    assert jaccard(a, a) == 1.0


@given(
    st.lists(st.tuples(WORDS, st.floats(0, 1)), min_size=1, max_size=6),
    st.lists(st.integers(-5, 5), max_size=6),
    st.lists(WORDS, max_size=4),
)
def test_scores_lie_in_zero_to_one(
    items: list[tuple[str, float]], scores: list[int], context: list[str]
) -> None:
    """Every score is a product of three factors in 0..1."""
    cands = [Candidate(f"c{i}", "g", t, s) for i, (t, s) in enumerate(items)]
    crits = [Critique("k", f"c{i % len(cands)}", s, "") for i, s in enumerate(scores)]
    for value in score_candidates(cands, crits, context).values():
        assert 0.0 <= value <= 1.0
    assert 0.0 <= critic_factor(scores) <= 1.0
    assert novelty("x", []) == 1.0
