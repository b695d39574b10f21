"""The store's own vector index beside chromadb's, on the same vectors: build time, query
latency and recall against an exact search.

Since 2 December 2026 a store answers its dense reads (a search's top-P, the nearest record of
a write or an admission decision) from `gwa.memory.vectors.VectorIndex` (usearch HNSW, cosine,
half-precision storage, M 16, ef_add 128, ef 100) instead of chromadb's collection query
(cosine, chromadb's defaults: M 16, ef_construction 100, ef 100). This script builds both on
the same N vectors and asks both the same held-out queries.

Two sets of vectors. `bench/memory.py`'s: MiniLM vectors of 2,000 synthetic sentences, each
reused with Gaussian noise and re-normalised; the noise (σ 0.08 in each of 384 dimensions, a
norm of about 1.6) outweighs the vector it is added to, so these are close to random points,
the hardest case for an HNSW graph. And --embedded MiniLM vectors of as many distinct synthetic
sentences, which have the geometry of embedded text. Exact neighbours come from a brute-force
dot product. Both are fed in batches of 5,000 (chromadb through an in-memory client, so disk is not
measured). Reported per k (1: a write's or an admission's nearest record; 50: the dense pool
of a top-10 search): p50 / p95 query ms (one query at a time, one thread), recall@k, and how
far the nearest found is from the exact nearest in cosine similarity (what a novelty or a
near-duplicate check reads: records this close together are nearly interchangeable there).

Run: python bench/vector_index.py [--size 100000] [--embedded 50000] [--queries 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
from _common import table, write
from memory import Corpus, sentences

from gwa.memory.embeddings import MiniLMEmbedder
from gwa.memory.vectors import EXPANSION_SEARCH, VectorIndex

BATCH = 5000


def chroma_collection() -> Any:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))
    name = f"bench-{len(client.list_collections())}"  # one in-memory client per process
    return client.create_collection(name, configuration={"hnsw": {"space": "cosine"}})


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = sorted(1000 * s for s in samples)
    return round(statistics.median(ms), 3), round(ms[int(0.95 * (len(ms) - 1))], 3)


def build(vecs: Any) -> tuple[dict[str, Any], dict[str, float]]:
    """Both indexes over ``vecs``, and the seconds each took to build."""
    ids = [f"r{i}" for i in range(len(vecs))]
    col, own = chroma_collection(), VectorIndex(vecs.shape[1])
    took = {}
    t0 = time.perf_counter()
    for s in range(0, len(vecs), BATCH):
        col.add(ids=ids[s : s + BATCH], embeddings=vecs[s : s + BATCH])
    took["chromadb"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in range(0, len(vecs), BATCH):
        own.add(ids[s : s + BATCH], vecs[s : s + BATCH])
    took["gwa"] = time.perf_counter() - t0
    return {"chromadb": col, "gwa": own}, took


def ask(index: Any, name: str, q: Any, k: int) -> tuple[list[str], list[float]]:
    """The ``k`` nearest ids and their cosine distances."""
    if name.startswith("gwa"):
        ids, dists = index.query(q[None, :], k)
        return list(ids[0]), list(dists[0])
    got = index.query(query_embeddings=[q], n_results=k, include=["distances"])
    return list(got["ids"][0]), [float(d) for d in got["distances"][0]]


def datasets(args: argparse.Namespace) -> dict[str, tuple[Any, Any]]:
    """(records, queries) per kind of vector: bench/memory.py's (noise-dominated, so nearly
    random in 384 dimensions: the hard case for any HNSW graph) and MiniLM vectors of distinct
    sentences (the geometry of embedded text)."""
    emb = MiniLMEmbedder.shared()
    corpus = Corpus(emb)
    _, vecs = corpus.batch(args.size, 0)
    _, queries = corpus.batch(args.queries, 10**8)
    out = {"bench/memory.py's vectors": (vecs, queries)}
    if args.embedded > 0:
        t0 = time.perf_counter()
        texts = sentences(args.embedded + args.queries, 5, corpus.vocab)
        embedded = emb.embed(texts)
        print(f"embedded {len(texts):,} sentences in {time.perf_counter() - t0:.0f} s")
        out["MiniLM vectors of sentences"] = (embedded[: args.embedded], embedded[args.embedded :])
    return out


def measure_one(vecs: Any, queries: Any, efs: list[int]) -> dict[str, Any]:
    indexes, took = build(np.asarray(vecs, dtype=np.float32))
    sims = queries @ vecs.T
    exact = np.argsort(-sims, axis=1)
    out: dict[str, Any] = {"size": len(vecs), "build_s": took, "k": {}}
    for k in (1, 50):
        truth = [{f"r{j}" for j in exact[i, :k]} for i in range(len(queries))]
        row: dict[str, Any] = {}
        for name in ["chromadb", *(f"gwa, ef {e}" for e in efs)]:
            index = indexes[name.split(",")[0]]
            if name != "chromadb":
                index._index.expansion_search = int(name.split()[-1])
            ask(index, name, queries[0], k)  # first call: warm-up, not counted
            times, recall, gap = [], [], []
            for i, q in enumerate(queries):
                t0 = time.perf_counter()
                got, dists = ask(index, name, q, k)
                times.append(time.perf_counter() - t0)
                recall.append(len(truth[i] & set(got)) / k)
                gap.append(float(sims[i, exact[i, 0]]) - (1.0 - dists[0]))
            p50, p95 = percentiles(times)
            row[name] = {
                "p50_ms": p50,
                "p95_ms": p95,
                "recall": round(float(np.mean(recall)), 4),
                "nearest_similarity_gap_mean": round(float(np.mean(gap)), 5),
                "nearest_similarity_gap_max": round(float(np.max(gap)), 5),
            }
        out["k"][str(k)] = row
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"queries": args.queries, "datasets": {}}
    for name, (vecs, queries) in datasets(args).items():
        print(f"{name}: {len(vecs):,} vectors", flush=True)
        efs = sorted({EXPANSION_SEARCH, *(int(e) for e in args.ef.split(",") if e)})
        result["datasets"][name] = measure_one(vecs, queries, efs)
    return result


def report(result: dict[str, Any]) -> None:
    rows = [
        [
            data,
            f"{got['size']:,}",
            name,
            f"{got['build_s'][name.split(',')[0]]:.1f}",
            k,
            f"{row[name]['p50_ms']:.2f}",
            f"{row[name]['p95_ms']:.2f}",
            f"{row[name]['recall']:.3f}",
            f"{row[name]['nearest_similarity_gap_mean']:.4f}",
            f"{row[name]['nearest_similarity_gap_max']:.4f}",
        ]
        for data, got in result["datasets"].items()
        for k, row in got["k"].items()
        for name in row
    ]
    heads = ["vectors", "n", "index", "build s", "k", "p50 ms", "p95 ms", "recall@k"]
    print(f"{result['queries']} queries each")
    print(table([*heads, "gap mean", "gap max"], rows))
    print("gap: the exact nearest's cosine similarity minus the nearest found's")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=100000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ef", default="100", help="search breadths to try beside the shipped one")
    ap.add_argument("--embedded", type=int, default=50000, help="MiniLM-embedded sentences")
    result = measure(ap.parse_args())
    report(result)
    print(f"\nwrote {write('vector_index', result)}")


if __name__ == "__main__":
    main()
