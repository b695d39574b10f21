"""The intrinsic drive: semantic diversity of recent workspace contents regulates temperature.

Pure parts first (estimators, control laws, the deadlock detector), each a function or a
small class with no I/O; `EntropyDrive` wires them to an embedder. The cycle asks a
`TemperatureSource` for the generators' temperature and hands it each cycle's winner; the
answer, a `Regulation`, may carry a `Deadlock` with the escalation step to take.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from gwa.memory.embeddings import Vectors

Step = Literal["spike", "perspective", "requery", "stall"]
LADDER: tuple[Step, ...] = ("spike", "perspective", "requery", "stall")


@dataclass(frozen=True, slots=True)
class Deadlock:
    """Evidence that the workspace is stuck, and the escalation step taken."""

    evidence: str
    step: Step
    level: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Regulation:
    """The drive's answer after a cycle: next temperature, what to trace, any deadlock."""

    temperature: float
    info: dict[str, Any]
    deadlock: Deadlock | None = None


class Embed(Protocol):
    """Turns texts into unit vectors (the drive's and inhibition's similarity)."""

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised row per text."""
        ...


class TemperatureSource(Protocol):
    """Gives the generation temperature for the next cycle and learns from each winner."""

    @property
    def last_entropy(self) -> float | None:
        """Diversity H at the last update (None if not measured): an admission signal."""
        ...

    @property
    def embedder(self) -> Embed | None:
        """What near-copies of recent winners are measured with (None: word overlap)."""
        ...

    def temperature(self) -> float:
        """The temperature generators use next (before per-agent bounds)."""
        ...

    def update(self, cycle: int, winner: str | None) -> Regulation:
        """Observe the cycle's winner (None if nothing won)."""
        ...


class ConstantTemperature:
    """Always the same temperature; never detects a deadlock."""

    def __init__(self, value: float) -> None:
        if not 0.0 <= value <= 2.0:
            raise ValueError(f"temperature must be within 0..2, got {value}")
        self.value = value

    @property
    def last_entropy(self) -> float | None:
        """Not measured."""
        return None

    @property
    def embedder(self) -> Embed | None:
        """None: near-copies are judged by word overlap."""
        return None

    def temperature(self) -> float:
        """The constant."""
        return self.value

    def update(self, cycle: int, winner: str | None) -> Regulation:
        """Nothing to learn."""
        return Regulation(self.value, {"source": "constant", "temperature": self.value})

    def snapshot(self) -> dict[str, Any]:
        """Nothing changes."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Nothing to take back."""


def pack(v: Vectors) -> str:
    """A float32 vector as base64 text (exact, and faster than a JSON list)."""
    return base64.b64encode(np.asarray(v, dtype=np.float32).tobytes()).decode("ascii")


def unpack(text: str) -> Vectors:
    """The vector `pack` wrote."""
    return np.frombuffer(base64.b64decode(text), dtype=np.float32).copy()


def clamp(value: float, low: float, high: float) -> float:
    """``value`` limited to ``low..high``."""
    return min(high, max(low, value))


def _entropy(p: npt.NDArray[np.float64]) -> float:
    p = p[p > 1e-12]
    return float(-(p * np.log(p)).sum())


def soft_cluster_entropy(x: Vectors, centroids: Vectors, tau: float) -> float:
    """The paper's estimator: p_k = softmax(−d_k/τ) over cosine distances d_k of one content
    to K centroids; H = −Σ p_k log p_k, normalised by log K to 0..1."""
    k = len(centroids)
    if k < 2:
        return 0.0
    d = 1.0 - (centroids @ x).astype(np.float64)
    logits = -d / tau
    p = np.exp(logits - logits.max())
    p /= p.sum()
    return _entropy(p) / math.log(k)


def assignment_entropy(window: Vectors, centroids: Vectors) -> float:
    """Entropy of the nearest-centroid assignments of the last W contents, normalised by
    log(min(K, W)) to 0..1: 0 when all fall in one cluster."""
    n, k = len(window), len(centroids)
    if n < 2 or k < 2:
        return 0.0
    counts = np.bincount((window @ centroids.T).argmax(axis=1), minlength=k).astype(np.float64)
    return _entropy(counts / n) / math.log(min(k, n))


def spectral_entropy(window: Vectors) -> float:
    """Von Neumann entropy of the contents' similarity matrix (the log of the Vendi score),
    normalised by log W to 0..1: 0 when all contents are the same, 1 when all orthogonal."""
    n = len(window)
    if n < 2:
        return 0.0
    gram = (window @ window.T).astype(np.float64) / n
    eigenvalues = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
    eigenvalues /= max(eigenvalues.sum(), 1e-12)
    return _entropy(eigenvalues) / math.log(n)


def exp_law(h: float, *, base: float, alpha: float, beta: float, cap: float) -> float:
    """The paper's law: T = T_base + α·exp(−β·H), capped."""
    return min(cap, base + alpha * math.exp(-beta * h))


class PILaw:
    """A PI controller that steers diversity toward a target by raising or lowering T."""

    def __init__(
        self, *, base: float, target: float, kp: float, ki: float, low: float, high: float
    ) -> None:
        self.base, self.target, self.kp, self.ki = base, target, kp, ki
        self.low, self.high = low, high
        self.integral = 0.0

    def __call__(self, h: float) -> float:
        error = self.target - h
        candidate = self.base + self.kp * error + self.ki * (self.integral + error)
        if self.low < candidate < self.high:  # anti-windup: integrate only when unsaturated
            self.integral += error
        return clamp(self.base + self.kp * error + self.ki * self.integral, self.low, self.high)


@dataclass(frozen=True, slots=True)
class DeadlockRules:
    """When the workspace counts as stuck."""

    similarity: float = 0.9
    """δ: a winner this similar to the previous one is a repeat."""
    repeats: int = 3
    """k: that many repeats in a row is a deadlock."""
    h_min: float = 0.2
    """Diversity below this …"""
    low_cycles: int = 3
    """… for this many cycles in a row is a deadlock."""
    recovery: int = 3
    """Cycles without evidence after which a deadlock counts as resolved: the next one
    starts at the step that resolved this one."""


class DeadlockDetector:
    """Counts repeats and low-diversity cycles and escalates one step each time they persist."""

    def __init__(self, rules: DeadlockRules) -> None:
        self.rules = rules
        self.repeat_run = 0
        self.low_run = 0
        self.quiet = 0
        self.level = 0

    def observe(self, similarity: float | None, h: float | None) -> Deadlock | None:
        """Feed one cycle: similarity of the winner to the previous one, and diversity H."""
        r = self.rules
        self.repeat_run = (
            self.repeat_run + 1 if similarity is not None and similarity >= r.similarity else 0
        )
        self.low_run = self.low_run + 1 if h is not None and h < r.h_min else 0
        evidence = None
        if self.repeat_run >= r.repeats:
            evidence = f"{self.repeat_run} winners in a row at similarity >= {r.similarity}"
        elif self.low_run >= r.low_cycles:
            evidence = f"diversity H < {r.h_min} for {self.low_run} cycles"
        if evidence is None:
            self.quiet += 1
            if self.quiet == r.recovery and self.level > 0:
                # The last step applied resolved the deadlock: the next one starts there,
                # not at the first step again (which evidently did not suffice).
                self.level -= 1
            return None
        self.quiet = 0
        self.level += 1
        self.repeat_run = self.low_run = 0
        step = LADDER[min(self.level, len(LADDER)) - 1]
        details = {"similarity": similarity, "h": h}
        return Deadlock(evidence, step, self.level, details)


Estimator = Literal["soft_cluster", "assignments", "spectral"]
NEW_CLUSTER_SIMILARITY = 0.6
"""A content less similar than this to every centroid founds a new cluster."""


@dataclass(frozen=True, slots=True)
class DriveSettings:
    """Everything the drive needs; see `gwa.scenario.DriveSpec` for the documented fields."""

    estimator: Estimator = "spectral"
    window: int = 6
    clusters: int = 6
    tau: float = 0.1
    law: Literal["exp", "pi"] = "exp"
    base_temperature: float = 0.7
    alpha: float = 0.7
    beta: float = 4.0
    target: float = 0.6
    kp: float = 0.8
    ki: float = 0.2
    min_temperature: float = 0.2
    max_temperature: float = 1.5
    smoothing: float = 0.5
    spike: float = 0.5
    spike_cycles: int = 2
    rules: DeadlockRules = DeadlockRules()


class EntropyDrive:
    """Measures the diversity of the last W winners and sets the next temperature from it."""

    def __init__(self, settings: DriveSettings, embedder: Embed) -> None:
        self.s = settings
        self.embedder: Embed | None = embedder
        self._embed = embedder
        self.window: deque[Vectors] = deque(maxlen=settings.window)
        self.centroids: list[Vectors] = []
        self.detector = DeadlockDetector(settings.rules)
        self._pi = PILaw(
            base=settings.base_temperature,
            target=settings.target,
            kp=settings.kp,
            ki=settings.ki,
            low=settings.min_temperature,
            high=settings.max_temperature,
        )
        self._temperature = settings.base_temperature
        self._spike_left = 0
        self.last_entropy: float | None = None
        """H at the last update (None before the window fills)."""

    def snapshot(self) -> dict[str, Any]:
        """Window, centroids, deadlock counters, controller and temperature (a checkpoint)."""
        d = self.detector
        return {
            "window": [pack(v) for v in self.window],
            "centroids": [pack(v) for v in self.centroids],
            "detector": [d.repeat_run, d.low_run, d.quiet, d.level],
            "integral": self._pi.integral,
            "temperature": self._temperature,
            "spike_left": self._spike_left,
            "last_entropy": self.last_entropy,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `snapshot`."""
        self.window.clear()
        self.window.extend(unpack(v) for v in state["window"])
        self.centroids = [unpack(v) for v in state["centroids"]]
        d = self.detector
        d.repeat_run, d.low_run, d.quiet, d.level = (int(x) for x in state["detector"])
        self._pi.integral = float(state["integral"])
        self._temperature = float(state["temperature"])
        self._spike_left = int(state["spike_left"])
        self.last_entropy = state["last_entropy"]

    def temperature(self) -> float:
        """The temperature for the next cycle (a spike included)."""
        if self._spike_left > 0:
            return min(self.s.max_temperature, self._temperature + self.s.spike)
        return self._temperature

    def _learn_centroid(self, x: Vectors) -> None:
        """Leader clustering: a content far from every centroid founds a new one (while
        fewer than K exist); otherwise the nearest centroid moves toward it."""
        if not self.centroids:
            self.centroids.append(x)
            return
        c = np.stack(self.centroids)
        similarities = c @ x
        k = int(similarities.argmax())
        if similarities[k] < NEW_CLUSTER_SIMILARITY and len(self.centroids) < self.s.clusters:
            self.centroids.append(x)
            return
        moved = self.centroids[k] + 0.2 * (x - self.centroids[k])
        self.centroids[k] = (moved / max(float(np.linalg.norm(moved)), 1e-12)).astype(np.float32)

    def _estimate(self, x: Vectors | None) -> float | None:
        if len(self.window) < 2:
            return None
        window = np.stack(list(self.window))
        if self.s.estimator == "spectral":
            return spectral_entropy(window)
        centroids = np.stack(self.centroids)
        if self.s.estimator == "assignments":
            return assignment_entropy(window, centroids)
        return soft_cluster_entropy(x if x is not None else window[-1], centroids, self.s.tau)

    def update(self, cycle: int, winner: str | None) -> Regulation:
        """Embed the winner, estimate H, move T, and check for a deadlock."""
        similarity = None
        x = None
        if winner is not None:
            x = self._embed.embed([winner])[0]
            if self.window:
                similarity = float(self.window[-1] @ x)
            self.window.append(x)
            self._learn_centroid(x)
        h = self._estimate(x)
        if h is not None:
            self.last_entropy = float(h)
            raw = (
                exp_law(
                    h,
                    base=self.s.base_temperature,
                    alpha=self.s.alpha,
                    beta=self.s.beta,
                    cap=self.s.max_temperature,
                )
                if self.s.law == "exp"
                else self._pi(h)
            )
            raw = clamp(raw, self.s.min_temperature, self.s.max_temperature)
            self._temperature = round(
                (1 - self.s.smoothing) * self._temperature + self.s.smoothing * raw, 4
            )
        self._spike_left = max(0, self._spike_left - 1)
        deadlock = self.detector.observe(similarity, h)
        if deadlock is not None and deadlock.step == "spike":
            self._spike_left = self.s.spike_cycles
        info = {
            "source": "entropy",
            "estimator": self.s.estimator,
            "law": self.s.law,
            "h": None if h is None else round(h, 4),
            "window": len(self.window),
            "similarity": None if similarity is None else round(similarity, 4),
            "temperature": self.temperature(),
            "level": self.detector.level,
        }
        return Regulation(self.temperature(), info, deadlock)
