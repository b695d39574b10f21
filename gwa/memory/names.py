"""Names a memory mentions, and which memories mention each name: the entity links of
long-term memory, kept in its lexical index (`gwa.memory.lexical.BM25Index.mentions`) rather
than as graph nodes, so they cost a posting per mention and are saved with the open index."""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from gwa.memory.stopwords import STOPWORDS

_TOKEN = re.compile(r"\w[\w'’&.-]*")
_OPENERS = frozenset('.!?:"“(')


def names(text: str) -> list[str]:
    """The names ``text`` mentions, lower-cased, each once: its capitalised words that are not
    stop words, without a possessive 's. A capitalised word that opens a sentence counts only
    when a capitalised word follows it ("Jon Snow went" names Jon; "Wow, that" names nothing),
    so a sentence's first word is not taken for a name. Any text, no language model."""
    out: dict[str, None] = {}
    last = ""  # the last character before the token that is not a space ("" at the start)
    end = 0
    for m in _TOKEN.finditer(text):
        gap = text[end : m.start()].rstrip()
        last, end = (gap[-1] if gap else last), m.end()
        opens = not last or last in _OPENERS
        last = m.group()[-1]
        word = m.group().rstrip(".'’-")
        if word[-2:] in ("'s", "’s"):
            word = word[:-2]
        if len(word) < 2 or not word[0].isupper() or word.lower() in STOPWORDS:
            continue
        if opens and not (text[end : end + 1] == " " and text[end + 1 : end + 2].isupper()):
            continue
        out[word.lower()] = None
    return list(out)


class Mentions:
    """Name → the documents that mention it, in order. Those saved in an open index stay in its
    flat arrays (sliced when asked for), so opening a store builds no array per name; those
    added since are kept in growable arrays."""

    def __init__(
        self,
        saved: list[str] | None = None,
        offsets: npt.NDArray[np.int64] | None = None,
        docs: npt.NDArray[np.int32] | None = None,
    ) -> None:
        self._at = {name: i for i, name in enumerate(saved or [])}
        self._offsets = np.zeros(1, np.int64) if offsets is None else offsets
        self._docs = np.zeros(0, np.int32) if docs is None else docs
        self._new: dict[str, array[int]] = {}

    def add(self, doc: int, found: Iterable[str]) -> None:
        """Document ``doc`` (numbered after every earlier one) mentions ``found``."""
        for name in found:
            self._new.setdefault(name, array("i")).append(doc)

    def get(self, name: str) -> npt.NDArray[np.int32]:
        """The documents that mention ``name``, in order (empty if none)."""
        i = self._at.get(name)
        saved = self._docs[self._offsets[i] : self._offsets[i + 1]] if i is not None else None
        new = self._new.get(name)
        if new is None:
            return saved if saved is not None else np.zeros(0, np.int32)
        added = np.frombuffer(new, dtype=np.int32)
        return added if saved is None else np.concatenate((saved, added))

    def items(self) -> Iterator[tuple[str, Any]]:
        """(name, its documents) for every name."""
        for name in dict.fromkeys([*self._at, *self._new]):
            yield name, self.get(name)
