"""The open index: a store reopens from one file, the same as when rebuilt from chromadb, and
never from a file that no longer describes the records (real chromadb on disk)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gwa.memory import snapshot
from gwa.memory.chroma import Collections
from gwa.memory.lexical import BM25Index
from gwa.memory.records import MemoryRecord
from gwa.memory.store import LongTermMemory, NewMemory

TEXTS = [
    "The teen advisory board meets on the first Monday of each month.",
    "A manga and comics club could run every Friday afternoon in the study room.",
    "Video game tournaments on Saturdays bring in students from the high school.",
    "The library garden needs volunteers to water the tomato beds in July.",
    "Poetry slams with a local rapper drew forty teenagers last spring.",
    "The makerspace 3D printer is booked through the end of the month.",
    "Caroline moved to Lisbon in May and now teaches piano — dört öğrenci, «très bien».",
    "The board does not meet on the first Monday of each month any more.",
]
QUERIES = ["when does the board meet", "manga club friday", "who teaches piano", "garden July"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def results(store: LongTermMemory) -> list[Any]:
    """Every hit of the queries with its record and every score part."""
    return [
        [(h.record, h.score, h.dense, h.lexical, h.retention, h.via, h.parts) for h in hits]
        for hits in (store.search([q], 5) for q in QUERIES)
    ]


def built(path: Path, clock: Clock) -> LongTermMemory:
    """A store whose records were recalled (strengthened) or pruned to the archive."""
    store = LongTermMemory(path, clock=clock)
    store.add([NewMemory(t, run="r1", cycle=i, source_ids=("s",)) for i, t in enumerate(TEXTS)])
    clock.now += 5 * 24 * 3600
    for q in QUERIES[:3]:
        store.search([q], 2, touch=True)
    store.flush()
    clock.now += 40 * 24 * 3600
    assert 0 < len(store.prune(0.05)) < len(TEXTS)
    return store


def test_reopening_reads_the_index_and_finds_what_a_rebuild_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    store = built(tmp_path / "m", clock)
    live = results(store)
    assert store.dead, "the fixture must prune something, so the index is saved compacted"
    store.close()
    where = tmp_path / "m" / "index-gwa_memory.npz"
    assert where.exists()

    def no_reading(*_: object, **__: object) -> Any:
        raise AssertionError("opened by reading every record from chromadb")

    with monkeypatch.context() as m:
        m.setattr(Collections, "records", staticmethod(no_reading))
        fast = LongTermMemory(tmp_path / "m", clock=clock)
        from_index = results(fast)
    assert fast.stats()["archived"] == len(TEXTS) - fast.count()
    fast.close()
    where.unlink()
    slow = LongTermMemory(tmp_path / "m", clock=clock)
    rebuilt = results(slow)
    assert from_index == rebuilt
    assert [[h[0].id for h in q] for q in from_index] == [[h[0].id for h in q] for q in live]
    assert slow.count() == fast.count() == len(live_ids(slow))
    slow.close()


def live_ids(store: LongTermMemory) -> list[str]:
    return [i for i in store.lex_ids if i in store.lex_pos]


def test_the_first_write_deletes_the_index_so_a_crash_cannot_leave_it_stale(
    tmp_path: Path,
) -> None:
    store = LongTermMemory(tmp_path / "m")
    store.add([NewMemory(t) for t in TEXTS[:3]])
    store.close()
    where = tmp_path / "m" / "index-gwa_memory.npz"
    reader = LongTermMemory(tmp_path / "m")
    reader.search(["board"], 2)
    assert where.exists(), "reading must keep the index"
    reader.close()
    writer = LongTermMemory(tmp_path / "m")
    writer.update([writer.cache[writer.lex_ids[0]]])  # a metadata write: counts unchanged
    assert not where.exists()
    added = writer.add([NewMemory("Zanzibar trip planned for the autumn.")])[0].id
    # The process dies here (no close): the next open rebuilds from chromadb and has it.
    again = LongTermMemory(tmp_path / "m")
    assert again.get(added) is not None
    assert again.search(["Zanzibar"], 1)[0].record.id == added
    again.close()
    assert where.exists()


def test_an_index_behind_a_foreign_write_is_rebuilt_at_the_first_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LongTermMemory(tmp_path / "m")
    store.add([NewMemory(t) for t in TEXTS[:4]])
    store.close()
    # Another program adds a record to the collection behind GWA's back.
    other = LongTermMemory(tmp_path / "m")
    meta = other.cache[other.lex_ids[0]].metadata()
    text = "Quokkas live on Rottnest Island."
    other.collections.active.add(
        ids=["foreign"], documents=[text], metadatas=[meta], embeddings=other.embedder.embed([text])
    )
    other.links.close()  # no close(): it would save a new index
    again = LongTermMemory(tmp_path / "m")
    # Opening touches no collection: until the first write, reads are the index's.
    assert again.count() == 4
    assert again.get("foreign") is not None
    with caplog.at_level(logging.WARNING, logger="gwa.memory"):
        again.add([NewMemory("Wombats dig burrows in Tasmania.")])
    assert "hold 5 active and 0 archived records, not the 4 and 0" in caplog.text
    assert again.count() == 6
    assert again.search(["Quokkas Rottnest"], 1)[0].record.id == "foreign"
    again.close()
    reopened = LongTermMemory(tmp_path / "m")
    assert reopened.count() == 6
    assert reopened.search(["Quokkas Rottnest"], 1)[0].record.id == "foreign"
    reopened.close()


@pytest.mark.parametrize(
    "damage",
    [
        "garbage",
        "truncated",
        "other-version",
        "pickled",
        "rows-short",
        "postings-out-of-range",
        "vector-index-garbage",
        "vector-index-missing",
        "vector-ids-short",
    ],
)
def test_a_damaged_index_is_rebuilt_with_a_warning_and_loses_nothing(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()  # scores weigh recency: the same clock for every search compared
    store = LongTermMemory(tmp_path / "m", clock=clock)
    store.add([NewMemory(t) for t in TEXTS])
    expected = results(store)
    store.close()
    where = tmp_path / "m" / "index-gwa_memory.npz"
    spoil(where, damage)
    with caplog.at_level(logging.WARNING, logger="gwa.memory"):
        again = LongTermMemory(tmp_path / "m", clock=clock)
    assert f"{where}: open index not used" in caplog.text
    assert "rebuilding it from the records" in caplog.text
    assert not where.exists()
    assert results(again) == expected
    again.close()
    assert where.exists()  # written anew at close
    assert results(LongTermMemory(tmp_path / "m", clock=clock)) == expected


def spoil(where: Path, damage: str) -> None:
    if damage == "garbage":
        where.write_bytes(b"not a zip file at all")
        return
    if damage == "truncated":
        where.write_bytes(where.read_bytes()[:-200])
        return
    with np.load(where, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if damage == "other-version":
        head = json.loads(arrays["header"].tobytes())
        arrays["header"] = np.frombuffer(json.dumps({**head, "version": 99}).encode(), np.uint8)
    elif damage == "pickled":  # an object array needs pickle to load: refused, never run
        arrays["ids"] = np.array([{"x": 1}], dtype=object)
    elif damage.startswith("vector-index"):
        graph = where.with_name(json.loads(arrays["header"].tobytes())["vectors"])
        if damage == "vector-index-missing":
            graph.unlink()
        else:
            graph.write_bytes(b"x" * graph.stat().st_size)
        return
    elif damage == "vector-ids-short":  # a vector whose record the file no longer names
        ids = json.loads(arrays["vector_ids"].tobytes())
        arrays["vector_ids"] = np.frombuffer(json.dumps(ids[:-1]).encode(), np.uint8)
    elif damage == "rows-short":
        arrays["rows"] = arrays["rows"][: arrays["rows"].tolist().index(10)]
    else:
        arrays["docs"] = arrays["docs"].copy()
        arrays["docs"][0] = 10_000
    with where.open("wb") as f:
        np.savez(f, **arrays)


def test_index_rows_stay_undecoded_until_read() -> None:
    recs = [
        MemoryRecord(
            f"m-{i}",
            f"Ünïcode text {i}\nwith a newline",
            "r",
            "a",
            "generator",
            i,
            "thought",
            1.5,
            ("s1", "s2")[:i],
            0.75,
            2.0,
            4,
            2.5,
            "superseded",
            None if i else 9.25,
            7,
        )
        for i in range(3)
    ]
    lines = [snapshot.row(r) for r in recs]
    assert all(b"\n" not in line for line in lines)
    rows = snapshot.Rows(np.frombuffer(b"\n".join(lines), dtype=np.uint8))
    assert [rows[i].tobytes() for i in range(len(rows))] == lines
    cache = snapshot.RecordCache()
    cache.load({r.id: i for i, r in enumerate(recs)}, rows)
    assert all(isinstance(v, int) for v in cache._items.values())  # nothing decoded at load
    assert cache.row("m-1") == lines[1]
    assert cache["m-1"] == recs[1]
    assert isinstance(cache._items["m-1"], MemoryRecord)  # decoded once, kept
    assert isinstance(cache._items["m-2"], int)
    assert cache.row("m-1") == lines[1]
    assert list(cache.values()) == recs
    assert "m-0" in cache
    assert len(cache) == 3
    del cache["m-0"]
    assert "m-0" not in cache
    with pytest.raises(ValueError, match="loaded once"):
        cache.load({"x": 0}, snapshot.Rows(np.frombuffer(lines[0], dtype=np.uint8)))


def test_lexical_state_keeps_live_documents_and_scores_like_a_fresh_index() -> None:
    docs = [f"{w} apple pie {w} number {i}" for i, w in enumerate(["red", "green", "blue"] * 40)]
    index = BM25Index(k1=1.2, b=0.6)
    index.add(docs)
    live = np.array([i % 3 != 1 for i in range(len(docs))])
    loaded = BM25Index.from_state(index.state(live))
    fresh = BM25Index(k1=1.2, b=0.6)
    fresh.add([d for d, keep in zip(docs, live, strict=True) if keep])
    assert len(loaded) == len(fresh) == int(live.sum())
    for q in ["red apple", "green", "blue number 7", "pie pie"]:
        assert np.array_equal(loaded.scores(q), fresh.scores(q))
    whole = BM25Index.from_state(index.state())
    assert np.array_equal(whole.scores("green apple"), index.scores("green apple"))


def test_an_object_that_missed_another_objects_writes_does_not_save_the_index(
    tmp_path: Path,
) -> None:
    """Two store objects of one process on one store (two runs of a server): one that closes
    after the other wrote has not seen those writes, so it must not save its view."""
    clock = Clock()
    first = LongTermMemory(tmp_path / "m", clock=clock)
    first.add([NewMemory(t) for t in TEXTS[:4]])
    first.close()
    where = tmp_path / "m" / "index-gwa_memory.npz"
    a = LongTermMemory(tmp_path / "m", clock=clock)
    b = LongTermMemory(tmp_path / "m", clock=clock)
    clock.now += 3600
    recalled = b.search(["manga club"], 1, touch=True)[0].record.id
    b.flush()  # a recall's strength written: the index is gone
    assert not where.exists()
    assert a.others_wrote
    assert not b.others_wrote
    a.close()
    assert not where.exists(), "a saved a view without b's write"
    b.close()
    assert where.exists()
    again = LongTermMemory(tmp_path / "m", clock=clock)
    assert again.get(recalled).strength == 2.0  # type: ignore[union-attr]
    again.close()
