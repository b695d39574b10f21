"""The embedded model's kept KV states: bounded by count and by bytes, least recently used out."""

from __future__ import annotations

from gwa.agents.llamacpp import PrefixStates


def test_kept_states_are_bounded_by_count_and_bytes_least_recently_used_first() -> None:
    states = PrefixStates(capacity=3, max_bytes=100)
    for i in range(4):
        states.put((i,), bytes(30))
    assert (len(states), states.bytes) == (3, 90)
    assert states.get((0,)) is None  # the oldest went at the fourth
    assert states.get((1,)) is not None  # now the most recently used
    states.put((4,), bytes(30))
    assert states.get((2,)) is None
    assert states.get((1,)) is not None
    states.put((5,), bytes(60))  # 30 + 30 + 30 + 60 > 100: two more go
    assert (len(states), states.bytes) == (2, 90)
    assert states.get((1,)) is not None
    states.put((6,), bytes(101))  # larger than the whole budget: not kept, nothing dropped
    assert (len(states), states.bytes) == (2, 90)
    states.put((1,), bytes(10))  # a key kept again replaces its state
    assert (len(states), states.bytes) == (2, 70)
