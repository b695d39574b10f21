"""The store's own vector index: it finds what an exact search finds, follows every write of
the active collection, survives its open-index round trip, and lets a store open and search
without touching chromadb (real usearch and real chromadb on disk)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gwa.memory.store import LongTermMemory, NewMemory
from gwa.memory.vectors import EXPANSION_SEARCH, NOVELTY_EXPANSION, VectorIndex


def unit(rows: Any) -> Any:
    v = np.asarray(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_queries_match_an_exact_search_and_follow_removals_and_replacements() -> None:
    rng = np.random.default_rng(7)
    vecs = unit(rng.standard_normal((300, 32)))
    ids = [f"r{i}" for i in range(300)]
    index = VectorIndex(32)
    index.add(ids, vecs)
    queries = unit(rng.standard_normal((5, 32)))
    got, dists = index.query(queries, 10)
    exact = np.argsort(-(queries @ vecs.T), axis=1)[:, :10]
    for row in range(5):
        assert got[row] == [ids[i] for i in exact[row]]
        sims = queries[row] @ vecs[exact[row]].T
        assert np.allclose(dists[row], 1.0 - sims, atol=2e-3)  # half-precision storage
    best = ids[exact[0][0]]
    index.remove([best, "never-there"])
    assert best not in index
    assert len(index) == 299
    assert best not in index.query(queries[:1], 10)[0][0]
    # Re-adding an id replaces its vector: the query itself is now its nearest.
    index.add(["r0"], queries[1:2])
    assert index.nearest(queries[1:2])[0] == ("r0", pytest.approx(1.0, abs=2e-3))
    assert len(index) == 299


def test_an_empty_index_and_a_pool_larger_than_the_index() -> None:
    index = VectorIndex(4)
    q = unit([[1, 0, 0, 0]])
    assert index.nearest(q) == [None]
    assert index.query(q, 5) == ([[]], [[]])
    index.add(["a", "b"], unit([[1, 0, 0, 0], [0, 1, 0, 0]]))
    ids, _ = index.query(q, 50)
    assert ids == [["a", "b"]]


def test_a_narrow_nearest_finds_near_copies_and_leaves_later_searches_as_they_were() -> None:
    rng = np.random.default_rng(11)
    vecs = unit(rng.standard_normal((4000, 64)))  # near-random points: breadth matters here
    ids = [f"r{i}" for i in range(4000)]
    index = VectorIndex(64)
    index.add(ids, vecs)
    queries = unit(rng.standard_normal((40, 64)))
    before = index.query(queries, 10)
    # What an admission's novelty and its duplicate feature need: a near copy of a stored
    # vector is found at the novelty breadth, its similarity close to 1.
    copies = unit(vecs[:50] + 0.01 * rng.standard_normal((50, 64)))
    found = index.nearest(copies, breadth=NOVELTY_EXPANSION)
    assert [hit[0] for hit in found if hit is not None] == ids[:50]
    assert min(hit[1] for hit in found if hit is not None) > 0.99
    # The narrow breadth was for that call only: the same searches answer as before ...
    index.nearest(queries, breadth=10)
    assert index.query(queries, 10) == before
    # ... where searches kept at that breadth would have answered differently.
    index._index.expansion_search = 10
    assert index.query(queries, 10)[0] != before[0]
    index._index.expansion_search = EXPANSION_SEARCH


def test_save_and_load_keep_ids_removed_keys_and_answers(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vecs = unit(rng.standard_normal((50, 16)))
    index = VectorIndex(16)
    index.add([f"m-{i}" for i in range(50)], vecs)
    index.remove(["m-3", "m-10"])
    index.save(tmp_path / "v.usearch")
    back = VectorIndex.load(tmp_path / "v.usearch", index.state())
    assert len(back) == 48
    live = [f"m-{i}" for i in range(50) if i not in (3, 10)]
    # What an open checks: the open index's ids are exactly the graph's, in any order.
    assert back.holds(live)
    assert back.holds(live[::-1])
    assert not back.holds([*live[:-1], "m-3"])
    assert not back.holds(live[:-1])
    assert "m-3" not in back
    assert "m-4" in back
    assert back.query(vecs[:4], 5) == index.query(vecs[:4], 5)
    back.add(["m-new"], vecs[3:4])  # keys continue after the saved ones
    assert back.nearest(vecs[3:4])[0][0] == "m-new"
    assert back.query(vecs[4:5], 1)[0] == [["m-4"]]


def test_a_store_opened_from_its_index_searches_without_touching_chromadb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [
        "Melanie paints sunsets over the lake every summer.",
        "The pottery class meets on Thursday evenings.",
        "Caroline went to a support group for transgender people.",
        "Jon opened a dance studio downtown after losing his job.",
    ]
    store = LongTermMemory(tmp_path / "m")
    store.add([NewMemory(t) for t in texts])
    before = [h.record.id for h in store.search(["who paints the lake"], 2)]
    nearest = store.nearest(store.embedder.embed([texts[1]]))[0]
    store.close()

    from chromadb.api.models.Collection import Collection

    def touched(*_: Any, **__: Any) -> Any:
        raise AssertionError("chromadb was touched")

    for name in ("count", "get", "query", "peek"):
        monkeypatch.setattr(Collection, name, touched)
    again = LongTermMemory(tmp_path / "m")
    assert [h.record.id for h in again.search(["who paints the lake"], 2)] == before
    assert again.nearest(again.embedder.embed([texts[1]]))[0][:2] == pytest.approx(nearest[:2])
    monkeypatch.undo()
    again.close()


def test_prune_restore_rewind_and_import_keep_the_index_in_step(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = LongTermMemory(tmp_path / "m", clock=lambda: now[0])
    ids = {"Quokkas": store.add([NewMemory("Quokkas live on Rottnest Island.", run="r")])[0].id}
    position = store.position()
    now[0] += 60
    ids["Wombats"] = store.add([NewMemory("Wombats dig burrows in Tasmania.", run="r")])[0].id
    assert store.search(["Wombats Tasmania"], 1)[0].record.id == ids["Wombats"]
    vectors = store.collections.vectors
    assert vectors is not None
    assert len(vectors) == 2

    assert store.rewind("r", position) == [ids["Wombats"]]
    assert ids["Wombats"] not in vectors
    now[0] += 400 * 24 * 3600
    pruned = store.prune(0.5)
    assert [r.id for r in pruned] == [ids["Quokkas"]]
    assert len(vectors) == 0
    assert store.search(["Quokkas Rottnest"], 1) == []
    store.restore([ids["Quokkas"]])
    assert store.search(["Quokkas Rottnest"], 1)[0].record.id == ids["Quokkas"]

    out = tmp_path / "export.jsonl"
    with out.open("w") as f:
        store.export(f)
    other = LongTermMemory(tmp_path / "other")
    other.import_(out.read_text().splitlines())
    assert other.search(["Quokkas Rottnest"], 1)[0].record.id == ids["Quokkas"]
    store.close()
    other.close()


def test_the_vector_library_and_the_embedder_runtime_load_together_in_either_order() -> None:
    """usearch 2.26.2–2.26.6 segfault when onnxruntime is imported after them (pyproject's pin)."""
    import subprocess
    import sys

    for first, second in (("usearch.index", "onnxruntime"), ("onnxruntime", "usearch.index")):
        code = f"import {first}, {second}; print('loaded')"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert (done.returncode, done.stdout.strip()) == (0, "loaded"), done.stderr[-500:]


def test_one_graph_file_beside_the_open_index_and_none_once_a_write_discards_it(
    tmp_path: Path,
) -> None:
    def graphs() -> list[str]:
        return sorted(p.name for p in (tmp_path / "m").glob("vectors-gwa_memory-*.usearch"))

    store = LongTermMemory(tmp_path / "m")
    store.add([NewMemory("Quokkas live on Rottnest Island.")])
    store.close()
    first = graphs()
    assert len(first) == 1
    store = LongTermMemory(tmp_path / "m")
    store.add([NewMemory("Wombats dig burrows in Tasmania.")])
    assert not (tmp_path / "m" / "index-gwa_memory.npz").exists()
    assert graphs() == first  # the graph read at open stays until close replaces it
    store.close()
    second = graphs()
    assert len(second) == 1
    assert second != first
    again = LongTermMemory(tmp_path / "m")
    assert again.search(["Wombats Tasmania"], 1)[0].record.text.startswith("Wombats")
    again.close()  # nothing written: the same files stay
    assert graphs() == second


def test_a_graph_read_back_is_a_map_of_its_file_until_its_first_change(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    vecs = unit(rng.standard_normal((200, 16)))
    index = VectorIndex(16)
    index.add([f"m-{i}" for i in range(200)], vecs)
    index.save(tmp_path / "v.usearch")
    back = VectorIndex.load(tmp_path / "v.usearch", index.state())
    assert back.file == tmp_path / "v.usearch"
    assert back.query(vecs[:5], 3) == index.query(vecs[:5], 3)
    maps = Path("/proc/self/maps")
    if maps.exists():  # Linux: the file is mapped, not read
        assert str(tmp_path / "v.usearch") in maps.read_text()
    (tmp_path / "v.usearch").unlink()  # e.g. swept by another store object's close
    back.add(["m-new"], vecs[7:8])  # copied from the map into memory: no crash, no file read
    assert back.file is None
    assert back.nearest(vecs[7:8])[0] == ("m-new", pytest.approx(1.0, abs=1e-3))
    back.remove(["m-3"])
    assert "m-3" not in back
    assert all("m-3" not in ids for ids in back.query(vecs[3:4], 10)[0])
    if maps.exists():
        assert str(tmp_path / "v.usearch") not in maps.read_text()


def test_a_removal_first_also_copies_a_mapped_graph(tmp_path: Path) -> None:
    vecs = unit(np.random.default_rng(6).standard_normal((30, 8)))
    index = VectorIndex(8)
    index.add([f"m-{i}" for i in range(30)], vecs)
    index.save(tmp_path / "v.usearch")
    back = VectorIndex.load(tmp_path / "v.usearch", index.state())
    back.remove(["not-there"])  # nothing to change: still the map
    assert back.file is not None
    back.remove(["m-0"])
    assert back.file is None
    assert back.nearest(vecs[:1])[0] is not None
    assert back.nearest(vecs[:1])[0][0] != "m-0"  # type: ignore[index]


def test_a_store_whose_vectors_did_not_change_keeps_its_graph_file_at_close(
    tmp_path: Path,
) -> None:
    def graphs() -> list[Path]:
        return sorted((tmp_path / "m").glob("vectors-gwa_memory-*.usearch"))

    store = LongTermMemory(tmp_path / "m")
    store.add([NewMemory("Quokkas live on Rottnest Island."), NewMemory("Wombats dig.")])
    store.close()
    (first,) = graphs()
    written = first.stat().st_mtime_ns
    store = LongTermMemory(tmp_path / "m")
    hit = store.search(["Quokkas Rottnest"], 1, touch=True)[0]
    store.close()  # the recall's reinforcement is a write of metadata only
    assert graphs() == [first]
    assert first.stat().st_mtime_ns == written
    again = LongTermMemory(tmp_path / "m")
    assert again.get(hit.record.id).access_count == hit.record.access_count + 1  # type: ignore[union-attr]
    assert again.collections.vectors is not None
    assert again.collections.vectors.file == first
    again.add([NewMemory("Koalas sleep most of the day.")])
    assert again.search(["Koalas sleep"], 1)[0].record.text.startswith("Koalas")
    again.close()
    (second,) = graphs()
    assert second != first


def test_the_same_adds_build_the_same_graph() -> None:
    """Adds run on one thread, so a replayed run's store answers as its recording's did (an
    HNSW graph built on several threads depends on their timing)."""
    rng = np.random.default_rng(11)
    vecs = unit(rng.standard_normal((3000, 32)))
    queries = unit(rng.standard_normal((40, 32)))
    answers = []
    for _ in range(3):
        index = VectorIndex(32)
        for start in range(0, 3000, 500):
            index.add([f"r{i}" for i in range(start, start + 500)], vecs[start : start + 500])
        answers.append(index.query(queries, 10))
    assert answers[0] == answers[1] == answers[2]
