"""The store's own vector index: the active collection's vectors in an in-process HNSW graph
(usearch; cosine; half-precision storage), beside chromadb.

chromadb stays the store of record (every write goes to it first and is acknowledged only
after it returned); this index answers the reads that were chromadb queries: the dense
top-P of a search and the nearest record of a write or an admission decision. It exists
for three measured reasons (issue 18, docs/benchmarks.md):

- chromadb's first operation on a collection loads its whole HNSW index (0.5 s at 100k
  records, about 5 s at a million); this one is saved in the store's open index and read
  back with it, so opening a store from its open index touches no collection at all;
- one nearest-neighbour query costs chromadb 1.8 / 2.3 ms (p50 / p95) at 100k records and
  about 0.5 ms here, which puts an admission decision under a millisecond;
- the dense top-P of a search costs 3 ms or more in chromadb and under 1 ms here.

Half precision keeps the index at half the memory of float32 vectors; it moves cosine
distances by about 1e-4. Stores behind a Chroma server (``url``) have none: other clients
write to the server, so it is asked directly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from gwa.memory.embeddings import Vectors

CONNECTIVITY = 16
"""Graph degree (chromadb's default M)."""
EXPANSION_ADD = 128
"""Candidates kept while inserting (chromadb builds with 100)."""
EXPANSION_SEARCH = 100
"""Candidates kept while searching (chromadb's default ef)."""


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
        self._key: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._key)

    def __contains__(self, id: object) -> bool:
        return id in self._key

    def add(self, ids: Sequence[str], vectors: Vectors | Sequence[Sequence[float]]) -> None:
        """Index vectors under these ids (an id already there gets the new vector)."""
        if not ids:
            return
        vecs = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        self.remove([i for i in ids if i in self._key])
        start = len(self._ids)
        keys = np.arange(start, start + len(ids), dtype=np.uint64)
        self._ids.extend(ids)
        self._key.update(zip(ids, range(start, start + len(ids)), strict=True))
        self._index.add(keys, vecs, threads=0 if len(ids) > 1000 else 1)

    def remove(self, ids: Sequence[str]) -> None:
        """Forget these ids (those not indexed are ignored)."""
        keys = [self._key.pop(i) for i in ids if i in self._key]
        for k in keys:
            self._ids[k] = None
        if keys:
            self._index.remove(np.asarray(keys, dtype=np.uint64))

    def query(self, vecs: Vectors, n: int) -> tuple[list[list[str]], list[list[float]]]:
        """The ``n`` nearest of each vector: (ids, cosine distances), nearest first."""
        q = np.asarray(vecs, dtype=np.float32).reshape(-1, self.dim)
        if not self._key or n <= 0:
            return [[] for _ in range(len(q))], [[] for _ in range(len(q))]
        got = self._index.search(q, min(n, len(self._key)), threads=1)
        keys, dists = np.atleast_2d(got.keys), np.atleast_2d(got.distances)
        counts = np.atleast_1d(getattr(got, "counts", len(got.keys)))
        ids: list[list[str]] = []
        distances: list[list[float]] = []
        for row in range(len(q)):
            found = [
                (self._ids[int(k)], float(d)) for k, d in zip(keys[row], dists[row], strict=True)
            ][: int(counts[row])]
            ids.append([i for i, _ in found if i is not None])
            distances.append([d for i, d in found if i is not None])
        return ids, distances

    def nearest(self, vecs: Vectors) -> list[tuple[str, float] | None]:
        """For each vector: the closest id and its cosine similarity (None when empty)."""
        ids, dists = self.query(vecs, 1)
        return [(i[0], 1.0 - d[0]) if i else None for i, d in zip(ids, dists, strict=True)]

    # -- persistence (inside the store's open index; see `snapshot`) --------------------------

    def state(self) -> dict[str, npt.NDArray[Any]]:
        """Arrays that `from_state` reads back."""
        ids = json.dumps(self._ids, ensure_ascii=False).encode()
        return {
            "vector_index": np.frombuffer(bytes(self._index.save()), dtype=np.uint8),
            "vector_ids": np.frombuffer(ids, dtype=np.uint8),
            "vector_dim": np.asarray([self.dim], dtype=np.int64),
        }

    @classmethod
    def from_state(cls, z: Any) -> VectorIndex:
        """The index `state` saved (``z``: a mapping of its arrays)."""
        index = cls(int(z["vector_dim"][0]))
        blob = z["vector_index"]
        index._index.load(blob)
        index.dim = int(index._index.ndim)
        index._ids = json.loads(z["vector_ids"].tobytes())
        index._key = {i: k for k, i in enumerate(index._ids) if i is not None}
        if len(index._index) != len(index._key):
            raise ValueError(
                f"vector index holds {len(index._index)} vectors for {len(index._key)} ids"
            )
        return index
