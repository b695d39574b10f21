"""Trust: a Beta posterior per source (α / (α + β)): use raises it, contradiction lowers it.
External inputs start untrusted and need a higher p; an instruction-like text ("ignore previous
instructions …") from an untrusted source is never admitted."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

INSTRUCTION_LIKE = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|rules|prompts?|"
    r"guidelines|everything)\b|\byou are now\b|\bsystem prompt\b|\bnew instructions\b|"
    r"\bact as\b.{0,30}\b(admin|root|developer|system)\b",
    re.IGNORECASE | re.DOTALL,
)


def instruction_like(text: str) -> bool:
    """Whether a text reads like an attempt to instruct the agents (a poisoning cue)."""
    return bool(INSTRUCTION_LIKE.search(text))


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
