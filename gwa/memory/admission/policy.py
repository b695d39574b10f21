"""Admission policies as numbers: the verdict record, the logistic policy (learned online,
fitted offline, persisted), and the hand-weighted baseline score."""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gwa.memory.admission.features import COLD_START, FEATURES, vector
from gwa.memory.admission.trust import instruction_like


def sigmoid(z: float) -> float:
    """The logistic function, safe for large |z|."""
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


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

    def verdict(
        self, features: Mapping[str, float], text: str, source: str, *, guarded: bool = False
    ) -> Verdict:
        """Admit or not, with p and the reason. Instruction-like text is never admitted from
        an untrusted source, nor (``guarded``) from an input or what restates one, however
        much that origin is trusted: use must not buy the right to instruct."""
        p = self.p(features)
        trusted = features.get("trust", 0.5) >= 0.4
        seen = dict(features)
        if (guarded or not trusted) and instruction_like(text):
            kind = "an untrusted source" if not trusted else "an input or its echo"
            why = f"instruction-like text from {kind} ({source})"
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

    def snapshot(self) -> dict[str, Any]:
        """Everything that moves while a run goes on: weights, recent p values, the
        exploration generator (a checkpoint; `to_json` is what persists with the store)."""
        version, state, gauss = self._rng.getstate()
        return {
            "w": [float(v) for v in self.w],
            "recent": list(self.recent),
            "updates": self.updates,
            "rng": [version, list(state), gauss],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `snapshot`."""
        self.w = np.asarray(state["w"], dtype=np.float64)
        self.recent = [float(p) for p in state["recent"]]
        self.updates = int(state["updates"])
        version, rng, gauss = state["rng"]
        self._rng.setstate((version, tuple(rng), gauss))

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
