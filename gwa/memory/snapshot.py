"""A store's open index: what opening a store builds (its record cache, its BM25 index and its
vector index), saved to one file at close so that the next open reads that file instead of
every record and vector from chromadb (at a million records: seconds instead of minutes).

The file is ``index-<collection>.npz`` in the store's directory: numpy arrays only, read with
``allow_pickle=False``, so opening a store never runs code from it; the vector index's graph
is beside it in ``vectors-<collection>-<token>.usearch`` (usearch's own format, mapped as data
at open, see `VectorIndex.load`), which the open index names; a close whose vectors did not
change since open names the same file again instead of writing another. They stand for the
collections as they were when written:

- the store deletes it (and syncs the directory) before its first write after opening, and
  writes it again at `LongTermMemory.close`; a process that dies in between leaves no file;
- at open it must name this format and agree with itself; opening from it touches no
  collection, and the collections' record counts are compared with it at the first write
  (`check`: a difference, which only a writer other than GWA can make, rebuilds the store
  from chromadb before the write);
- a store object does not write it at close when another object of this process opened on
  the same store wrote to it meanwhile (its own cache would not hold those writes).

A file that is missing, stale, unreadable or of another version is set aside: the store is
rebuilt from chromadb as it always was, with a log line saying why, and a new file is written
at close. Stores behind a Chroma server (``url``) have no open index: other clients may write
to the server.

Records read from the file stay JSON rows until first used (`RecordCache`): a search reads the
hundred or so it ranks, not the million it could.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Iterator, MutableMapping
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from gwa.memory.chroma import Collections
from gwa.memory.lexical import BM25Index
from gwa.memory.records import MemoryRecord
from gwa.memory.vectors import VectorIndex

if TYPE_CHECKING:
    from gwa.memory.store import LongTermMemory

FORMAT = "gwa-memory-index"
VERSION = 3
_FIELDS = tuple(f.name for f in fields(MemoryRecord))
_SOURCES = _FIELDS.index("source_ids")
log = logging.getLogger("gwa.memory")


def row(rec: MemoryRecord) -> bytes:
    """A record as one line of JSON (a list of its fields in order; no raw newline)."""
    return json.dumps([getattr(rec, f) for f in _FIELDS], ensure_ascii=False).encode()


def record(line: bytes) -> MemoryRecord:
    """The record of a `row` line."""
    values = json.loads(line)
    values[_SOURCES] = tuple(values[_SOURCES])
    return MemoryRecord(*values)


class Rows:
    """The records' JSON rows as read: one buffer of lines, sliced on demand (a million rows
    split into a million bytes objects at open took longer than the rest of the open)."""

    __slots__ = ("_bounds", "_view")

    def __init__(self, blob: npt.NDArray[np.uint8]) -> None:
        self._view = blob.data.cast("B")
        ends = np.flatnonzero(blob == 10)
        self._bounds = np.concatenate(([-1], ends, [len(blob)])) if len(blob) else np.zeros(1)

    def __len__(self) -> int:
        return len(self._bounds) - 1

    def __getitem__(self, i: int) -> memoryview:
        """Row ``i`` (a view into the buffer, not a copy)."""
        return self._view[int(self._bounds[i]) + 1 : int(self._bounds[i + 1])]


class RecordCache(MutableMapping[str, MemoryRecord]):
    """id → record, in insertion order. A record read from an open index stays its JSON row
    (a number into `Rows`) until it is first read."""

    __slots__ = ("_items", "_rows")

    def __init__(self) -> None:
        self._items: dict[str, MemoryRecord | int] = {}
        self._rows = Rows(np.zeros(0, dtype=np.uint8))

    def __getitem__(self, key: str) -> MemoryRecord:
        value = self._items[key]
        if isinstance(value, MemoryRecord):
            return value
        rec = self._items[key] = record(self._rows[value].tobytes())
        return rec

    def __setitem__(self, key: str, value: MemoryRecord) -> None:
        self._items[key] = value

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def load(self, rows_of: dict[str, int], rows: Rows) -> None:
        """Hold the rows of an open index (into an empty cache), each decoded on first use;
        ``rows_of``: each id's row number (copied)."""
        if self._items or len(rows_of) != len(rows):
            raise ValueError("rows are loaded once, one per id")
        self._rows = rows
        self._items = dict(rows_of)

    def row(self, key: str) -> bytes | memoryview:
        """The JSON row of a record (as read, or encoded now)."""
        value = self._items[key]
        return row(value) if isinstance(value, MemoryRecord) else self._rows[value]


class OpenIndex(NamedTuple):
    """What an open index file holds."""

    ids: list[str]
    """Active records' ids, in the lexical index's order."""
    rows: Rows
    archived: list[str]
    lexical: BM25Index
    vectors: VectorIndex


def path_of(store: LongTermMemory) -> Path | None:
    """The store's open-index file (None for a server or an in-memory store)."""
    if store.path is None or store.collections.remote:
        return None
    return store.path / f"index-{store.name}.npz"


def _text(value: Any) -> np.ndarray[Any, np.dtype[np.uint8]]:
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode(), dtype=np.uint8)


def read(store: LongTermMemory) -> OpenIndex | None:
    """The store's open index if it is there and whole; None (file set aside) if not. Opening
    from it touches no collection (chromadb's first touch loads its own vector index: seconds
    at a million records); `check` compares it with the collections at the first write."""
    where = path_of(store)
    if where is None or not where.exists():
        return None
    try:
        with np.load(where, allow_pickle=False) as z:
            head = json.loads(z["header"].tobytes())
            if head.get("format") != FORMAT or head.get("version") != VERSION:
                raise ValueError(f"format {head.get('format')} {head.get('version')}")
            ids = json.loads(z["ids"].tobytes())
            rows = Rows(z["rows"] if ids else np.zeros(0, dtype=np.uint8))
            archived = json.loads(z["archived"].tobytes())
            lexical = BM25Index.from_state(z)
            vectors = VectorIndex.load(where.with_name(str(head["vectors"])), z)
        if not len(ids) == len(rows) == len(lexical) == len(vectors) == head["active"]:
            raise ValueError("ids, rows, lexical and vector indexes do not agree")
        if vectors.dim != store.embedder.dim or not vectors.holds(ids):
            raise ValueError("the vector index does not hold the records' vectors")
        if len(archived) != head["archived"]:
            raise ValueError("archived ids do not agree with the header")
    except Exception as e:  # any defect: the records in chromadb are the truth
        log.warning("%s: open index not used (%s); rebuilding it from the records", where, e)
        discard(where)
        sweep(store)
        return None
    return OpenIndex(ids, rows, archived, lexical, vectors)


def check(store: LongTermMemory, archived: int) -> bool:
    """Whether the collections still hold what the open index read at open described
    (``archived``: its archive count): compared at the first write, which touches them anyway.
    A difference means something other than GWA wrote to the collections meanwhile."""
    counts = (store.collections.active.count(), store.collections.archive.count())
    if counts == (len(store.cache), archived):
        return True
    log.warning(
        "%s: the collections hold %d active and %d archived records, not the %d and %d of "
        "the open index read at open (written to outside GWA?); rebuilding from the records",
        store.path,
        *counts,
        len(store.cache),
        archived,
    )
    return False


def write(store: LongTermMemory) -> None:
    """Save the store's open index (live records only), atomically."""
    where, vectors = path_of(store), store.collections.vectors
    if where is None or vectors is None:  # a server's store has neither
        return
    live_ids = [i for i in store.lex_ids if i in store.lex_pos]
    live = None
    if store.dead:
        live = np.ones(len(store.lex_ids), dtype=bool)
        live[list(store.dead)] = False
    archived = list(Collections.ids(store.collections.archive))
    graph = vectors.file  # unchanged since it was read: its file still holds it
    if graph is None or not graph.exists():
        graph = where.with_name(f"vectors-{store.name}-{secrets.token_hex(6)}.usearch")
        vectors.save(graph)
    head = {"format": FORMAT, "version": VERSION, "active": len(live_ids)}
    head["archived"], head["vectors"] = len(archived), graph.name
    arrays: dict[str, Any] = {
        "header": _text(head),
        "ids": _text(live_ids),
        "rows": np.frombuffer(b"\n".join(store.cache.row(i) for i in live_ids), np.uint8),
        "archived": _text(archived),
        **store.lexical.state(live),
        **vectors.state(),
    }
    tmp = where.with_name(where.name + ".tmp")
    with tmp.open("wb") as f:
        np.savez(f, allow_pickle=False, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, where)
    sweep(store, keep=graph)


_OPEN: dict[Path, weakref.WeakSet[LongTermMemory]] = {}
"""The store objects of this process that are open, by open-index file."""
_OPEN_LOCK = threading.Lock()


def opened(store: LongTermMemory) -> None:
    """Count a store object among those open on its files."""
    where = path_of(store)
    if where is not None:
        with _OPEN_LOCK:
            _OPEN.setdefault(where, weakref.WeakSet()).add(store)


def closed(store: LongTermMemory) -> None:
    """A store object is closed."""
    where = path_of(store)
    if where is not None:
        with _OPEN_LOCK:
            others = _OPEN.get(where)
            if others is not None:
                others.discard(store)
                if not others:
                    del _OPEN[where]


def writing(store: LongTermMemory) -> None:
    """``store`` is about to write: the other open objects on the same store no longer see
    all of it, so none of them may save the open index at its close."""
    where = path_of(store)
    if where is not None:
        with _OPEN_LOCK:
            for other in _OPEN.get(where, ()):
                if other is not store:
                    other.others_wrote = True


def sweep(store: LongTermMemory, keep: Path | None = None) -> None:
    """Delete the store's vector-index files but ``keep`` (the one its open index names):
    those of earlier closes, of a close that died before its open index was written, or of an
    open index that was discarded."""
    where = path_of(store)
    if where is None:
        return
    for old in where.parent.glob(f"vectors-{store.name}-*.usearch"):
        if old != keep:
            old.unlink(missing_ok=True)


def discard(where: Path) -> None:
    """Delete an open-index file and make the deletion durable before anything else is
    written (else a crash could leave a file that no longer matches the records)."""
    try:
        where.unlink()
    except FileNotFoundError:
        return
    fd = os.open(where.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
