"""Recall@k bookkeeping shared by the evaluations (LoCoMo evidence, multi-hop passages)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from gwa.memory.stopwords import STOPWORDS

_WORD = re.compile(r"\w+")


def bm25_tokens(text: str) -> list[str]:
    """Lower-case words without stop words: the BM25 baseline's tokens."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def recalls(ranked: Sequence[set[str]], gold: Sequence[str], ks: Sequence[int]) -> dict[int, float]:
    """Recall at each k: the share of ``gold`` ids found among the top-k ranked id sets."""
    out: dict[int, float] = {}
    for k in ks:
        found: set[str] = set().union(*ranked[:k]) if ranked[:k] else set()
        out[k] = sum(g in found for g in gold) / len(gold)
    return out


def summarise(rows: Sequence[tuple[Any, dict[int, float]]], ks: Sequence[int]) -> dict[str, Any]:
    """Mean recall@k (in %) overall and by category of (category, recalls) rows."""

    def block(sel: list[dict[int, float]]) -> dict[str, float]:
        return {f"recall@{k}": round(100 * float(np.mean([r[k] for r in sel])), 2) for k in ks}

    cats = sorted({c for c, _ in rows})
    return {
        "overall": block([r for _, r in rows]) if rows else {},
        "by_category": {
            str(c): {**block([r for cc, r in rows if cc == c]), "n": sum(cc == c for cc, _ in rows)}
            for c in cats
        },
    }
