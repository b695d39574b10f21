"""The default checkpoint store: one SQLite file in WAL mode (``.gwa/runs.sqlite``)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gwa.errors import RunsError
from gwa.runs.store import SqlStore


class SqliteStore(SqlStore):
    """Runs and checkpoints in one SQLite file; safe across processes (WAL, busy timeout)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        except (sqlite3.Error, OSError) as exc:
            raise self._error(exc) from None
        try:
            self._foreign()
            self._create()
        except RunsError:
            self._db.close()
            raise

    def _foreign(self) -> None:
        """Refuse a database of another application (GWA's tables are added to none)."""
        with self.tx() as c:
            names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if names and "gwa_meta" not in names:
            raise RunsError(
                f"{self.where} is another application's database (tables: "
                f"{', '.join(sorted(names)[:5])}), not a GWA checkpoint store: pass another "
                "store with --runs (or GWA_RUNS)"
            )

    def _error(self, exc: BaseException) -> RunsError:
        text = str(exc)
        if "not a database" in text or "malformed" in text:
            return RunsError(
                f"{self.where} is not a GWA checkpoint store or is damaged ({text}): move it "
                "away (earlier runs are lost with it), or pass another store with --runs"
            )
        if "full" in text:
            return RunsError(
                f"{self.where}: disk full while writing a checkpoint ({text}); the previous "
                "checkpoint is intact: free space (`gwa runs prune`), then resume the run"
            )
        return RunsError(f"{self.where}: {text}")

    @contextmanager
    def tx(self, *, lock: bool = False) -> Iterator[Any]:
        """One transaction (``lock``: taken before reading, so writers queue)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE" if lock else "BEGIN")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:  # SQLite may have rolled back already
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise self._error(exc) from None

    def close(self) -> None:
        """Close the file."""
        self._db.close()
