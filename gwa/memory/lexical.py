"""An incremental BM25 index: the lexical half of long-term retrieval.

Dense MiniLM vectors miss rare names, dates and exact phrases that a question repeats; BM25 catches
them. The index is an inverted list per term (document numbers and term frequencies in growable
``array`` buffers, viewed as numpy without copying), so adding a document is O(its length) and a
query touches only the postings of its terms. Between adds, a long posting keeps its BM25 weights
(the commonest terms spread over every document, added in one pass), so the queries of a store
that is read more than written skip recomputing them; the scores are the same to the bit. It is
saved with a store's open index (`state`, `from_state`) and rebuilt from the stored documents
when that index is missing or stale.

Beside the terms it keeps the **names** each document mentions (`gwa.memory.names`), so
retrieval can follow the entities a first round's best matches mention to the other memories
that mention them (see `gwa.memory.retrieval.bridge`).
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from gwa.memory.names import Mentions, names
from gwa.memory.stopwords import STOPWORDS

_WORD = re.compile(r"\w+")


def stem(word: str) -> str:
    """A light suffix stripper: enough to match 'painted' with 'painting' and 'paints'."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed words of ``text`` without stop words."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


Postings = dict[str, tuple["array[int]", "array[float]"]]
Ints = npt.NDArray[np.int32]
Floats = npt.NDArray[np.float32]


LONG_POSTING = 1024
"""Postings at least this long keep their weights between adds (see `BM25Index._weigh`)."""
SPREAD_TERMS = 16
"""At most this many terms keep their weights spread over every document (4 bytes each)."""


class BM25Index:
    """Okapi BM25 over documents numbered 0, 1, 2, … in the order they were added."""

    def __init__(self, *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._postings: Postings = {}
        self._names = Mentions()
        self._lengths = array("f")
        self._total = 0
        self._weights: dict[tuple[str, int], npt.NDArray[np.float32]] = {}
        """A long posting's BM25 weights for the documents as they are, by (term, times the
        query repeats it) (dropped at the next add): a query with a common term reuses them
        instead of recomputing."""

    def __len__(self) -> int:
        return len(self._lengths)

    def add(self, texts: Iterable[str]) -> None:
        """Index documents; they get the next numbers."""
        self._weights.clear()
        for text in texts:
            words = terms(text)
            doc = len(self._lengths)
            self._lengths.append(float(len(words)))
            self._total += len(words)
            for term, tf in Counter(words).items():
                docs, tfs = self._postings.setdefault(term, (array("i"), array("f")))
                docs.append(doc)
                tfs.append(float(tf))
            self._names.add(doc, names(text))

    def mentions(self, name: str) -> npt.NDArray[np.int32]:
        """The documents that mention ``name`` (a `names` entry), in order."""
        return self._names.get(name)

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """The BM25 score of every document for ``query`` (zeros where no term matches)."""
        n = len(self._lengths)
        out = np.zeros(n, dtype=np.float32)
        if n == 0:
            return out
        for term, qtf in Counter(terms(query)).items():
            posting = self._postings.get(term)
            if posting is None:
                continue
            weights = self._weights.get((term, qtf))
            if weights is None:
                weights = self._weigh(term, qtf, posting)
            if len(weights) == n:  # spread over every document: one plain add
                out += weights
            else:  # faster than out[docs] += weights (its documents are distinct)
                np.add.at(out, np.frombuffer(posting[0], dtype=np.int32), weights)
        return out

    def _weigh(
        self, term: str, qtf: int, posting: tuple[array[int], array[float]]
    ) -> npt.NDArray[np.float32]:
        """The BM25 weights of a term's postings; a long posting's are kept until the next
        add, spread over every document (zeros elsewhere) when it holds a quarter of them."""
        n = len(self._lengths)
        lengths = np.frombuffer(self._lengths, dtype=np.float32)
        base, slope = self.k1 * (1.0 - self.b), self.k1 * self.b / max(self._total / n, 1e-9)
        docs = np.frombuffer(posting[0], dtype=np.int32)
        tfs = np.frombuffer(posting[1], dtype=np.float32)
        df = len(docs)
        idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        denom = lengths[docs]
        denom *= slope
        denom += base
        denom += tfs
        weights = np.float32(qtf * idf * (self.k1 + 1.0)) * tfs / denom
        if df < LONG_POSTING:
            return weights
        spread = sum(1 for w in self._weights.values() if len(w) == n)
        if 4 * df >= n and spread < SPREAD_TERMS:
            dense = np.zeros(n, dtype=np.float32)
            dense[docs] = weights
            weights = dense
        self._weights[term, qtf] = weights
        return weights

    def state(self, live: npt.NDArray[np.bool_] | None = None) -> dict[str, npt.NDArray[Any]]:
        """The index as flat arrays (`from_state` reads them back), keeping only the ``live``
        documents (renumbered in order; all when None): terms as a JSON list in UTF-8 bytes,
        each term's postings between ``offsets[i]`` and ``offsets[i + 1]`` of ``docs`` and
        ``tfs``, the names likewise under ``names_…`` (without tfs), and the document
        lengths."""
        lengths = np.frombuffer(self._lengths, dtype=np.float32)
        remap = None
        if live is not None:  # a live document's new number; -1 for the others
            remap = np.where(live, np.cumsum(live, dtype=np.int64) - 1, -1)
        kept = lengths if live is None else lengths[live]
        return {
            **_pack(_arrays(self._postings), remap, "", with_tfs=True),
            **_pack(((n, d, None) for n, d in self._names.items()), remap, "names_"),
            "lengths": kept.astype(np.float32),
            "params": np.array([self.k1, self.b], dtype=np.float64),
        }

    @classmethod
    def from_state(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> BM25Index:
        """The index `state` saved (it scores every query as the saved one did)."""
        k1, b = (float(v) for v in arrays["params"])
        index = cls(k1=k1, b=b)
        lengths = np.ascontiguousarray(arrays["lengths"], dtype=np.float32)
        index._postings = _unpack(arrays, len(lengths))
        docs = np.ascontiguousarray(arrays["names_docs"], dtype=np.int32)
        found = json.loads(arrays["names_terms"].tobytes())
        _check(found, arrays["names_offsets"], docs, None, len(lengths), "names")
        index._names = Mentions(found, arrays["names_offsets"], docs)
        index._lengths.frombytes(lengths.tobytes())
        index._total = int(lengths.astype(np.int64).sum())
        return index

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (document number, score) pairs with a positive score, best first."""
        s = self.scores(query)
        idx = top_positions(s, k)
        idx = idx[np.argsort(-s[idx], kind="stable")]
        return [(int(i), float(s[i])) for i in idx if s[i] > 0.0]


def _arrays(postings: Postings) -> Iterator[tuple[str, Ints, Floats | None]]:
    for term, (docs, tfs) in postings.items():
        yield term, np.frombuffer(docs, dtype=np.int32), np.frombuffer(tfs, dtype=np.float32)


def _pack(
    postings: Iterable[tuple[str, Ints, Floats | None]],
    remap: npt.NDArray[np.int64] | None,
    prefix: str,
    *,
    with_tfs: bool = False,
) -> dict[str, Any]:
    """Postings (term, documents, term frequencies or None) as flat arrays under ``prefix``
    (see `BM25Index.state`); the frequencies as ``tfs`` when ``with_tfs``."""
    terms_: list[str] = []
    docs_parts: list[Ints] = []
    tfs_parts: list[Floats] = []
    for term, d, t in postings:
        if remap is not None:
            new = remap[d]
            keep = new >= 0
            d, t = new[keep].astype(np.int32), None if t is None else t[keep]
        if len(d):
            terms_.append(term)
            docs_parts.append(d)
            if t is not None:
                tfs_parts.append(t)
    sizes = np.fromiter((len(d) for d in docs_parts), dtype=np.int64, count=len(terms_))
    out = {
        f"{prefix}terms": np.frombuffer(json.dumps(terms_).encode(), dtype=np.uint8),
        f"{prefix}offsets": np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
        f"{prefix}docs": np.concatenate(docs_parts) if terms_ else np.zeros(0, np.int32),
    }
    if with_tfs:
        out["tfs"] = np.concatenate(tfs_parts) if terms_ else np.zeros(0, np.float32)
    return out


def _check(
    found: list[str], offsets: Any, docs: Ints, tfs: Floats | None, n: int, what: str
) -> None:
    """ValueError unless packed postings agree with themselves and ``n`` documents."""
    if (
        len(offsets) != len(found) + 1
        or int(offsets[-1]) != len(docs)
        or (tfs is not None and len(docs) != len(tfs))
        or (len(docs) and not 0 <= int(docs.min()) <= int(docs.max()) < n)
    ):
        raise ValueError(f"lexical index arrays of {what} do not agree")


def _unpack(arrays: Mapping[str, npt.NDArray[Any]], n: int) -> Postings:
    """The term postings `_pack` wrote, checked against ``n`` documents (ValueError if they
    disagree)."""
    found = json.loads(arrays["terms"].tobytes())
    offsets = arrays["offsets"]
    docs_v = np.ascontiguousarray(arrays["docs"], dtype=np.int32)
    tfs_v = np.ascontiguousarray(arrays["tfs"], dtype=np.float32)
    _check(found, offsets, docs_v, tfs_v, n, "terms")
    docs, tfs = docs_v.data.cast("B"), tfs_v.data.cast("B")  # views, not copies
    out: Postings = {}
    for i, term in enumerate(found):
        a, z = 4 * int(offsets[i]), 4 * int(offsets[i + 1])
        d, t = array("i"), array("f")
        d.frombytes(docs[a:z])
        t.frombytes(tfs[a:z])
        out[term] = (d, t)
    return out


SAMPLED_TOP_FROM = 65_536
"""From this many scores, `top_positions` finds the best among a sampled bound."""


def top_positions(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """The positions of the ``k`` largest scores. On a short array: `np.argpartition`'s
    answer, in no particular order. On a long one the k-th largest of every 16th score bounds
    the k-th largest of all from below, so only the scores at or above it (usually a few
    hundred) are sorted instead of all of them partitioned (a million: 4.7 ms → about 1 ms);
    the answer is then best first, equal scores in position order (a document that ties
    for the top is picked the same way every time)."""
    n = len(scores)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    if n >= SAMPLED_TOP_FROM and 64 * k <= n:
        sample = scores[::16]
        bound = np.partition(sample, len(sample) - k)[len(sample) - k]
        near = np.flatnonzero(scores >= bound)
        if 8 * len(near) <= n:  # else (e.g. most scores 0) the bound saved nothing
            return near[np.argsort(-scores[near], kind="stable")[:k]]
    return np.argpartition(-scores, k - 1)[:k]


def zscores(values: Sequence[float]) -> list[float]:
    """Standard scores; all zeros when the values do not vary."""
    arr = np.asarray(values, dtype=np.float64)
    if len(arr) < 2:
        return [0.0] * len(arr)
    std = float(arr.std())
    if std < 1e-12:
        return [0.0] * len(arr)
    return [float(v) for v in (arr - arr.mean()) / std]
