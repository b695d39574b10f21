"""Both checkpoint stores (SQLite and a real PostgreSQL) keep runs and checkpoints, refuse a run
a live process owns, and turn every kind of bad store into a `RunsError` naming the fix."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg import postgres_url  # noqa: F401 (a fixture)

from gwa.errors import RunLocked, RunsError
from gwa.runs import CheckpointStore, RunInfo, SqliteStore, encode, open_store, owner_id
from gwa.runs.store import decode
from gwa.trace import Redactor


def _info(run: str, created: float | None = None) -> RunInfo:
    now = created or time.time()
    return RunInfo(run, "demo", "h1", "a goal", "running", "", 0, "t.jsonl", None, None, None,
                   now, now, facts={"goal": "a goal", "scenario_hash": "h1"})  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CheckpointStore]:
    """A fresh store of each kind (the PostgreSQL one empties its tables first)."""
    if request.param == "sqlite":
        s = open_store(tmp_path / "runs.sqlite")
    else:
        s = open_store(request.getfixturevalue("postgres_url"))
        s.delete([r.run for r in s.runs()])
    yield s
    s.close()


@pytest.mark.timeout(120)
def test_runs_and_checkpoints_round_trip(store: CheckpointStore) -> None:
    """A run's checkpoints come back by cycle and as the latest; the run row follows them."""
    store.begin(_info("r1", 1.0), owner_id())
    store.begin(_info("r2", 2.0), owner_id())
    for cycle in (1, 2, 3):
        store.put("r1", cycle, encode({"cycle": cycle, "text": "é" * cycle}))
    assert store.get("r1").cycle == 3
    assert store.get("r1").state == {"cycle": 3, "text": "ééé"}
    assert store.get("r1", 2).state["cycle"] == 2
    assert store.get("r1", 2).id == "r1@2"
    info = store.info("r1")
    assert (info.cycles, info.checkpoints, info.status) == (3, 3, "running")
    assert info.facts["scenario_hash"] == "h1"
    assert [r.run for r in store.runs()] == ["r2", "r1"]
    assert store.info("last").run == "r2"
    store.finish("r1", "paused", "asks a person", {"question": "q?", "text": "t"})
    paused = store.info("r1")
    assert (paused.status, paused.pending, paused.owner) == (
        "paused",
        {"question": "q?", "text": "t"},
        None,
    )
    assert store.delete(["r1"]) == 1
    assert [r.run for r in store.runs()] == ["r2"]


@pytest.mark.timeout(120)
def test_a_resumed_cycle_replaces_the_later_checkpoints(store: CheckpointStore) -> None:
    """Saving cycle 2 again (a resume from 1 that redid it) drops the lost run's cycles ≥ 2."""
    store.begin(_info("r"), owner_id())
    for cycle in (1, 2, 3):
        store.put("r", cycle, encode({"v": cycle}))
    store.put("r", 2, encode({"v": 20}))
    assert store.info("r").checkpoints == 2
    assert store.get("r").state == {"v": 20}


@pytest.mark.timeout(120)
def test_a_live_owner_locks_the_run_and_a_dead_one_does_not(store: CheckpointStore) -> None:
    """Another live process owns the run: `RunLocked`; once it died the run is `interrupted`
    and can be claimed."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = owner_id().rpartition(":")[0]
        store.begin(_info("r"), f"{host}:{child.pid}")
        with pytest.raises(RunLocked, match="being run by process"):
            store.claim("r", owner_id())
        assert store.info("r").status == "running"
    finally:
        child.kill()
        child.wait()
    assert store.info("r").status == "interrupted"
    assert store.claim("r", owner_id()).run == "r"
    assert store.info("r").status == "running"


@pytest.mark.timeout(120)
def test_unknown_runs_and_missing_checkpoints_name_what_exists(store: CheckpointStore) -> None:
    """An unknown run lists recent ones; a missing cycle lists the saved cycles."""
    with pytest.raises(RunsError, match="holds no runs yet"):
        store.info("last")
    store.begin(_info("known"), owner_id())
    with pytest.raises(RunsError, match=r"no run 'nope' \(recent runs: known\)"):
        store.info("nope")
    with pytest.raises(RunsError, match=r"no checkpoint yet \(checkpointed cycles: none\)"):
        store.get("known")
    store.put("known", 1, encode({}))
    with pytest.raises(RunsError, match=r"no checkpoint of cycle 7 \(checkpointed cycles: 1\)"):
        store.get("known", 7)


def _damage(path: Path, run: str, cycle: int, data: bytes) -> None:
    db = sqlite3.connect(path)
    db.execute("UPDATE gwa_checkpoints SET data=? WHERE run=? AND cycle=?", (data, run, cycle))
    db.commit()
    db.close()


@pytest.mark.timeout(60)
def test_damaged_or_newer_checkpoints_are_refused_and_earlier_ones_stay_usable(
    tmp_path: Path,
) -> None:
    """A damaged checkpoint says how to fork from an earlier one, which still loads; one from
    a newer GWA asks for an upgrade."""
    path = tmp_path / "runs.sqlite"
    store = SqliteStore(path)
    store.begin(_info("r"), owner_id())
    store.put("r", 1, encode({"ok": 1}))
    store.put("r", 2, encode({"ok": 2}))
    _damage(path, "r", 2, b"not zlib")
    with pytest.raises(RunsError, match=r"checkpoint r@2 is damaged.*--fork RUN@CYCLE"):
        store.get("r")
    assert store.get("r", 1).state == {"ok": 1}
    _damage(path, "r", 2, zlib.compress(b'{"schema": 99}'))
    with pytest.raises(RunsError, match=r"newer GWA \(schema 99"):
        store.get("r")
    store.close()


@pytest.mark.timeout(60)
def test_files_that_are_not_a_store_are_refused_untouched(tmp_path: Path) -> None:
    """Junk, another application's SQLite database and a store of a newer schema: each a
    `RunsError` naming the file; the foreign database gains no tables."""
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(RunsError, match=rf"{junk} is not a GWA checkpoint store"):
        open_store(junk)
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE invoices (id INTEGER)")
    db.commit()
    with pytest.raises(RunsError, match=r"another application's database \(tables: invoices\)"):
        open_store(other)
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["invoices"]
    db.close()
    newer = tmp_path / "newer.sqlite"
    open_store(newer).close()
    db = sqlite3.connect(newer)
    db.execute("UPDATE gwa_meta SET value='9' WHERE key='schema'")
    db.commit()
    db.close()
    with pytest.raises(RunsError, match=r"newer GWA \(store schema 9, this one reads 1\)"):
        open_store(newer)


@pytest.mark.timeout(60)
def test_a_full_disk_fails_the_write_and_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    """When the store cannot grow, saving a checkpoint is a `RunsError` that says so, and the
    last good checkpoint is still there."""
    path = tmp_path / "runs.sqlite"
    store = SqliteStore(path)
    store.begin(_info("r"), owner_id())
    store.put("r", 1, encode({"small": True}))
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count={pages + 1}")
    big = encode({"big": [str(i) * 50 for i in range(20000)]})
    with pytest.raises(RunsError, match=r"disk full.*previous checkpoint is intact"):
        store.put("r", 2, big)
    assert store.get("r").state == {"small": True}
    assert store.info("r").cycles == 1
    store.close()


@pytest.mark.timeout(60)
def test_postgres_url_password_never_appears_in_messages(postgres_url: str) -> None:  # noqa: F811
    """A URL's password is masked in the store's name (messages, `gwa runs`)."""
    url = postgres_url.replace("gwa@", "gwa:hunter2@")
    store = open_store(url)
    try:
        assert "hunter2" not in store.where
        with pytest.raises(RunsError) as info:
            store.info("missing")
        assert "hunter2" not in str(info.value)
    finally:
        store.close()


def test_a_checkpoint_is_walked_for_secrets_only_when_its_text_may_hold_one() -> None:
    """With a redactor, a clean document is stored byte for byte as without one; a document
    quoting a secret, or with a credential-like field, is stored without it."""
    redactor = Redactor({"hunter22-password"})
    clean = {"working_memory": [{"text": "a plain thought"}], "cycle": 3}
    assert encode(clean, redactor) == encode(clean)
    quoting = {"working_memory": [{"text": "the goal says hunter22-password"}]}
    stored = decode(encode(quoting, redactor), "t", "r@1")
    assert stored["working_memory"][0]["text"] == "the goal says [redacted]"
    keyed = decode(encode({"model": {"api_key": "abc"}}, redactor), "t", "r@1")
    assert keyed["model"]["api_key"] == "[redacted]"
