"""Admission features: what a candidate for long-term memory looks like, as numbers.

Every feature makes sense for any workspace content (a thought, an input, a conversation
turn); cues of one dataset's text format belong to that dataset's evaluation adapter. Adding a
feature: name it in `FEATURES`, give it a cold-start weight in `COLD_START`, and compute it in
`text_features` (the text alone) or `candidate_features` (what the cycle knew).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gwa.memory.stopwords import STOPWORDS
from gwa.memory.working import AdmissionCandidate

FEATURES = (
    "bias",
    "novelty",
    "salience",
    "critic",
    "won",
    "log_tokens",
    "entropy",
    "trust",
    "duplicate",
    "proper_nouns",
    "has_number",
    "is_question",
    "question_share",
    "content_ratio",
    "long",
    "self_event",
    "role_generator",
    "role_input",
    "replies_to_question",
    "new_words",
    "new_ratio",
    "unseen_recently",
    "temporal",
    "reaction",
    "possessive",
    "first_person",
    "content_words",
    "exclaim",
)
"""The feature vector, in order. Conversation turns and workspace thoughts share it; cycle
signals a source does not have (critic score for a turn) take neutral values."""

COLD_START = {
    "bias": -1.0,
    "novelty": 2.0,
    "salience": 0.5,
    "critic": 0.3,
    "won": 0.5,
    "log_tokens": 0.4,
    "entropy": 0.0,
    "trust": 1.0,
    "duplicate": -2.0,
    "proper_nouns": 0.3,
    "has_number": 0.3,
    "is_question": -0.3,
    "question_share": -0.3,
    "content_ratio": 0.5,
    "long": 0.5,
    "self_event": 0.3,
    "role_generator": 0.2,
    "role_input": 0.0,
    "replies_to_question": 0.5,
    "new_words": 0.8,
    "new_ratio": 0.5,
    "unseen_recently": 0.4,
    "temporal": 0.2,
    "reaction": -0.3,
    "possessive": 0.1,
    "first_person": 0.1,
    "content_words": 0.2,
    "exclaim": 0.0,
}
"""Cold-start weights: novel, salient, trusted, longer content is kept; near-duplicates are not.
With them a novel (0.8) 20-token thought of salience 0.7 that won gets p ≈ 0.9; a repeat ≈ 0.1.
The lexical cues (words new to the stream, words not seen recently) add to that: new content is
what later questions ask about."""

CHAT_CUES = ("temporal", "reaction", "possessive", "first_person", "exclaim", "self_event")
"""Features that read the style of chat text (first-person news, reactions, exclamations,
time words). They mean something for any conversational content, but they were designed on
LoCoMo's casual chat: `gwa eval admission` also reports the learned policy without them
(``learned-generic``), so what they add on one dataset's style is visible."""


def without(features: Mapping[str, float], names: tuple[str, ...]) -> dict[str, float]:
    """``features`` with ``names`` set to 0 (as if the policy did not have them)."""
    return {k: 0.0 if k in names else v for k, v in features.items()}


_SELF_EVENT = re.compile(
    r"\b(i|we|my|our)\b.{0,30}\b(\w+ed|went|got|made|took|saw|began|bought|ran|won|found|met|"
    r"had|did|gave|felt|read|wrote|became)\b",
    re.IGNORECASE,
)
_TEMPORAL = re.compile(
    r"\b(yesterday|today|tonight|tomorrow|ago|recently|lately|since|soon|upcoming|planning|"
    r"gonna|going to|(last|next|this) (week|month|year|weekend|night|morning|summer|winter|"
    r"spring|fall))\b",
    re.IGNORECASE,
)
_REACTION = re.compile(
    r"^\W*(wow|thanks|thank you|that's|that is|sounds|awesome|great|cool|nice|yeah|yep|"
    r"sure|definitely|totally)\b",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"\b(i|i'm|i've|i'd|me)\b", re.IGNORECASE)
_POSSESSIVE = re.compile(r"\bmy\b", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_WORDS = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+")
_STOP = STOPWORDS | {
    # Conversational fillers carry no content either.
    *("oh", "yeah", "yes", "ok", "okay", "wow", "thanks", "thank", "really", "just", "too", "very"),
}


def content_words(text: str) -> set[str]:
    """The lower-cased content words of a text (no stop words or fillers, three letters up)."""
    return {w.lower() for w in _WORDS.findall(text) if len(w) > 2 and w.lower() not in _STOP}


class Lexicon:
    """The words an admission stream has seen, and when (for the lexical novelty features).

    Every candidate is observed, admitted or not: a word is *new* if no earlier candidate used
    it, and *unseen recently* if none of the last ``window`` candidates did. It keeps at most
    ``max_words`` words (past that, the least recently seen tenth goes) and persists as JSON.
    """

    def __init__(self, *, window: int = 50, max_words: int = 100_000) -> None:
        self.window = window
        self.max_words = max_words
        self.position = 0
        self.last: dict[str, int] = {}
        self.fresh: set[str] = set()
        """Words observed since the lexicon was made or loaded (what a checkpoint saves)."""

    def observe(self, text: str) -> dict[str, float]:
        """The lexical features of ``text`` against what came before; then remember it."""
        words = content_words(text)
        new = [w for w in words if w not in self.last]
        stale = [w for w in words if self.position - self.last.get(w, -(10**9)) > self.window]
        for w in words:
            self.last[w] = self.position
        self.fresh |= words
        self.position += 1
        if len(self.last) > self.max_words:  # forget the least recently seen, a tenth at once
            keep = sorted(self.last.items(), key=lambda kv: kv[1])[-(self.max_words * 9 // 10) :]
            self.last = dict(keep)
        return {  # counts in tens, capped so one very long text cannot dominate
            "new_words": min(3.0, len(new) / 10.0),
            "new_ratio": len(new) / max(1, len(words)),
            "unseen_recently": min(3.0, len(stale) / 10.0),
        }

    def snapshot(self) -> dict[str, Any]:
        """The position and the words seen since loading (the rest is in the saved file)."""
        last = self.last
        return {"position": self.position, "words": {w: last[w] for w in self.fresh if w in last}}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `snapshot` over the lexicon loaded from the store."""
        words = {str(k): int(v) for k, v in dict(state["words"]).items()}
        self.last.update(words)
        self.fresh |= set(words)
        self.position = int(state["position"])

    def to_json(self) -> dict[str, Any]:
        """What is persisted beside the store."""
        return {"window": self.window, "position": self.position, "last": self.last}

    def save(self, path: Path) -> None:
        """Write the lexicon (atomically)."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json()) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        """A lexicon saved by `save`."""
        data = json.loads(path.read_text())
        lex = cls(window=int(data.get("window", 50)))
        lex.position = int(data.get("position", 0))
        lex.last = {str(k): int(v) for k, v in dict(data.get("last", {})).items()}
        return lex


def _asking(text: str) -> tuple[int, int]:
    """(sentences, questions among them) of a text."""
    sentences = [s.strip() for s in _SENTENCE.findall(text) if any(c.isalnum() for c in s)]
    return len(sentences), sum(1 for s in sentences if s.endswith("?"))


def question_share(text: str) -> float:
    """The share of a text's sentences that ask something (0 for no sentence)."""
    n, asked = _asking(text)
    return asked / max(1, n)


def text_features(text: str) -> dict[str, float]:
    """Features of the text alone."""
    words = _WORDS.findall(text)
    n = max(1, len(words))
    # A turn that only asks holds no fact; one that tells and then asks ("I started running.
    # What about you?") does, so questions count by sentence, not by the last character.
    sentences, asked = _asking(text)
    proper = sum(1 for i, w in enumerate(words) if i > 0 and w[0].isupper())
    content = sum(1 for w in words if w.lower() not in _STOP and len(w) > 2)
    return {
        "temporal": 1.0 if _TEMPORAL.search(text) else 0.0,
        "reaction": 1.0 if _REACTION.search(text) else 0.0,
        "possessive": min(1.0, len(_POSSESSIVE.findall(text)) / 3.0),
        "first_person": min(1.0, len(_FIRST_PERSON.findall(text)) / 5.0),
        "content_words": min(1.0, len(content_words(text)) / 20.0),
        "exclaim": min(1.0, text.count("!") / 3.0),
        "log_tokens": math.log1p(len(words)) / 5.0,
        "proper_nouns": min(1.0, proper / 3.0),
        "has_number": 1.0 if any(w.isdigit() for w in words) else 0.0,
        "is_question": 1.0 if sentences and asked == sentences else 0.0,
        "question_share": asked / max(1, sentences),
        "content_ratio": content / n,
        "long": min(1.0, len(words) / 40.0),
        "self_event": 1.0 if _SELF_EVENT.search(text) else 0.0,
    }


def candidate_features(
    c: AdmissionCandidate,
    *,
    novelty: float,
    trust: float,
    lexicon: Lexicon | None = None,
) -> dict[str, float]:
    """The full feature dict of a candidate (see FEATURES). With a lexicon the candidate is
    observed by it (its lexical novelty counted, then its words remembered)."""
    s = c.signals
    out = {
        "bias": 1.0,
        "novelty": novelty,
        "salience": s.salience,
        "critic": s.critic,
        "won": s.won,
        "entropy": s.entropy,
        "trust": trust,
        "duplicate": 1.0 if novelty < 0.05 else 0.0,
        "role_generator": 1.0 if c.role == "generator" else 0.0,
        "role_input": 1.0 if c.entry.kind == "input" else 0.0,
        # What it answered: a reply to a question usually carries the answer, a fact.
        "replies_to_question": s.replies_to_question,
    }
    out.update(text_features(c.entry.text))
    out.update(
        lexicon.observe(c.entry.text)
        if lexicon is not None
        else {"new_words": 0.0, "new_ratio": 0.0, "unseen_recently": 0.0}
    )
    return {k: round(v, 4) for k, v in out.items()}


def vector(features: Mapping[str, float]) -> npt.NDArray[np.float64]:
    """Features as an array in FEATURES order."""
    return np.array([features.get(k, 0.0) for k in FEATURES], dtype=np.float64)
