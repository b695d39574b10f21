"""The name hop of retrieval: memories that mention a name the best matches mention."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gwa.memory import retrieval
from gwa.memory.lexical import BM25Index
from gwa.memory.names import names
from gwa.memory.store import LongTermMemory, MemoryConfig, NewMemory

FILM = "Lady Bird is a 2017 film written and directed by Greta Gerwig."
BRIDGE = "In 2023 Greta Gerwig married Noah Baumbach, her partner of twelve years."
OTHERS = [
    "Oppenheimer is a 2023 film directed by Christopher Nolan.",
    "The spouse of the director Christopher Nolan is the producer Emma Thomas.",
    "Little Women is a 2019 film starring Saoirse Ronan and Florence Pugh.",
    "The director of the film Barbie spoke about her spouse in an interview.",
    "Sacramento is the capital of California and sits on two rivers.",
    "The teen advisory board meets on the first Monday of each month.",
    "Video game tournaments on Saturdays bring in students from the high school.",
    "Poetry slams with a local rapper drew forty teenagers last spring.",
]
QUESTION = "Who is the spouse of the director of the film Lady Bird?"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jon Snow rode to Paris with Mary.", ["jon", "snow", "paris", "mary"]),
        ("Wow, that is great! Thanks, it was fun.", []),
        ("Melanie's kids love the Grand Canyon.", ["grand", "canyon"]),
        ("I met Caroline's sister. She is at NASA.", ["caroline", "nasa"]),
        ("The Thing is that It was fine.", ["thing"]),
    ],
)
def test_names_are_capitalised_words_not_just_opening_a_sentence(
    text: str, expected: list[str]
) -> None:
    assert names(text) == expected


def _store(path: Path, **config: object) -> LongTermMemory:
    store = LongTermMemory(path, config=MemoryConfig(**config))  # type: ignore[arg-type]
    store.add([NewMemory(t) for t in [FILM, *OTHERS]])
    store.add([NewMemory(BRIDGE)])
    return store


def _ranked(store: LongTermMemory, k: int = 5) -> list[str]:
    texts = [h.record.text for h in store.search([QUESTION], k)]
    store.close()
    return texts


def test_a_name_the_best_match_mentions_lifts_the_second_hop(tmp_path: Path) -> None:
    """The bridge shares no word with the question; the film's memory names its subject."""
    without = _ranked(_store(tmp_path / "b", entity_weight=0.0))
    with_names = _ranked(_store(tmp_path / "a"))
    assert without[0] == with_names[0] == FILM
    assert without.index(BRIDGE) == 4  # below a film that merely shares the word "film"
    assert with_names.index(BRIDGE) == 3
    assert with_names[:3] == without[:3]  # the lift reorders below the best matches only


def test_a_memory_reached_only_through_a_name_says_which_memory_led_there(
    tmp_path: Path,
) -> None:
    """Farther than the distance gate and without a shared word, the bridge is found only
    through the name its best match mentions, and the hit says through which memory."""
    store = _store(tmp_path / "a", max_distance=0.5)
    hits = {h.record.text: h for h in store.search([QUESTION], 5)}
    assert hits[BRIDGE].via == hits[FILM].record.id
    assert hits[BRIDGE].dense == 0.0
    assert hits[BRIDGE].lexical == 0.0
    store.close()
    assert BRIDGE not in _ranked(_store(tmp_path / "b", max_distance=0.5, entity_weight=0.0))


def test_a_common_name_lifts_only_memories_already_found(tmp_path: Path) -> None:
    """Past `entity_fanout` mentions a name is looked up among the candidates, not walked."""
    walked = _store(tmp_path / "a", max_distance=0.5, entity_fanout=2)
    assert BRIDGE in _ranked(walked)
    looked_up = _store(tmp_path / "b", max_distance=0.5, entity_fanout=1)
    assert BRIDGE not in _ranked(looked_up)  # "greta" has 2 mentions: only candidates lifted


def test_names_survive_the_open_index_and_skip_dropped_documents() -> None:
    docs = [f"Note {i}: Ada met Grace at Bletchley." if i % 2 else f"note {i}" for i in range(9)]
    index = BM25Index()
    index.add(docs)
    assert index.mentions("grace").tolist() == [1, 3, 5, 7]
    live = np.array([i != 3 for i in range(9)])
    loaded = BM25Index.from_state(index.state(live))
    assert loaded.mentions("grace").tolist() == [1, 4, 6]  # renumbered without document 3
    assert loaded.mentions("bletchley").tolist() == [1, 4, 6]
    assert loaded.mentions("nobody").tolist() == []
    loaded.add(["Grace Hopper wrote to Ada.", "Nothing named here."])
    assert loaded.mentions("grace").tolist() == [1, 4, 6, 8]  # saved, then added
    assert loaded.mentions("hopper").tolist() == [8]
    again = BM25Index.from_state(loaded.state())
    assert again.mentions("grace").tolist() == [1, 4, 6, 8]


def test_only_the_most_lifted_newcomers_join_the_candidates(tmp_path: Path) -> None:
    """Memories reached only through a name join the plan up to its room, most lifted first."""
    store = LongTermMemory(tmp_path / "m", config=MemoryConfig(max_distance=0.3))
    seed = store.add([NewMemory("Ada Lovelace wrote the first program for the Analytical Engine.")])
    store.add(
        [
            NewMemory(t)
            for t in [
                "The gardens were planted by Lovelace in spring.",
                "A ship named after Lovelace sailed to Lisbon.",
                "Her daughter married into the Lovelace family estate.",
                "In the museum a portrait of Lovelace hangs above the stairs.",
                "The exam question asked how Lovelace described loops.",
                "Cats at the shelter are named Lovelace and Babbage.",
            ]
        ]
    )
    store.add([NewMemory(t) for t in OTHERS])  # a name in every memory would lift nothing
    plan = retrieval.Plan(scores={seed[0].id: 5.0})
    retrieval.bridge(store, plan, set(names("Who wrote the first program?")), room=2)
    joined = [i for i in plan.scores if i != seed[0].id]
    assert len(joined) == 2
    assert all(plan.via[i] == seed[0].id for i in joined)
    everyone = retrieval.Plan(scores={seed[0].id: 5.0})
    retrieval.bridge(store, everyone, set(names("Who wrote the first program?")), room=10)
    assert len(everyone.scores) == 7
    store.close()
