"""The chromadb adapter: the only module of GWA that imports chromadb.

A store keeps two collections, ``<name>`` (active and superseded records) and
``<name>_archive`` (pruned ones), in a PersistentClient directory, an HttpClient server, or
memory. Vectors come from GWA's own embedder, registered with chromadb as an embedding
function so that collection configs round-trip; product telemetry is switched off in the
client's settings (nothing is sent anywhere).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gwa.memory.embeddings import Embedder, MiniLMEmbedder, Vectors
from gwa.memory.records import MemoryRecord, StoreError
from gwa.memory.vectors import EXPANSION_SEARCH, VectorIndex

BATCH = 2000
"""Records per chromadb call when moving or loading many."""

Item = tuple[MemoryRecord, list[float]]
"""A record with its vector."""


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


@functools.cache
def _embedding_function_class() -> Any:
    """GWA's embedder as a chromadb embedding function (built and registered once)."""
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import register_embedding_function

    class GwaMiniLM(EmbeddingFunction[Documents]):
        """all-MiniLM-L6-v2 int8, offline, through GWA's verified loader."""

        def __init__(self, embedder: Embedder | None = None) -> None:
            self._embedder = embedder

        @property
        def embedder(self) -> Embedder:
            if self._embedder is None:
                self._embedder = MiniLMEmbedder.shared()
            return self._embedder

        def __call__(self, input: Documents) -> Embeddings:
            return list(self.embedder.embed(list(input)))

        @staticmethod
        def name() -> str:
            return "gwa-minilm-l6-v2-int8"

        def default_space(self) -> Any:
            return "cosine"

        def get_config(self) -> dict[str, Any]:
            return {"model": "all-MiniLM-L6-v2-int8", "dim": 384}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> GwaMiniLM:
            return GwaMiniLM()

    register_embedding_function(GwaMiniLM)  # type: ignore[no-untyped-call]
    return GwaMiniLM


def embedding_function(embedder: Embedder) -> Any:
    """Wrap an embedder as a chromadb embedding function (registered, so configs round-trip)."""
    return _embedding_function_class()(embedder)


def http_args(url: str) -> dict[str, Any]:
    """HttpClient arguments from ``http(s)://HOST:PORT``."""
    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise StoreError(f"memory url {url!r} must look like http://HOST:PORT")
    return {"host": u.hostname, "port": u.port or 8000, "ssl": u.scheme == "https"}


class Collections:
    """The active and archive collections of one store."""

    def __init__(self, path: Path | None, url: str | None, name: str, embedder: Embedder) -> None:
        import chromadb

        self.remote = url is not None
        """Behind a Chroma server (other clients may write to it)."""
        try:
            if url is not None:
                self.client: Any = chromadb.HttpClient(**http_args(url), settings=_settings())
            elif path is not None:
                self.client = chromadb.PersistentClient(
                    path=str(path / "chroma"), settings=_settings()
                )
            else:
                self.client = chromadb.EphemeralClient(settings=_settings())
        except Exception as e:  # chromadb raises many kinds; name the store and the fix
            where = url or str(path)
            raise StoreError(
                f"cannot open the memory store at {where}: {e}. Check the path or URL; a store "
                "written by another chromadb version can be moved with `gwa memory export/import`"
            ) from e
        ef = embedding_function(embedder)
        cosine = {"hnsw": {"space": "cosine"}}
        try:
            self.active: Any = self.client.get_or_create_collection(
                name, embedding_function=ef, configuration=cosine
            )
            self.archive: Any = self.client.get_or_create_collection(
                f"{name}_archive", embedding_function=ef, configuration=cosine
            )
        except Exception as e:
            raise StoreError(f"cannot open collection {name!r}: {e}") from e
        self.vectors = None if self.remote else VectorIndex(embedder.dim)
        """The active collection's vectors, searched in process (`gwa.memory.vectors`); None
        behind a server, which is then queried directly."""

    def indexed(self) -> Iterator[MemoryRecord]:
        """Every active record, its vector put in the vector index on the way (a store's
        open without an open index)."""
        offset = 0
        while True:
            got = self.active.get(
                limit=BATCH, offset=offset, include=["documents", "metadatas", "embeddings"]
            )
            ids = got["ids"]
            if not ids:
                return
            if self.vectors is not None:
                self.vectors.add(ids, got["embeddings"], parallel=True)
            for i, id in enumerate(ids):
                yield MemoryRecord.from_chroma(id, got["documents"][i], got["metadatas"][i])
            offset += len(ids)

    @staticmethod
    def records(col: Any, *, embeddings: bool = False) -> Iterator[MemoryRecord]:
        """Every record of a collection, in batches."""
        for rec, _ in Collections.with_vectors(col, embeddings=embeddings):
            yield rec

    @staticmethod
    def ids(col: Any) -> Iterator[str]:
        """Every id of a collection, in batches (no documents, metadata or vectors read)."""
        offset = 0
        while True:
            got = col.get(limit=BATCH, offset=offset, include=[])["ids"]
            if not got:
                return
            yield from got
            offset += len(got)

    @staticmethod
    def with_vectors(
        col: Any, *, embeddings: bool
    ) -> Iterator[tuple[MemoryRecord, list[float] | None]]:
        """Every record of a collection with its vector (None unless ``embeddings``)."""
        offset = 0
        include = ["documents", "metadatas", *(["embeddings"] if embeddings else [])]
        while True:
            got = col.get(limit=BATCH, offset=offset, include=include)
            ids = got["ids"]
            if not ids:
                return
            vecs = got.get("embeddings") if embeddings else None
            for i, id in enumerate(ids):
                rec = MemoryRecord.from_chroma(id, got["documents"][i], got["metadatas"][i])
                yield rec, (None if vecs is None else [float(x) for x in vecs[i]])
            offset += len(ids)

    @staticmethod
    def get(col: Any, ids: Sequence[str], *, embeddings: bool = False) -> list[Item]:
        """The records with these ids that a collection holds (vectors empty without
        ``embeddings``)."""
        include = ["documents", "metadatas", *(["embeddings"] if embeddings else [])]
        got = col.get(ids=list(ids), include=include)
        out: list[Item] = []
        for i, id in enumerate(got["ids"]):
            rec = MemoryRecord.from_chroma(id, got["documents"][i], got["metadatas"][i])
            vec = [float(x) for x in got["embeddings"][i]] if embeddings else []
            out.append((rec, vec))
        return out

    def add(self, records: Sequence[MemoryRecord], vectors: Vectors) -> None:
        """Add new records to the active collection."""
        self.active.add(
            ids=[r.id for r in records],
            documents=[r.text for r in records],
            metadatas=[r.metadata() for r in records],
            embeddings=vectors,
        )
        if self.vectors is not None:
            self.vectors.add([r.id for r in records], vectors)

    def delete(self, ids: Sequence[str]) -> None:
        """Delete records from the active collection."""
        self.active.delete(ids=list(ids))
        if self.vectors is not None:
            self.vectors.remove(ids)

    def put_active(self, items: Sequence[Item]) -> None:
        """Write records with their vectors to the active collection (an import)."""
        Collections.put(self.active, items)
        if self.vectors is not None:
            self.vectors.add([r.id for r, _ in items], [v for _, v in items])

    def to_archive(self, items: Sequence[Item]) -> None:
        """Move active records (with their vectors) to the archive."""
        Collections.move(items, self.archive, self.active)
        if self.vectors is not None:
            self.vectors.remove([r.id for r, _ in items])

    def from_archive(self, items: Sequence[Item]) -> None:
        """Move archived records (with their vectors) back to the active collection."""
        Collections.move(items, self.active, self.archive)
        if self.vectors is not None:
            self.vectors.add([r.id for r, _ in items], [v for _, v in items])

    def update(self, records: Sequence[MemoryRecord]) -> None:
        """Write changed records' metadata to the active collection."""
        if records:
            self.active.update(
                ids=[r.id for r in records], metadatas=[r.metadata() for r in records]
            )

    def nearest(
        self, vecs: Vectors, *, breadth: int = EXPANSION_SEARCH
    ) -> list[tuple[str, float] | None]:
        """For each vector: the closest active record's id and cosine similarity (``breadth``:
        the search breadth of the store's own index; a Chroma server uses its own)."""
        if self.vectors is not None:
            return self.vectors.nearest(vecs, breadth=breadth)
        got = self.active.query(query_embeddings=vecs, n_results=1, include=["distances"])
        return [
            (got["ids"][q][0], 1.0 - float(got["distances"][q][0])) if got["ids"][q] else None
            for q in range(len(vecs))
        ]

    def query(self, vecs: Vectors, n: int) -> tuple[list[list[str]], list[list[float]]]:
        """The ``n`` nearest active records of each vector: (ids, cosine distances)."""
        if self.vectors is not None:
            return self.vectors.query(vecs, n)
        got = self.active.query(query_embeddings=vecs, n_results=n, include=["distances"])
        return got["ids"], got["distances"]

    @staticmethod
    def put(col: Any, items: Sequence[Item], *, upsert: bool = False) -> None:
        """Write records with their vectors to a collection, in batches."""
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            write = col.upsert if upsert else col.add
            write(
                ids=[r.id for r, _ in chunk],
                documents=[r.text for r, _ in chunk],
                metadatas=[r.metadata() for r, _ in chunk],
                embeddings=[v for _, v in chunk],
            )

    @staticmethod
    def move(items: Sequence[Item], to: Any, frm: Any) -> None:
        """Move records between collections: add first, then delete, so a crash in between
        leaves a copy, never a loss."""
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            Collections.put(to, chunk, upsert=True)
            frm.delete(ids=[r.id for r, _ in chunk])
