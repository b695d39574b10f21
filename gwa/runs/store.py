"""What a checkpoint store keeps, the protocol every store implements, and the SQL they share.

A store holds runs (one row each: scenario, status, owner, counters) and their checkpoints (one
per completed cycle, the run's state as compressed JSON). Every write is one transaction, so a
crash mid-write leaves the previous checkpoint valid. A run being run has an *owner*
(``host:pid``); a second process cannot resume it while that owner lives.
"""

from __future__ import annotations

import json
import os
import socket
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from gwa.errors import RunLocked, RunsError

SCHEMA = 1
"""Version of the store's tables and of the checkpoint documents (a newer one is refused)."""
FORMAT = "gwa-runs"
HEARTBEAT_S = 120.0
"""An owner on another host that wrote nothing for this long counts as gone."""
ENDED = ("answered", "max_cycles", "budget", "timeout", "stopped", "stalled", "error", "cancelled")

TABLES = (
    "CREATE TABLE IF NOT EXISTS gwa_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS gwa_runs (
        run TEXT PRIMARY KEY, scenario TEXT NOT NULL, scenario_hash TEXT NOT NULL,
        goal TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
        cycles INTEGER NOT NULL DEFAULT 0, trace TEXT, parent TEXT, owner TEXT,
        pending TEXT, created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL,
        facts TEXT NOT NULL DEFAULT '{}')""",
    """CREATE TABLE IF NOT EXISTS gwa_checkpoints (
        run TEXT NOT NULL, cycle INTEGER NOT NULL, created DOUBLE PRECISION NOT NULL,
        bytes INTEGER NOT NULL, data {blob} NOT NULL, PRIMARY KEY (run, cycle))""",
)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One run as the store knows it."""

    run: str
    scenario: str
    scenario_hash: str
    goal: str
    status: str
    """``running``, ``paused``, ``interrupted`` (its process died), or how it ended."""
    reason: str
    cycles: int
    """The last checkpointed cycle."""
    trace: str | None
    parent: str | None
    """``RUN@CYCLE`` a fork started from."""
    owner: str | None
    pending: dict[str, Any] | None
    """The question a paused run waits on."""
    created: float
    updated: float
    checkpoints: int = 0
    bytes: int = 0
    facts: dict[str, Any] = field(default_factory=dict)
    """What the run was started with: goal, scenario (secrets removed), its hash, trace
    path, scenario folder."""

    def as_json(self) -> dict[str, Any]:
        """The row as JSON data (``gwa runs ls --json``; the stored scenario left out)."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "facts"}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One saved cycle of a run."""

    run: str
    cycle: int
    created: float
    bytes: int
    state: dict[str, Any]

    @property
    def id(self) -> str:
        """``RUN@CYCLE``."""
        return f"{self.run}@{self.cycle}"


class CheckpointStore(Protocol):
    """Where runs and their checkpoints live (`SqliteStore`, `PostgresStore`)."""

    where: str
    """The store's file or URL (without password), for messages."""

    def begin(self, info: RunInfo, owner: str) -> None:
        """Record a new run, owned by ``owner``."""
        ...

    def claim(self, run: str, owner: str) -> RunInfo:
        """Take over an existing run to resume it; `RunLocked` if a live process has it."""
        ...

    def put(self, run: str, cycle: int, data: bytes) -> None:
        """Save a checkpoint (atomically, with the run's cycle count and heartbeat)."""
        ...

    def finish(
        self, run: str, status: str, reason: str, pending: dict[str, Any] | None = None
    ) -> None:
        """Record how the run ended (or paused) and release it."""
        ...

    def get(self, run: str, cycle: int | None = None) -> Checkpoint:
        """A checkpoint (the latest when ``cycle`` is None); `RunsError` naming the fix."""
        ...

    def info(self, run: str) -> RunInfo:
        """One run; `RunsError` listing the runs there are when it does not exist."""
        ...

    def runs(self) -> list[RunInfo]:
        """Every run, newest first."""
        ...

    def delete(self, runs: Sequence[str]) -> int:
        """Remove runs and their checkpoints; how many were removed."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def owner_id() -> str:
    """This process as a run owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str | None, updated: float, now: float | None = None) -> bool:
    """Whether the process that owns a run still runs (on another host: whether it wrote
    within `HEARTBEAT_S`)."""
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return (now or time.time()) - updated < HEARTBEAT_S
    if not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def encode(state: dict[str, Any], redact: Redact | None = None) -> bytes:
    """A checkpoint document as stored: versioned, JSON, compressed; with ``redact``, its
    secrets removed (the document walked only when its JSON text may hold one)."""
    body = json.dumps({"schema": SCHEMA, **state}, ensure_ascii=False, separators=(",", ":"))
    if redact is not None and not redact.clean(body):
        state = redact(state)
        body = json.dumps({"schema": SCHEMA, **state}, ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(body.encode("utf-8"), 1)


class Redact(Protocol):
    """What removes secrets from a checkpoint (`gwa.trace.Redactor`)."""

    def __call__(self, value: Any) -> Any: ...

    def clean(self, text: str) -> bool:
        """Whether ``text`` certainly holds nothing to remove."""
        ...


def decode(data: bytes, where: str, ident: str) -> dict[str, Any]:
    """The state of a stored checkpoint; a damaged or too new one is a `RunsError`."""
    try:
        doc = json.loads(zlib.decompress(data).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunsError(
            f"{where}: checkpoint {ident} is damaged ({exc}); fork from an earlier cycle "
            "(`gwa runs show RUN` lists them) with `gwa run --fork RUN@CYCLE`"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("schema"), int):
        raise RunsError(f"{where}: checkpoint {ident} is not a GWA checkpoint")
    if doc["schema"] > SCHEMA:
        raise RunsError(
            f"{where}: checkpoint {ident} was written by a newer GWA (schema {doc['schema']}, "
            f"this one reads {SCHEMA}): upgrade GWA to resume it"
        )
    doc.pop("schema")
    return doc


class SqlStore:
    """The SQL both stores run; subclasses supply the connection, the placeholder style and
    the error translation."""

    where: str
    blob = "BLOB"
    placeholder = "?"

    @contextmanager
    def tx(self, *, lock: bool = False) -> Iterator[Any]:
        """A transaction (``lock``: serialise against other writers); a cursor-like object."""
        raise NotImplementedError
        yield

    def q(self, sql: str) -> str:
        """``sql`` with this database's placeholders."""
        return sql.replace("?", self.placeholder)

    def _create(self) -> None:
        with self.tx(lock=True) as c:
            for table in TABLES:
                c.execute(table.replace("{blob}", self.blob))
            rows = c.execute(self.q("SELECT key, value FROM gwa_meta")).fetchall()
            meta = dict(rows)
            if not meta:
                c.execute(self.q("INSERT INTO gwa_meta VALUES (?, ?), (?, ?)"),
                          ("format", FORMAT, "schema", str(SCHEMA)))  # fmt: skip
                return
        self._check_meta(meta)

    def _check_meta(self, meta: dict[str, str]) -> None:
        if meta.get("format") != FORMAT:
            raise RunsError(
                f"{self.where} holds another application's tables, not a GWA checkpoint store: "
                "pass another store with --runs (or GWA_RUNS)"
            )
        version = int(meta.get("schema", "0"))
        if version > SCHEMA:
            raise RunsError(
                f"{self.where} was written by a newer GWA (store schema {version}, this one "
                f"reads {SCHEMA}): upgrade GWA, or pass another store with --runs"
            )

    def begin(self, info: RunInfo, owner: str) -> None:
        """Record a new run, owned by ``owner``."""
        with self.tx() as c:
            c.execute(
                self.q(
                    "INSERT INTO gwa_runs (run, scenario, scenario_hash, goal, status, reason, "
                    "cycles, trace, parent, owner, pending, created, updated, facts) "
                    "VALUES (?, ?, ?, ?, 'running', '', ?, ?, ?, ?, NULL, ?, ?, ?)"
                ),
                (info.run, info.scenario, info.scenario_hash, info.goal, info.cycles,
                 info.trace, info.parent, owner, info.created, info.created,
                 json.dumps(info.facts, ensure_ascii=False)),
            )  # fmt: skip

    def claim(self, run: str, owner: str) -> RunInfo:
        """Take over an existing run to resume it; `RunLocked` if a live process has it."""
        with self.tx(lock=True) as c:
            info = self._info(c, run)
            if info.status == "running" and info.owner != owner:
                raise RunLocked(
                    f"{self.where}: run {run} is being run by process {info.owner}; wait for it "
                    f"to end, or stop it (`gwa runs show {run}` shows its state)"
                )
            c.execute(
                self.q("UPDATE gwa_runs SET status='running', owner=?, updated=? WHERE run=?"),
                (owner, time.time(), run),
            )
        return info

    def put(self, run: str, cycle: int, data: bytes) -> None:
        """Save a checkpoint (atomically, with the run's cycle count and heartbeat)."""
        now = time.time()
        with self.tx() as c:
            c.execute(self.q("DELETE FROM gwa_checkpoints WHERE run=? AND cycle>=?"), (run, cycle))
            c.execute(
                self.q("INSERT INTO gwa_checkpoints VALUES (?, ?, ?, ?, ?)"),
                (run, cycle, now, len(data), data),
            )
            c.execute(
                self.q("UPDATE gwa_runs SET cycles=?, updated=? WHERE run=?"), (cycle, now, run)
            )

    def finish(
        self, run: str, status: str, reason: str, pending: dict[str, Any] | None = None
    ) -> None:
        """Record how the run ended (or paused) and release it."""
        with self.tx() as c:
            c.execute(
                self.q(
                    "UPDATE gwa_runs SET status=?, reason=?, pending=?, owner=NULL, updated=? "
                    "WHERE run=?"
                ),
                (status, reason, json.dumps(pending) if pending else None, time.time(), run),
            )

    def get(self, run: str, cycle: int | None = None) -> Checkpoint:
        """A checkpoint (the latest when ``cycle`` is None)."""
        with self.tx() as c:
            self._info(c, run)
            sql = "SELECT run, cycle, created, bytes, data FROM gwa_checkpoints WHERE run=?"
            if cycle is None:
                row = c.execute(self.q(sql + " ORDER BY cycle DESC LIMIT 1"), (run,)).fetchone()
            else:
                row = c.execute(self.q(sql + " AND cycle=?"), (run, cycle)).fetchone()
            if row is None:
                have = [r[0] for r in c.execute(
                    self.q("SELECT cycle FROM gwa_checkpoints WHERE run=? ORDER BY cycle"), (run,)
                ).fetchall()]  # fmt: skip
        if row is None:
            which = "no checkpoint yet" if cycle is None else f"no checkpoint of cycle {cycle}"
            cycles = ", ".join(map(str, have)) or "none"
            raise RunsError(f"{self.where}: run {run} has {which} (checkpointed cycles: {cycles})")
        ident = f"{row[0]}@{row[1]}"
        return Checkpoint(row[0], row[1], row[2], row[3], decode(bytes(row[4]), self.where, ident))

    def info(self, run: str) -> RunInfo:
        """One run (``last``: the newest)."""
        with self.tx() as c:
            return self._info(c, run)

    def _info(self, c: Any, run: str) -> RunInfo:
        if run == "last":
            row = c.execute(self.q(_SELECT + " ORDER BY r.created DESC LIMIT 1")).fetchone()
        else:
            row = c.execute(self.q(_SELECT + " WHERE r.run=?"), (run,)).fetchone()
        if row is None:
            known = [r[0] for r in c.execute(
                self.q("SELECT run FROM gwa_runs ORDER BY created DESC LIMIT 5")
            ).fetchall()]  # fmt: skip
            hint = f"recent runs: {', '.join(known)}" if known else "it holds no runs yet"
            what = "no runs" if run == "last" else f"no run {run!r}"
            raise RunsError(f"{self.where}: {what} ({hint}); `gwa runs ls` lists them")
        return _row(row)

    def runs(self) -> list[RunInfo]:
        """Every run, newest first."""
        with self.tx() as c:
            rows = c.execute(self.q(_SELECT + " ORDER BY r.created DESC")).fetchall()
        return [_row(r) for r in rows]

    def delete(self, runs: Sequence[str]) -> int:
        """Remove runs and their checkpoints."""
        removed = 0
        with self.tx(lock=True) as c:
            for run in runs:
                c.execute(self.q("DELETE FROM gwa_checkpoints WHERE run=?"), (run,))
                cur = c.execute(self.q("DELETE FROM gwa_runs WHERE run=?"), (run,))
                removed += max(0, cur.rowcount)
        return removed


_SELECT = (
    "SELECT r.run, r.scenario, r.scenario_hash, r.goal, r.status, r.reason, r.cycles, r.trace, "
    "r.parent, r.owner, r.pending, r.created, r.updated, "
    "(SELECT COUNT(*) FROM gwa_checkpoints k WHERE k.run=r.run), "
    "(SELECT COALESCE(SUM(k.bytes), 0) FROM gwa_checkpoints k WHERE k.run=r.run), r.facts "
    "FROM gwa_runs r"
)


def _row(row: Sequence[Any]) -> RunInfo:
    status = row[4]
    if status == "running" and not owner_alive(row[9], row[12]):
        status = "interrupted"
    return RunInfo(
        run=row[0],
        scenario=row[1],
        scenario_hash=row[2],
        goal=row[3],
        status=status,
        reason=row[5],
        cycles=row[6],
        trace=row[7],
        parent=row[8],
        owner=row[9],
        pending=json.loads(row[10]) if row[10] else None,
        created=row[11],
        updated=row[12],
        checkpoints=int(row[13]),
        bytes=int(row[14]),
        facts=json.loads(row[15]) if row[15] else {},
    )
