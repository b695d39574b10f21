"""A checkpoint store in PostgreSQL (``psycopg`` 3), for runs shared across machines."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gwa.errors import RunsError
from gwa.runs.store import SqlStore

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


class PostgresStore(SqlStore):
    """Runs and checkpoints in a PostgreSQL database (``postgresql://user@host/db``)."""

    blob = "BYTEA"
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise RunsError(
                "a PostgreSQL checkpoint store needs psycopg: pip install 'gwa[postgres]'"
            ) from None
        self.where = _PASSWORD.sub(r"\1***@", url)
        self._psycopg = psycopg
        self._lock = threading.Lock()
        try:
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise RunsError(
                f"{self.where}: cannot connect to PostgreSQL ({str(exc).strip()}); check the "
                "URL and that the server runs"
            ) from None
        try:
            self._create()
        except RunsError:
            self._db.close()
            raise

    @contextmanager
    def tx(self, *, lock: bool = False) -> Iterator[Any]:
        """One transaction (``lock``: an advisory lock serialises the writers that take it)."""
        with self._lock:
            try:
                with self._db.transaction():
                    if lock:
                        self._db.execute("SELECT pg_advisory_xact_lock(7011)")
                    yield self._db
            except self._psycopg.Error as exc:
                raise RunsError(f"{self.where}: {str(exc).strip()}") from None

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
