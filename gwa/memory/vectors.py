"""The store's own vector index: the active collection's vectors in an in-process HNSW graph
(usearch; cosine; half-precision storage), beside chromadb.

chromadb stays the store of record (every write goes to it first and is acknowledged only
after it returned); this index answers the reads that were chromadb queries: the dense
top-P of a search and the nearest record of a write or an admission decision. It exists
for two measured reasons (issue 18, docs/benchmarks.md):

- chromadb's first operation on a collection loads its whole HNSW index (0.5 s at 100k
  records, about 5 s at a million); this one is saved beside the store's open index and read
  back with it, so opening a store from its open index touches no collection at all;
- on the same vectors it finds what chromadb's index finds in about half the time (at 50,000
  MiniLM vectors of sentences, p95 0.80 against 1.61 ms for the nearest record, 0.90 against
  1.97 ms for the 50 nearest; `bench/vector_index.py`).

Half precision keeps the index at half the memory of float32 vectors; it moves cosine
similarities by at most 3e-5 (10,000 pairs of MiniLM vectors). Stores behind a Chroma
server (``url``) have none: other clients write to the server, so it is asked directly.

An index read back from its file is a read-only memory map of it (the system reads the pages
a search touches: a million records' graph, about 900 MB, is mapped in 0.25 s, and the store's
open took 3.7 s instead of 4.7 s on the same machine); the first change copies it into memory
(`_writable`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gwa.memory.embeddings import Vectors

CONNECTIVITY = 16
"""Graph degree (chromadb's default M)."""
EXPANSION_ADD = 128
"""Candidates kept while inserting (chromadb builds with 100)."""
EXPANSION_SEARCH = 100
"""Candidates kept while searching, at least k (chromadb's default). With it this graph finds
what chromadb's does (recall@1 0.990 against 0.995, recall@50 0.981 against 0.977, on 50,000
MiniLM vectors of sentences) in about half the time (p95 0.80 against 1.61 ms at k 1); 64 was
faster still (0.61 ms) but found less (0.985, 0.953). `python bench/vector_index.py`."""
NOVELTY_EXPANSION = 32
"""Candidates kept while looking for an admission candidate's nearest record, whose similarity
is all its novelty reads: on 50,000 MiniLM vectors of sentences the one found is on average
0.0005 less similar than the exact nearest (0.0001 at 100) for 0.24 against 0.44 ms p95, and
at 100,000 of bench/memory.py's near-random vectors 0.41 against 0.91 ms
(`python bench/vector_index.py --ef 16,24,32,48,64`). Searches and writes keep
EXPANSION_SEARCH."""


class VectorIndex:
    """Record id → vector, searchable by cosine distance. Not thread-safe on its own: the
    store calls it under its lock."""

    def __init__(self, dim: int) -> None:
        from usearch.index import Index

        self.dim = dim
        self._index: Any = Index(
            ndim=dim,
            metric="cos",
            dtype="f16",
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )
        self._ids: list[str | None] = []
        """Key → record id (None once removed); keys are never reused."""
        self._keys: dict[str, int] | None = {}
        """Record id → key; None after `load` until first needed (see `_key`)."""
        self._count = 0
        """How many ids `_ids` holds, while `_keys` is not built."""
        self._file: Path | None = None
        """The graph file this index is a read-only map of (None once changed in memory)."""

    def __len__(self) -> int:
        return self._count if self._keys is None else len(self._keys)

    @property
    def _key(self) -> dict[str, int]:
        """Record id → key, built from `_ids` at its first use after `load` (0.3–0.6 s at a
        million records, by machine: spent by the first write rather than by every open)."""
        if self._keys is None:
            self._keys = {i: k for k, i in enumerate(self._ids) if i is not None}
        return self._keys

    def holds(self, ids: list[str]) -> bool:
        """Whether ``ids`` (no repeats) are exactly the indexed ids: one list comparison when
        they come in key order (the order a store added them in), else one lookup each."""
        if len(ids) != len(self):
            return False
        return [i for i in self._ids if i is not None] == ids or all(i in self for i in ids)

    def __contains__(self, id: object) -> bool:
        return id in self._key

    def add(
        self,
        ids: Sequence[str],
        vectors: Vectors | Sequence[Sequence[float]],
        *,
        parallel: bool = False,
    ) -> None:
        """Index vectors under these ids (an id already there gets the new vector). One thread
        builds the same graph from the same adds every time (a replayed run searches what its
        recording searched); ``parallel`` uses every core and does not (a rebuild)."""
        if not ids:
            return
        vecs = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        self.remove([i for i in ids if i in self._key])
        self._writable()
        start = len(self._ids)
        keys = np.arange(start, start + len(ids), dtype=np.uint64)
        self._ids.extend(ids)
        self._key.update(zip(ids, range(start, start + len(ids)), strict=True))
        self._index.add(keys, vecs, threads=0 if parallel else 1)  # 0: every core

    def remove(self, ids: Sequence[str]) -> None:
        """Forget these ids (those not indexed are ignored)."""
        keys = [self._key.pop(i) for i in ids if i in self._key]
        for k in keys:
            self._ids[k] = None
        if keys:
            self._writable()
            self._index.remove(np.asarray(keys, dtype=np.uint64))

    def _writable(self) -> None:
        """Copy a mapped graph into memory before its first change (usearch cannot change a
        map, and crashes the process when asked to). The copy reads the map, not the file: it
        works when the file has been deleted meanwhile."""
        if self._file is not None:
            self._index = self._index.copy()
            self._file = None

    @property
    def file(self) -> Path | None:
        """The graph file this index was read from, while it has not changed since: that file
        still describes it (a store that only read saves no new one)."""
        return self._file

    def query(self, vecs: Vectors, n: int) -> tuple[list[list[str]], list[list[float]]]:
        """The ``n`` nearest of each vector: (ids, cosine distances), nearest first."""
        q = np.asarray(vecs, dtype=np.float32).reshape(-1, self.dim)
        ids: list[list[str]] = []
        distances: list[list[float]] = []
        n = min(n, len(self))
        for row in q:  # one at a time: a single query's result is the cheaper kind to unpack
            if n <= 0:
                ids.append([])
                distances.append([])
                continue
            got = self._index.search(row, n, threads=1)
            found = zip(got.keys.tolist(), got.distances.tolist(), strict=True)
            pairs = [(self._ids[k], d) for k, d in found]
            ids.append([i for i, _ in pairs if i is not None])
            distances.append([d for i, d in pairs if i is not None])
        return ids, distances

    def nearest(
        self, vecs: Vectors, *, breadth: int = EXPANSION_SEARCH
    ) -> list[tuple[str, float] | None]:
        """For each vector: the closest id and its cosine similarity (None when empty), found
        keeping ``breadth`` candidates (the other searches keep EXPANSION_SEARCH)."""
        self._index.expansion_search = breadth
        try:
            ids, dists = self.query(vecs, 1)
        finally:
            self._index.expansion_search = EXPANSION_SEARCH
        return [(i[0], 1.0 - d[0]) if i else None for i, d in zip(ids, dists, strict=True)]

    # -- persistence (beside the store's open index; see `snapshot`) ---------------------------

    def state(self) -> dict[str, npt.NDArray[Any]]:
        """The arrays `load` needs besides the graph file (ids by key, dimension)."""
        ids = json.dumps(self._ids, ensure_ascii=False).encode()
        return {
            "vector_ids": np.frombuffer(ids, dtype=np.uint8),
            "vector_dim": np.asarray([self.dim], dtype=np.int64),
        }

    def save(self, path: Path) -> None:
        """Write the graph and its vectors to ``path`` and sync it to disk."""
        self._index.save(str(path))
        with path.open("rb") as f:
            os.fsync(f.fileno())

    @classmethod
    def load(cls, path: Path, z: Any) -> VectorIndex:
        """The index `save` wrote to ``path``, with the arrays of `state` (``z``): a read-only
        map of the file until its first change."""
        index = cls(int(z["vector_dim"][0]))
        index._index.view(str(path))
        index._file = path
        index.dim = int(index._index.ndim)
        index._ids = json.loads(z["vector_ids"].tobytes())
        index._keys = None
        index._count = len(index._ids) - index._ids.count(None)
        if len(index._index) != index._count:
            raise ValueError(
                f"vector index holds {len(index._index)} vectors for {index._count} ids"
            )
        return index
