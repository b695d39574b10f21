"""Supporting-passage recall on multi-hop QA (HotpotQA / MuSiQue subsets in HippoRAG's format).

``NAME.json`` holds the questions and ``NAME_corpus.json`` beside it the pooled passages. Every
passage becomes a memory of one fresh store; each question is a query; recall@k is the share of
its supporting passages among the top k. BM25 (rank-bm25) over the same passages runs beside it.
"""

from __future__ import annotations

import ast
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gwa.errors import ConfigError
from gwa.eval.recall import bm25_tokens, summarise


def _field(value: Any) -> Any:
    """Some fields are stored as Python-literal strings; parse those."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


def load_multihop(
    path: Path,
) -> tuple[list[tuple[str, str]], list[tuple[str, tuple[int, ...], str]]]:
    """(passages as (title, text), questions as (text, supporting passage numbers, type))."""
    corpus_path = path.with_name(f"{path.stem}_corpus.json")
    if not corpus_path.is_file():
        raise ConfigError(f"{path}: multi-hop questions need their passages in {corpus_path}")
    try:
        questions = json.loads(path.read_text(encoding="utf-8"))
        corpus = json.loads(corpus_path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ConfigError(f"{path} or {corpus_path}: not JSON ({e})") from e
    if isinstance(corpus, dict):  # HotpotQA: title → sentences
        passages = [(str(t), " ".join(map(str, s)).strip()) for t, s in corpus.items()]
    else:  # MuSiQue: [{title, text}]
        passages = [(str(p["title"]), str(p["text"]).strip()) for p in corpus]
    by_title: dict[str, list[int]] = {}
    by_text: dict[str, int] = {}
    for i, (title, text) in enumerate(passages):
        by_title.setdefault(title, []).append(i)
        by_text[text] = i
    out: list[tuple[str, tuple[int, ...], str]] = []
    for n, q in enumerate(questions):
        if "supporting_facts" not in q and "paragraphs" not in q:
            raise ConfigError(f"{path}: question {n} has neither supporting_facts nor paragraphs")
        gold = _supporting(q, by_title, by_text)
        kind = str(q.get("type") or str(q.get("id", "musique")).split("__")[0])
        if gold:
            out.append((str(q["question"]), tuple(dict.fromkeys(gold)), kind))
    return passages, out


def _supporting(
    q: dict[str, Any], by_title: dict[str, list[int]], by_text: dict[str, int]
) -> list[int]:
    """Passage numbers of a question's supporting passages."""
    gold: list[int] = []
    if "supporting_facts" in q:  # HotpotQA: (title, sentence) pairs
        for title, _ in _field(q["supporting_facts"]):
            gold += by_title.get(str(title), [])
        return gold
    for p in _field(q["paragraphs"]):  # MuSiQue: paragraphs flagged is_supporting
        if p.get("is_supporting"):
            text = str(p.get("paragraph_text", "")).strip()
            gold += (
                [by_text[text]] if text in by_text else by_title.get(str(p.get("title")), [])[:1]
            )
    return gold


def evaluate_multihop(
    path: Path, ks: Sequence[int], *, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Supporting-passage recall@k for the store and for BM25."""
    from rank_bm25 import BM25Okapi

    from gwa.memory.store import LongTermMemory, NewMemory

    say = progress or (lambda s: None)
    started = time.perf_counter()
    passages, questions = load_multihop(path)
    texts = [f"{title}: {text}" for title, text in passages]
    ours: list[tuple[Any, dict[int, float]]] = []
    base: list[tuple[Any, dict[int, float]]] = []
    with tempfile.TemporaryDirectory(prefix="gwa-eval-") as tmp:
        store = LongTermMemory(Path(tmp) / "store", collection="multihop")
        owner: dict[str, set[int]] = {}
        for start in range(0, len(texts), 256):
            chunk = texts[start : start + 256]
            items = [NewMemory(t, kind="passage", id=f"p{start + i}") for i, t in enumerate(chunk)]
            for i, res in enumerate(store.add(items)):
                owner.setdefault(res.id, set()).add(start + i)
            say(f"{min(start + 256, len(texts))}/{len(texts)} passages stored")
        bm25 = BM25Okapi([bm25_tokens(t) for t in texts])
        qvecs = store.embedder.embed([q for q, _, _ in questions])
        top = max(ks)
        for i, (q, gold, kind) in enumerate(questions):
            hits = store.search([q], top, query_vectors=qvecs[i : i + 1])
            found = [owner[h.record.id] for h in hits]
            ours.append((kind, {k: _recall(found[:k], gold) for k in ks}))
            order = np.argsort(-bm25.get_scores(bm25_tokens(q)), kind="stable")[:top]
            found_b = [{int(j)} for j in order]
            base.append((kind, {k: _recall(found_b[:k], gold) for k in ks}))
        store.close()
    report = summarise(ours, ks)
    return {
        "dataset": str(path),
        "n_conversations": 0,
        "n_passages": len(passages),
        "n_questions": len(questions),
        "malformed_evidence_skipped": 0,
        "ks": list(ks),
        "overall": report["overall"],
        "by_category": report["by_category"],
        "baseline_bm25": summarise(base, ks),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _recall(found: Sequence[set[int]], gold: Sequence[int]) -> float:
    got: set[int] = set().union(*found) if found else set()
    return sum(g in got for g in gold) / len(gold)
