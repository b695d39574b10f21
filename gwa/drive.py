"""Where generator temperatures come from. A constant here; the entropy drive plugs in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class TemperatureSource(Protocol):
    """Gives the generation temperature for the next cycle and learns from each winner."""

    def temperature(self) -> float:
        """The temperature generators use next (before per-agent bounds)."""
        ...

    def update(self, cycle: int, contents: Sequence[str]) -> dict[str, Any]:
        """Observe the cycle's winner and recent contents; return what to trace."""
        ...


class ConstantTemperature:
    """Always the same temperature."""

    def __init__(self, value: float) -> None:
        if not 0.0 <= value <= 2.0:
            raise ValueError(f"temperature must be within 0..2, got {value}")
        self.value = value

    def temperature(self) -> float:
        """The constant."""
        return self.value

    def update(self, cycle: int, contents: Sequence[str]) -> dict[str, Any]:
        """Nothing to learn."""
        return {"source": "constant", "temperature": self.value}


def clamp(value: float, low: float, high: float) -> float:
    """``value`` limited to ``low..high``."""
    return min(high, max(low, value))
