"""Durable runs: the checkpoint store protocol and its SQLite and PostgreSQL stores.

A run saves a checkpoint at the end of every cycle; ``gwa run --resume`` continues it after a
crash or a pause, ``--fork RUN@CYCLE`` starts a new run from any saved cycle, and ``gwa runs``
lists, shows and removes runs. Which store: ``--runs`` / ``Workspace(runs=...)``, else the
``GWA_RUNS`` environment variable, else ``.gwa/runs.sqlite`` in the working directory; a
``postgresql://`` URL selects PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path

from gwa.runs.sqlite import SqliteStore
from gwa.runs.store import (
    ENDED,
    SCHEMA,
    Checkpoint,
    CheckpointStore,
    RunInfo,
    decode,
    encode,
    owner_alive,
    owner_id,
)

DEFAULT_STORE = Path(".gwa") / "runs.sqlite"
ENV = "GWA_RUNS"


def store_location(where: str | Path | None = None) -> str:
    """The store to use: ``where``, else ``$GWA_RUNS``, else `DEFAULT_STORE`."""
    return str(where or os.environ.get(ENV) or DEFAULT_STORE)


def open_store(where: str | Path | None = None) -> CheckpointStore:
    """Open (creating if needed) the checkpoint store at a path or ``postgresql://`` URL."""
    location = store_location(where)
    if location.startswith(("postgresql://", "postgres://")):
        from gwa.runs.postgres import PostgresStore

        return PostgresStore(location)
    return SqliteStore(location)


__all__ = [
    "DEFAULT_STORE",
    "ENDED",
    "ENV",
    "SCHEMA",
    "Checkpoint",
    "CheckpointStore",
    "RunInfo",
    "SqliteStore",
    "decode",
    "encode",
    "open_store",
    "owner_alive",
    "owner_id",
    "store_location",
]
