"""Long-term memory speed: adds, opening a store, hybrid retrieval at 10k, 100k and 1M records,
embedding throughput.

Workload. Texts are synthetic sentences drawn from a Zipf-distributed vocabulary (so BM25 sees
realistic posting lengths), their 5th and 10th words capitalised (names, as common as their
words: the name hop of retrieval walks the rare ones and looks the common ones up); their
vectors are real MiniLM vectors of 2,000 embedded sentences, each reused with Gaussian noise
and re-normalised (embedding 100k texts would take 10+ minutes here and measures the embedder,
which has its own row). The noise, σ 0.08 in each of 384 dimensions, outweighs the vector it is
added to: these are nearly random points, the hardest case for a vector index
(`bench/vector_index.py` compares with MiniLM vectors of distinct sentences). Up to
--bulk-from records (100,000) are added through `LongTermMemory.add` in batches of 1,000
(near-duplicate check, link log, lexical index included); beyond that they are bulk-loaded:
written straight to the active collection and to the store's vector index (on every core, as
a rebuild does; `add` inserts on one thread, so that the same adds build the same graph) in
batches of 5,000 and indexed (lexical index, record cache) as the end of `add` does, without
its per-item duplicate, contradiction and link decisions (through `add`, a million records
would take about 50 minutes here). Queries are 200 held-out sentences.

Opening. At each size the store is closed (which saves its open index: record cache, BM25 and
the store's own vector index) and opened again: "open" is `LongTermMemory(path)` from the open
index, "first query" the first search after it (neither touches chromadb since the store keeps
its own vector index; before that, chromadb loaded its HNSW index at the first query), and
"first write" the first `add` after it (one record, vector given: it pays what the open no
longer does, chromadb's first touch of the collections for the open index's record-count
check and the copy of the vector graph, which the open maps rather than reads, into memory),
"open, rebuilding" an open with the index file deleted, which reads every record and vector
from chromadb and rebuilds BM25 and the vector index (measured up to --rebuild-max records: at
a million it takes many minutes).

Peer: plain chromadb `collection.query` (top-k, distances only) on the same collection, the
floor any chromadb-based memory paid before the store kept its own vector index (its first call
loads chromadb's index and is one of its 200 samples). GWA's retrieval adds the lexical index,
fusion, the name hop (also measured off), the link-graph hop and the record fetch for
re-ranking.

Reported: add throughput (records/s, vectors given; and with embedding, 500 records);
retrieval p50/p95 (ms) at each size, query embedding excluded and included; the learned
admission's decision on one candidate (novelty lookup, features, policy; its embedding
excluded); open times (s); embedding throughput (texts/s) for short and turn-length texts.
Targets (issue 18): retrieval p95 ≤ 10 ms at 100k and ≤ 25 ms at 1M, excluded; a 1M store
open in under 5 s; admission decision p95 ≤ 1 ms.

Run: python bench/memory.py [--sizes 10000,100000,1000000] [--queries 200] [--store DIR]
(--store keeps the store in DIR and grows it from what is there on the next run)
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from _common import table, write

from gwa.memory import snapshot
from gwa.memory.admission import LearnedAdmission, candidate_features
from gwa.memory.embeddings import MiniLMEmbedder
from gwa.memory.records import MemoryRecord
from gwa.memory.store import LongTermMemory, NewMemory
from gwa.memory.working import AdmissionCandidate, make_entry

K = 10
BULK_BATCH = 5000


def vocabulary(n: int = 20000) -> list[str]:
    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(n)]


def sentences(count: int, seed: int, vocab: list[str]) -> list[str]:
    rng = np.random.default_rng(seed)
    ranks = np.minimum(rng.zipf(1.3, size=(count, 14)), len(vocab)) - 1
    words = [[vocab[r] for r in row] for row in ranks]
    for row in words:
        row[4], row[9] = row[4].capitalize(), row[9].capitalize()
    return [" ".join(row) for row in words]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = sorted(1000 * s for s in samples)
    return statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]


def admission_times(
    store: LongTermMemory, texts: list[str], vecs: Any
) -> dict[str, tuple[float, float]]:
    """p50/p95 ms of the learned admission's decision on one candidate against the store:
    whole (nearest stored memory for novelty, then features, lexicon, trust and policy; the
    candidate's embedding excluded, as for retrieval) and the policy's part alone (features,
    lexicon, logistic verdict, given the novelty)."""
    policy = LearnedAdmission()
    whole, alone = [], []
    for i, text in enumerate(texts):
        c = AdmissionCandidate(make_entry(f"w{i}", i, "g1", "thought", text), "bench", "evicted")
        t0 = time.perf_counter()
        policy.decide([c], store, vecs[i : i + 1])
        whole.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        f = candidate_features(c, novelty=0.5, trust=0.5, lexicon=policy.lexicon)
        policy.policy.verdict(f, text, "g1", guarded=False)
        alone.append(time.perf_counter() - t0)
    return {"admission_decision": percentiles(whole), "admission_policy_only": percentiles(alone)}


class Corpus:
    """The synthetic records: texts from the vocabulary, vectors near 2,000 real ones."""

    def __init__(self, emb: MiniLMEmbedder) -> None:
        self.dim = emb.dim
        self.vocab = vocabulary()
        self.base = emb.embed(sentences(2000, 7, self.vocab))
        self.rng = np.random.default_rng(3)

    def batch(self, count: int, at: int) -> tuple[list[str], Any]:
        texts = sentences(count, 1000 + at, self.vocab)
        pick = self.rng.integers(0, len(self.base), size=count)
        vecs = self.base[pick] + self.rng.normal(0, 0.08, size=(count, self.dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        return texts, vecs


def bulk_add(store: LongTermMemory, texts: list[str], vecs: Any, at: int) -> None:
    """Records written straight to the active collection and indexed (see the docstring)."""
    recs = [
        MemoryRecord(
            f"b-{at + i:07d}",
            t,
            "bulk",
            "",
            "",
            -1,
            "bench",
            1.7e9,
            (),
            0.5,
            1.0,
            0,
            1.7e9,
            "active",
            None,
            len(t.split()),
        )
        for i, t in enumerate(texts)
    ]
    store.will_write()
    store.collections.active.add(
        ids=[r.id for r in recs],
        documents=[r.text for r in recs],
        metadatas=[r.metadata() for r in recs],
        embeddings=vecs,
    )
    assert store.collections.vectors is not None
    store.collections.vectors.add([r.id for r in recs], vecs, parallel=True)  # every core
    for rec in recs:
        store.index(rec)


def grow(store: LongTermMemory, size: int, corpus: Corpus, bulk_from: int) -> float:
    """Add records until the store holds ``size``; returns the seconds spent in `add`."""
    added_s, n = 0.0, store.count()
    while n < size:
        bulk = n >= bulk_from
        count = min(BULK_BATCH if bulk else 1000, size - n)
        texts, vecs = corpus.batch(count, n)
        t0 = time.perf_counter()
        if bulk:
            bulk_add(store, texts, vecs, n)
        else:
            store.add([NewMemory(t, kind="bench") for t in texts], vectors=vecs)
            added_s += time.perf_counter() - t0
        before, n = n, store.count()
        if n // 50000 > before // 50000:  # crossed a multiple of 50,000
            print(f"  {n:,} records", flush=True)
    return added_s


NEW_PROCESS_OPEN = """
import sys, time
import chromadb  # imported by the first open otherwise (about 1 s; not the store's cost)
from gwa.memory.embeddings import MiniLMEmbedder
from gwa.memory.store import LongTermMemory
emb = MiniLMEmbedder.shared()
emb.embed(["warm the embedder up"])
t0 = time.perf_counter()
store = LongTermMemory(sys.argv[1], embedder=emb)
store.search(["first query"], 10)
print(time.perf_counter() - t0)
"""


def close(store: LongTermMemory) -> dict[str, float | None]:
    """Close the store (it saves its open index); its time and the index file's size."""
    t0 = time.perf_counter()
    store.close()
    out: dict[str, float | None] = {"close_s": time.perf_counter() - t0}
    where = snapshot.path_of(store)
    assert where is not None
    graphs = where.parent.glob("vectors-*.usearch")  # the vector index's graph beside it
    out["index_mb"] = (where.stat().st_size + sum(g.stat().st_size for g in graphs)) / 2**20
    return out


def reopen(
    path: Path, emb: MiniLMEmbedder, rebuild: bool, qvec: Any
) -> tuple[LongTermMemory, dict[str, float | None]]:
    """Open a closed store again, timing: the open in a new process (imports excluded, first
    query included), the open here from the open index and the first query after it, and,
    with ``rebuild``, an open without the index; returns the store opened here."""
    out: dict[str, float | None] = {"rebuild_open_s": None}
    child = [sys.executable, "-c", NEW_PROCESS_OPEN, str(path)]
    out["new_process_s"] = float(subprocess.run(child, capture_output=True, check=True).stdout)
    if rebuild:
        where = path / "index-gwa_memory.npz"  # the default collection's
        where.unlink()
        t0 = time.perf_counter()
        rebuilt = LongTermMemory(path, embedder=emb)
        out["rebuild_open_s"] = time.perf_counter() - t0
        rebuilt.close()  # saves the index again
        del rebuilt
    t0 = time.perf_counter()
    store = LongTermMemory(path, embedder=emb)
    out["open_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.search(["first query"], K, query_vectors=qvec)
    out["first_query_s"] = time.perf_counter() - t0
    return store, out


def first_write(store: LongTermMemory, corpus: Corpus) -> float:
    """Seconds of the first write after an open: one new record, its vector given (it must be
    added, not taken for a near-duplicate, or the graph would not change)."""
    n = store.count()
    text = sentences(1, 424242 + n, corpus.vocab)[0]
    t0 = time.perf_counter()
    done = store.add([NewMemory(text, kind="bench")], vectors=corpus.base[[n % len(corpus.base)]])
    took = time.perf_counter() - t0
    assert done[0].action == "added", "the first write reinforced a record instead of adding one"
    return took


def retrieval_times(store: LongTermMemory, queries: list[str], qvecs: Any) -> dict[str, Any]:
    excl: list[float] = []
    incl: list[float] = []
    raw: list[float] = []
    no_names: list[float] = []
    shipped, off = store.config, replace(store.config, entity_weight=0.0)
    for i, q in enumerate(queries):
        # A query's first run computes the weights of its common terms, which the second
        # reuses: the name hop goes first on even queries and second on odd ones.
        for cfg in (shipped, off) if i % 2 == 0 else (off, shipped):
            store.config = cfg
            t0 = time.perf_counter()
            store.search([q], K, query_vectors=qvecs[i : i + 1])
            (excl if cfg is shipped else no_names).append(time.perf_counter() - t0)
        store.config = shipped
        t0 = time.perf_counter()
        store.search([q], K)
        incl.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.collections.active.query(
            query_embeddings=[list(map(float, qvecs[i]))], n_results=K, include=["distances"]
        )
        raw.append(time.perf_counter() - t0)
    return {
        "gwa_excluding_embedding": percentiles(excl),
        "gwa_excluding_embedding_name_hop_off": percentiles(no_names),
        "gwa_including_embedding": percentiles(incl),
        "chromadb_query_only": percentiles(raw),
        **admission_times(store, queries, qvecs),
    }


def embedding_rates(emb: MiniLMEmbedder) -> dict[str, float]:
    short = [f"idea {i}: host a manga club on friday" for i in range(256)]
    turn = [
        "Melanie: That sounds great! I took the kids camping last weekend and we painted "
        f"the sunrise by the lake together, it was lovely ({i})."
        for i in range(128)
    ]
    emb.embed(short[:8])
    out = {}
    for name, texts in (("short (~12 tokens)", short), ("turn (~40 tokens)", turn)):
        t0 = time.perf_counter()
        emb.embed(texts)
        out[name] = round(len(texts) / (time.perf_counter() - t0), 1)
    return out


def measure(args: argparse.Namespace, root: Path, emb: MiniLMEmbedder) -> dict[str, Any]:
    corpus = Corpus(emb)
    result: dict[str, Any] = {"k": K, "embedding": embedding_rates(emb), "sizes": {}}
    store = LongTermMemory(root / "m", embedder=emb)
    if store.count() == 0:  # add throughput with embedding (small)
        few = sentences(500, 11, corpus.vocab)
        t0 = time.perf_counter()
        for i in range(0, 500, 100):
            store.add([NewMemory(t, kind="bench") for t in few[i : i + 100]])
        result["add_with_embedding_per_s"] = round(500 / (time.perf_counter() - t0), 1)
    queries = sentences(args.queries, 99, corpus.vocab)
    qvecs = emb.embed(queries)
    start, added_s = store.count(), 0.0
    for size in sorted(int(s) for s in args.sizes.split(",")):
        added_s += grow(store, size, corpus, args.bulk_from)
        n = store.count()
        print(f"{n:,} records stored", flush=True)
        closed = close(store)
        del store  # its records go before the open is timed
        store, opened = reopen(root / "m", emb, n <= args.rebuild_max, qvecs[:1])
        opened.update(closed)
        p = retrieval_times(store, queries, qvecs)
        opened["first_write_s"] = first_write(store, corpus)
        result["sizes"][str(n)] = {
            **{k: {"p50_ms": round(a, 2), "p95_ms": round(b, 2)} for k, (a, b) in p.items()},
            "open": {k: None if v is None else round(v, 3) for k, v in opened.items()},
        }
    through_add = min(store.count(), args.bulk_from) - start
    if through_add > 0 and added_s > 0:
        result["add_vectors_given_per_s"] = round(through_add / added_s, 1)
    store.close()
    return result


def report(result: dict[str, Any]) -> None:
    rows: list[list[Any]] = []
    opens: list[list[Any]] = []
    for n, got in result["sizes"].items():
        for key, v in got.items():
            if key != "open":
                rows.append([f"{int(n):,}", key, v["p50_ms"], v["p95_ms"]])
        o = got["open"]
        rebuild = "-" if o["rebuild_open_s"] is None else f"{o['rebuild_open_s']:.2f}"
        opens.append(
            [
                f"{int(n):,}",
                f"{o['new_process_s']:.2f}",
                f"{o['open_s']:.2f}",
                f"{1000 * o['first_query_s']:.0f}",
                f"{o['first_write_s']:.2f}",
                rebuild,
                f"{o['close_s']:.2f}",
                f"{o['index_mb']:.0f}",
            ]
        )
    print(table(["records", "retrieval (top-10) or admission", "p50 ms", "p95 ms"], rows))
    print()
    heads = [
        "records",
        "new process: open + 1st query s",
        "open s",
        "first query ms",
        "first write s",
        "open, rebuilding s",
        "close s",
        "index MB",
    ]
    print(table(heads, opens))
    print()
    rates = [[f"embed {k}", v] for k, v in result["embedding"].items()]
    for key, name in (
        ("add_vectors_given_per_s", "add, vectors given (batches of 1,000)"),
        ("add_with_embedding_per_s", "add, with embedding (batches of 100)"),
    ):
        if key in result:
            rates.insert(0, [name, result[key]])
    print(table(["measure", "rate /s"], rates))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--bulk-from", type=int, default=100000)
    ap.add_argument("--rebuild-max", type=int, default=100000)
    ap.add_argument("--store", type=Path, help="keep the store here (reused by the next run)")
    args = ap.parse_args()
    emb = MiniLMEmbedder.shared()
    if args.store is not None:
        args.store.mkdir(parents=True, exist_ok=True)
        result = measure(args, args.store, emb)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = measure(args, Path(tmp), emb)
    report(result)
    print(f"\nwrote {write('memory', result)}")


if __name__ == "__main__":
    main()
