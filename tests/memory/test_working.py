"""Working memory: token counting, the budget θ, and bifurcation into summary + candidates."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gwa.memory import WorkingMemory, count_tokens, extractive_summary, make_entry, truncate_tokens


def test_count_tokens_counts_words_and_punctuation() -> None:
    """'Hello, world!' is four tokens."""
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("") == 0


def test_bifurcation_keeps_a_summary_and_evicts_raw_entries() -> None:
    """Older entries are replaced by one summary; the raw ones are returned; recent stay."""
    wm = WorkingMemory(30, keep_recent=2)
    for i in range(5):
        wm.add(
            make_entry(f"e{i}", i, "gen", "thought", f"thought number {i} about apples and pears")
        )
    assert wm.over_budget()
    old = wm.split()
    assert [e.id for e in old] == ["e0", "e1", "e2"]
    evicted = wm.bifurcate(make_entry("s", 5, "summarizer", "summary", "apples and pears"))
    assert [e.id for e in evicted] == ["e0", "e1", "e2"]
    assert [e.id for e in wm.entries] == ["s", "e3", "e4"]
    assert not wm.over_budget()


def test_an_old_summary_is_folded_in_but_not_evicted_again() -> None:
    """A previous summary is summarised again but never offered as an admission candidate."""
    wm = WorkingMemory(16, keep_recent=1)
    wm.add(make_entry("s1", 1, "w", "summary", "old summary"))
    wm.add(make_entry("e2", 2, "g", "thought", "x " * 5))
    wm.add(make_entry("e3", 3, "g", "thought", "y " * 5))
    evicted = wm.bifurcate(make_entry("s2", 3, "w", "summary", "new"))
    assert [e.id for e in evicted] == ["e2"]


@given(
    st.integers(min_value=16, max_value=200),
    st.lists(st.text(alphabet="ab .", min_size=1, max_size=400), min_size=3, max_size=20),
)
def test_after_bifurcation_memory_fits_the_budget_plus_recent(
    budget: int, texts: list[str]
) -> None:
    """Entries are capped at θ/2 and the summary at the room left, so memory stays ≤ θ + θ/2."""
    wm = WorkingMemory(budget, keep_recent=2)
    for i, text in enumerate(texts):
        wm.add(make_entry(f"e{i}", i, "g", "thought", text))
        if wm.over_budget():
            old = wm.split()
            wm.bifurcate(
                make_entry(f"s{i}", i, "w", "summary", extractive_summary(old, budget // 3))
            )
    assert all(e.tokens <= budget // 2 + 1 for e in wm.entries)
    assert wm.tokens <= budget + budget // 2 + 2


@given(st.text(min_size=0, max_size=300), st.integers(min_value=1, max_value=50))
def test_truncate_never_exceeds_the_limit_by_more_than_the_ellipsis(text: str, limit: int) -> None:
    """A truncated text has at most limit tokens plus the ellipsis mark."""
    assert count_tokens(truncate_tokens(text, limit)) <= limit + 1
