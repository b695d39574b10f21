"""The viewer's trace index: tolerant parsing, per-cycle summaries, live refresh, search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gwa.viewer import TraceIndex


def rec(seq: int, event: str, cycle: int | None = None, **fields: object) -> str:
    return json.dumps(
        {"v": 1, "ts": 0, "run": "r", "seq": seq, "cycle": cycle, "event": event, **fields}
    )


def test_broken_lines_become_errors_and_the_rest_is_kept(tmp_path: Path) -> None:
    """A non-JSON line, a record without event, and a truncated last line are listed; the
    valid records still load."""
    path = tmp_path / "t.jsonl"
    path.write_text(
        "\n".join(
            [
                rec(1, "run.start", scenario="s"),
                "{oops",
                '{"seq": 3}',
                rec(4, "cycle.start", 1, temperature=0.7),
            ]
        )
        + "\n"
        + rec(5, "selection", 1)[:20]
    )
    index = TraceIndex(path)
    summary = index.summary()
    assert [e["line"] for e in summary["errors"]] == [2, 3, 5]
    assert "truncated" in summary["errors"][-1]["message"]
    assert summary["scenario"] == "s"
    assert summary["columns"]["temperature"] == [0.7]


def test_live_refresh_reads_only_complete_new_lines(tmp_path: Path) -> None:
    """While live, a half-written line waits; once finished it is read like the others."""
    path = tmp_path / "t.jsonl"
    path.write_text(rec(1, "cycle.start", 1) + "\n")
    index = TraceIndex.__new__(TraceIndex)
    TraceIndex.__init__(index, path)
    line = rec(2, "selection", 1, winner="c1.1", text="hello", tag="RESPOND", agent="g")
    with path.open("a") as f:
        f.write(line[:15])
    index.refresh()
    assert index.errors == []
    with path.open("a") as f:
        f.write(line[15:] + "\n")
    index.refresh()
    columns = index.summary()["columns"]
    assert (columns["text"], columns["tag"]) == (["hello"], ["RESPOND"])
    assert index.summary()["names"] == ["g"]
    assert index.search("HELLO") == [1]


def test_a_resume_shows_the_gap_and_the_redone_cycles_once(tmp_path: Path) -> None:
    """What a killed process wrote after its last checkpoint leaves the cycle summaries and is
    listed as lost; the resumed run's cycles and end are what the summary shows; a pause is
    listed until it is answered."""
    path = tmp_path / "t.jsonl"
    lines = [rec(1, "run.start", scenario="s")]
    for c in (1, 2, 3):
        lines.append(rec(len(lines) + 1, "cycle.start", c, temperature=0.1 * c))
        lines.append(rec(len(lines) + 1, "checkpoint", c, id=f"r@{c}", bytes=9, ms=1.0))
    lines.append(rec(len(lines) + 1, "cycle.start", 4, temperature=9.9))  # lost with a kill
    lines.append(rec(len(lines) + 1, "run.resume", 3, checkpoint="r@3"))
    lines.append(rec(len(lines) + 1, "cycle.start", 4, temperature=0.4))
    lines.append(rec(len(lines) + 1, "run.pause", 4, point="respond", question="Give?", text="x"))
    path.write_text("\n".join(lines) + "\n")
    summary = TraceIndex(path).summary()
    assert summary["columns"]["cycle"] == [1, 2, 3, 4]
    assert summary["columns"]["temperature"][-1] == 0.4
    (gap,) = summary["resumes"]
    assert (gap["checkpoint"], gap["lost_cycles"], gap["lost_events"]) == ("r@3", [4], 1)
    assert summary["pause"]["question"] == "Give?"
    with path.open("a") as f:
        f.write(rec(len(lines) + 1, "run.resume", 4, checkpoint="r@4", decision="approve") + "\n")
        f.write(rec(len(lines) + 2, "run.end", 4, status="answered", reason="ok") + "\n")
    summary = TraceIndex(path).summary()
    assert summary["pause"] is None
    assert summary["status"] == "answered"
    assert [r["decision"] for r in summary["resumes"]] == [None, "approve"]


def test_a_big_trace_is_served_while_the_rest_is_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the first bytes the index goes on in the background: the first cycles are there
    at once and the summary says it is loading (not done); once the loader ran, every cycle
    is there and it is done. (The loader thread is held back here, so the test sees both.)"""
    import gwa.viewer.data as data

    held: list[Any] = []

    class Held:
        def __init__(self, target: Any, **_: Any) -> None:
            held.append(target)

        def start(self) -> None:
            pass

    monkeypatch.setattr(data.threading, "Thread", Held)
    path = tmp_path / "t.jsonl"
    lines = [rec(1, "run.start", scenario="s")]
    for c in range(1, 2001):
        lines.append(rec(len(lines) + 1, "cycle.start", c, temperature=0.5))
        lines.append(
            rec(len(lines) + 1, "proposal", c, agent="g", candidate=f"c{c}.1", text="x" * 200,
                salience=0.5, final=False)
        )  # fmt: skip
    lines.append(rec(len(lines) + 1, "run.end", 2000, status="answered", reason="ok"))
    path.write_text("\n".join(lines) + "\n")
    index = TraceIndex(path, first_bytes=20_000)
    first = index.summary()
    assert 0 < first["total_cycles"] < 2000
    assert (first["loading"], first["done"], first["status"]) == (True, False, "loading")
    (load_rest,) = held
    load_rest()
    done = index.summary()
    assert (done["total_cycles"], done["done"], done["loading"], done["status"]) == (
        2000,
        True,
        False,
        "answered",
    )
    assert done["errors"] == []
