"""Long-term memory speed: adds, hybrid retrieval at 10k and 100k records, embedding throughput.

Workload. Texts are synthetic sentences drawn from a Zipf-distributed vocabulary (so BM25 sees
realistic posting lengths); their vectors are real MiniLM vectors of 2,000 embedded sentences,
each reused with small Gaussian noise and re-normalised (embedding 100k texts would take 10+
minutes here and measures the embedder, which has its own row). Records are added through
`LongTermMemory.add` in batches of 1,000 (near-duplicate check, link log, lexical index
included). Queries are 200 held-out sentences.

Peer: plain chromadb `collection.query` (top-k, distances only) on the same collection, the
floor any chromadb-based memory pays. GWA's retrieval adds the lexical index, fusion, the
link-graph hop and the record fetch for re-ranking.

Reported: add throughput (records/s, vectors given; and with embedding, 500 records);
retrieval p50/p95 (ms) at each size, query embedding excluded and included; the learned
admission's decision on one candidate (novelty lookup, features, policy; its embedding
excluded); embedding throughput (texts/s) for short and turn-length texts. Targets: retrieval
p95 < 15 ms at 100k, excluded; admission decision p95 ≤ 1 ms.

Run: python bench/memory.py [--sizes 10000,100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import table, write

from gwa.memory.admission import LearnedAdmission, candidate_features
from gwa.memory.embeddings import MiniLMEmbedder
from gwa.memory.store import LongTermMemory, NewMemory
from gwa.memory.working import AdmissionCandidate, make_entry

K = 10


def vocabulary(n: int = 20000) -> list[str]:
    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(n)]


def sentences(count: int, seed: int, vocab: list[str]) -> list[str]:
    rng = np.random.default_rng(seed)
    ranks = np.minimum(rng.zipf(1.3, size=(count, 14)), len(vocab)) - 1
    return [" ".join(vocab[r] for r in row) for row in ranks]


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    emb = MiniLMEmbedder.shared()
    vocab = vocabulary()

    # Embedding throughput.
    short = [f"idea {i}: host a manga club on friday" for i in range(256)]
    turn = [
        "Melanie: That sounds great! I took the kids camping last weekend and we painted "
        f"the sunrise by the lake together, it was lovely ({i})."
        for i in range(128)
    ]
    emb.embed(short[:8])
    rows: list[list[Any]] = []
    result: dict[str, Any] = {"k": K, "embedding": {}, "sizes": {}}
    for name, texts in (("short (~12 tokens)", short), ("turn (~40 tokens)", turn)):
        t0 = time.perf_counter()
        emb.embed(texts)
        rate = len(texts) / (time.perf_counter() - t0)
        result["embedding"][name] = round(rate, 1)
    base_texts = sentences(2000, 7, vocab)
    base = emb.embed(base_texts)
    rng = np.random.default_rng(3)

    with tempfile.TemporaryDirectory() as tmp:
        store = LongTermMemory(Path(tmp) / "m")
        # Add throughput with embedding (small).
        few = sentences(500, 11, vocab)
        t0 = time.perf_counter()
        for i in range(0, 500, 100):
            store.add([NewMemory(t, kind="bench") for t in few[i : i + 100]])
        add_embed = 500 / (time.perf_counter() - t0)
        result["add_with_embedding_per_s"] = round(add_embed, 1)
        n = store.count()
        added_s = 0.0
        queries = sentences(args.queries, 99, vocab)
        qvecs = emb.embed(queries)
        for size in sizes:
            while n < size:
                batch = min(1000, size - n)
                texts = sentences(batch, 1000 + n, vocab)
                pick = rng.integers(0, len(base), size=batch)
                vecs = base[pick] + rng.normal(0, 0.08, size=(batch, emb.dim)).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                t0 = time.perf_counter()
                store.add([NewMemory(t, kind="bench") for t in texts], vectors=vecs)
                added_s += time.perf_counter() - t0
                n = store.count()
            print(f"{n:,} records stored", flush=True)
            excl, incl, raw = [], [], []
            for i, q in enumerate(queries):
                t0 = time.perf_counter()
                store.search([q], K, query_vectors=qvecs[i : i + 1])
                excl.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                store.search([q], K)
                incl.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                store.collections.active.query(
                    query_embeddings=[list(map(float, qvecs[i]))],
                    n_results=K,
                    include=["distances"],
                )
                raw.append(time.perf_counter() - t0)
            p = {
                "gwa_excluding_embedding": percentiles(excl),
                "gwa_including_embedding": percentiles(incl),
                "chromadb_query_only": percentiles(raw),
                **admission_times(store, queries, qvecs),
            }
            result["sizes"][str(n)] = {
                key: {"p50_ms": round(a, 2), "p95_ms": round(b, 2)} for key, (a, b) in p.items()
            }
            for key, (a, b) in p.items():
                rows.append([f"{n:,}", key, a, b])
        result["add_vectors_given_per_s"] = round((n - 500) / max(added_s, 1e-9), 1)
        store.close()

    print(table(["records", "retrieval (top-10) or admission", "p50 ms", "p95 ms"], rows))
    print()
    print(
        table(
            ["measure", "rate /s"],
            [
                ["add, vectors given (batches of 1,000)", result["add_vectors_given_per_s"]],
                ["add, with embedding (batches of 100)", result["add_with_embedding_per_s"]],
                *[[f"embed {k}", v] for k, v in result["embedding"].items()],
            ],
        )
    )
    print(f"\nwrote {write('memory', result)}")


if __name__ == "__main__":
    main()
