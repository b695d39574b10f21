"""`gwa.types.plain` and `field_values`: asdict / astuple without the deep copies."""

from __future__ import annotations

from dataclasses import asdict, astuple

from gwa.agents.agent import CallRecord
from gwa.cycle.state import Provenance
from gwa.memory import AdmissionCandidate, Signals
from gwa.types import WorkingEntry, field_values, plain


def test_plain_gives_what_asdict_gives() -> None:
    entry = WorkingEntry("w1", 3, "g1", "thought", "a park by the river", 6, "")
    signals = Signals(salience=0.7, won=1.0, echoes=("input:user", "input:bot"))
    for value in (
        entry,
        signals,
        Provenance("generator", ("m-1", "m-2"), signals, "the whole text"),
        AdmissionCandidate(entry, "run-1", "evicted", "generator", ("m-3",), signals),
        CallRecord("fake", 0.7, 64, 10, 5, 1.5, 1, True, None),
    ):
        assert plain(value) == asdict(value)
    nested = {"nested": [entry, (signals,)]}
    assert plain(nested) == {"nested": [asdict(entry), (asdict(signals),)]}


def test_plain_rebuilds_containers_so_the_copy_is_its_own() -> None:
    items = [{"a": [1, 2]}]
    copy = plain(items)
    copy[0]["a"].append(3)
    assert items == [{"a": [1, 2]}]


def test_field_values_gives_what_astuple_gives() -> None:
    entry = WorkingEntry("w1", 3, "g1", "input", "hello", 1, "user")
    assert field_values(entry) == astuple(entry)
