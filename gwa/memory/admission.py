"""Admission to long-term memory: features, policies (learned and baselines), trust, credit.

The learned policy is a logistic regression p(admit | x) in numpy. It starts from documented
cold-start weights, explores (admits a rejected candidate with probability ε while learning),
and learns from use: a stored memory that a later winner cites rewards the decision that
admitted it (and, discounted by γ per hop, the memories it was derived from); one not used
within H cycles is penalised in proportion to its size. Weights live in the store directory.

Trust is a Beta posterior per source (α / (α + β)): use raises it, contradiction lowers it.
External inputs start untrusted and need a higher p; an instruction-like text ("ignore previous
instructions …") from an untrusted source is never admitted, and the rejection says why.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gwa.memory.lexical import STOPWORDS
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
    "image",
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
    "image": 0.3,
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

INSTRUCTION_LIKE = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|rules|prompts?|"
    r"guidelines|everything)\b|\byou are now\b|\bsystem prompt\b|\bnew instructions\b|"
    r"\bact as\b.{0,30}\b(admin|root|developer|system)\b",
    re.IGNORECASE | re.DOTALL,
)
_SELF_EVENT = re.compile(
    r"\b(i|we|my|our)\b.{0,30}\b(\w+ed|went|got|made|took|saw|began|bought|ran|won|found|met|"
    r"had|did|gave|felt|read|wrote|became)\b",
    re.IGNORECASE,
)
_TEMPORAL = re.compile(
    r"\b(yesterday|today|tonight|tomorrow|ago|recently|lately|since|soon|upcoming|planning|"
    r"gonna|going to|(last|next|this) (week|month|year|weekend|night|morning|summer|winter|"
    r"spring|fall|monday|tuesday|wednesday|thursday|friday|saturday|sunday))\b",
    re.IGNORECASE,
)
_REACTION = re.compile(
    r"^\W*(wow|thanks|thank you|that's|that is|sounds|awesome|great|cool|nice|haha|yeah|yep|"
    r"sure|definitely|totally|aw+|omg|congrats)\b",
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


def instruction_like(text: str) -> bool:
    """Whether a text reads like an attempt to instruct the agents (a poisoning cue)."""
    return bool(INSTRUCTION_LIKE.search(text))


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

    def observe(self, text: str) -> dict[str, float]:
        """The lexical features of ``text`` against what came before; then remember it."""
        words = content_words(text)
        new = [w for w in words if w not in self.last]
        stale = [w for w in words if self.position - self.last.get(w, -(10**9)) > self.window]
        for w in words:
            self.last[w] = self.position
        self.position += 1
        if len(self.last) > self.max_words:  # forget the least recently seen, a tenth at once
            keep = sorted(self.last.items(), key=lambda kv: kv[1])[-(self.max_words * 9 // 10) :]
            self.last = dict(keep)
        return {  # counts in tens, capped so one very long text cannot dominate
            "new_words": min(3.0, len(new) / 10.0),
            "new_ratio": len(new) / max(1, len(words)),
            "unseen_recently": min(3.0, len(stale) / 10.0),
        }

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
    """(sentences, questions among them) of what was said (an image caption is not said)."""
    said = text.split("[shared image", 1)[0]
    sentences = [s.strip() for s in _SENTENCE.findall(said) if any(c.isalnum() for c in s)]
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
        "image": 1.0 if "[shared image" in text else 0.0,
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


def sigmoid(z: float) -> float:
    """The logistic function, safe for large |z|."""
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass
class TrustBook:
    """Per-source trust as Beta(α, β); external inputs start at Beta(1, 3) (0.25)."""

    prior: dict[str, tuple[float, float]] = field(default_factory=lambda: {"input": (1.0, 3.0)})
    counts: dict[str, list[float]] = field(default_factory=dict)

    def _ab(self, source: str) -> list[float]:
        if source not in self.counts:
            self.counts[source] = list(self.prior.get(source, (2.0, 2.0)))
        return self.counts[source]

    def trust(self, source: str) -> float:
        """α / (α + β)."""
        a, b = self._ab(source)
        return a / (a + b)

    def used(self, source: str, weight: float = 1.0) -> None:
        """A memory from ``source`` proved useful."""
        self._ab(source)[0] += weight

    def contradicted(self, source: str, weight: float = 1.0) -> None:
        """A memory from ``source`` was contradicted (superseded)."""
        self._ab(source)[1] += weight


@dataclass(frozen=True, slots=True)
class Verdict:
    """An admission policy's decision on one candidate."""

    admit: bool
    p: float
    """p(admit) (1 or 0 for the fixed policies)."""
    reason: str
    features: dict[str, float] = field(default_factory=dict)
    """What the policy saw (empty for the fixed policies)."""


class LogisticPolicy:
    """p(admit | x) = σ(w·x), admitted at p ≥ threshold (higher for untrusted sources)."""

    name = "learned"

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        *,
        threshold: float = 0.5,
        untrusted_threshold: float = 0.8,
        epsilon: float = 0.05,
        learning_rate: float = 0.1,
        target_rate: float | None = None,
        window: int = 500,
        seed: int = 0,
    ) -> None:
        self.w = vector(weights or COLD_START)
        self.target_rate = target_rate
        """When set, the threshold follows the (1 − rate) quantile of the last ``window`` p
        values, so about that share of candidates is kept whatever the stream looks like."""
        self.window = window
        self.recent: list[float] = []
        self.threshold = threshold
        self.untrusted_threshold = untrusted_threshold
        self.epsilon = epsilon
        self.learning_rate = learning_rate
        self.updates = 0
        self._rng = random.Random(seed)

    def p(self, features: Mapping[str, float]) -> float:
        """p(admit | features)."""
        return sigmoid(float(self.w @ vector(features)))

    def admit_at(self, p: float) -> float:
        """The threshold for this p (fixed, or tracking the admission budget)."""
        if self.target_rate is None:
            return self.threshold
        self.recent = [*self.recent[-(self.window - 1) :], p]
        if len(self.recent) < 20:
            return self.threshold
        return float(np.quantile(self.recent, 1.0 - self.target_rate))

    def verdict(self, features: Mapping[str, float], text: str, source: str) -> Verdict:
        """Admit or not, with p and the reason."""
        p = self.p(features)
        trusted = features.get("trust", 0.5) >= 0.4
        seen = dict(features)
        if not trusted and instruction_like(text):
            why = f"instruction-like text from an untrusted source ({source})"
            return Verdict(False, p, why, seen)
        need = self.admit_at(p) if trusted else max(self.untrusted_threshold, self.threshold)
        if p >= need:
            return Verdict(True, p, f"p={p:.2f} ≥ {need:.2f}", seen)
        if trusted and self.epsilon > 0 and self._rng.random() < self.epsilon:
            why = f"exploration (p={p:.2f} < {need:.2f}, ε={self.epsilon:g})"
            return Verdict(True, p, why, seen)
        why = "untrusted source, " if not trusted else ""
        return Verdict(False, p, f"{why}p={p:.2f} < {need:.2f}", seen)

    def update(self, features: Mapping[str, float], target: float, weight: float = 1.0) -> None:
        """One logistic-regression SGD step toward ``target`` (1 keep, 0 drop)."""
        x = vector(features)
        err = target - sigmoid(float(self.w @ x))
        self.w += self.learning_rate * weight * err * x
        self.updates += 1

    def fit(
        self,
        xs: Sequence[Mapping[str, float]],
        ys: Sequence[float],
        weights: Sequence[float] | None = None,
        *,
        epochs: int = 3000,
        l2: float = 1e-2,
        from_scratch: bool = False,
    ) -> None:
        """Batch gradient descent on the weighted logistic loss (offline training).

        Features are standardised for the descent (so one step size suits them all and the L2
        penalty treats them alike), and the weights are folded back to raw features, so p stays
        σ(w·x). The penalty pulls toward the current weights, so a few examples adjust the
        policy rather than replace it; ``from_scratch`` pulls toward zero instead."""
        if not xs:
            return
        raw = np.stack([vector(f) for f in xs])
        y = np.asarray(ys, dtype=np.float64)
        sw = np.asarray(weights if weights is not None else [1.0] * len(ys), dtype=np.float64)
        sw = sw / sw.mean()
        bias = FEATURES.index("bias")
        mu = raw.mean(axis=0)
        sd = raw.std(axis=0)
        mu[bias] = 0.0
        sd[bias] = 1.0
        constant = sd < 1e-9  # features these examples never vary keep their current weight
        sd[constant] = 1.0
        mu[constant] = 0.0
        x = (raw - mu) / sd
        anchor = np.zeros(len(FEATURES)) if from_scratch else self.w * sd
        if not from_scratch:
            anchor[bias] = self.w[bias] + float(np.sum(self.w * mu))
        penalised = np.arange(len(FEATURES)) != bias
        w = anchor.copy()
        for _ in range(epochs):
            pred = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
            grad = x.T @ (sw * (pred - y)) / len(y)
            grad[penalised] += l2 * (w - anchor)[penalised]
            grad[constant] = 0.0
            w -= grad
        folded = w / sd
        folded[bias] = w[bias] - float(np.sum(w * mu / sd))
        self.w = folded
        self.updates += len(ys)

    def to_json(self) -> dict[str, Any]:
        """What is persisted with the store."""
        return {
            "policy": self.name,
            "features": list(FEATURES),
            "weights": [round(float(v), 6) for v in self.w],
            "threshold": self.threshold,
            "untrusted_threshold": self.untrusted_threshold,
            "epsilon": self.epsilon,
            "target_rate": self.target_rate,
            "updates": self.updates,
        }

    def save(self, path: Path) -> None:
        """Write the weights (atomically)."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> LogisticPolicy:
        """Weights saved by `save` (unknown features are ignored, missing ones start at 0)."""
        data = json.loads(path.read_text())
        weights = dict(zip(data["features"], data["weights"], strict=True))
        policy = cls(
            {k: weights.get(k, 0.0) for k in FEATURES},
            threshold=float(data.get("threshold", 0.5)),
            untrusted_threshold=float(data.get("untrusted_threshold", 0.8)),
            epsilon=float(data.get("epsilon", 0.05)),
            target_rate=data.get("target_rate"),
        )
        policy.updates = int(data.get("updates", 0))
        return policy


HAND_WEIGHTS = {"novelty": 0.4, "utility": 0.3, "recency": 0.2, "type": 0.1}
"""The hand-weighted baseline: score = 0.4·novelty + 0.3·utility + 0.2·recency + 0.1·type prior,
admitted at score ≥ 0.5; utility is salience (or content density for turns), recency 1 for a
fresh candidate, the type prior 1 for thoughts and turns, 0.5 for inputs and summaries."""


def hand_score(features: Mapping[str, float]) -> float:
    """The hand-weighted score of a candidate."""
    utility = max(
        features.get("salience", 0.5) * features.get("won", 0.0), features.get("content_ratio", 0.0)
    )
    type_prior = 0.5 if features.get("role_input", 0.0) else 1.0
    return (
        HAND_WEIGHTS["novelty"] * features.get("novelty", 0.0)
        + HAND_WEIGHTS["utility"] * utility
        + HAND_WEIGHTS["recency"] * 1.0
        + HAND_WEIGHTS["type"] * type_prior
    )
