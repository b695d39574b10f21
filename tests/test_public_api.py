"""The public surface: everything in __all__ exists and the error tree has one root."""

from __future__ import annotations

import gwa
import gwa.agents
import gwa.broadcast
import gwa.memory


def test_every_exported_name_exists() -> None:
    """No name in __all__ is missing from its module."""
    for module in (gwa, gwa.agents, gwa.broadcast, gwa.memory):
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert missing == [], module.__name__


def test_all_errors_derive_from_gwa_error() -> None:
    """Every exported exception is a GwaError."""
    errors = [
        getattr(gwa, n)
        for n in gwa.__all__
        if n.endswith("Error")
        or n
        in (
            "CassetteMiss",
            "ModelTimeout",
            "ModelUnavailable",
            "NetworkModelForbidden",
            "BusClosed",
        )
    ]
    assert errors
    assert all(issubclass(e, gwa.GwaError) for e in errors)
