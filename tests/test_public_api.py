"""The public surface: everything in __all__ exists and the error tree has one root."""

from __future__ import annotations

import ast
import subprocess
import sys

import gwa
import gwa.agents
import gwa.broadcast
import gwa.eval
import gwa.events
import gwa.memory
import gwa.testing


def test_every_exported_name_exists() -> None:
    """No name in __all__ is missing from its module."""
    for module in (gwa, gwa.agents, gwa.broadcast, gwa.eval, gwa.events, gwa.memory, gwa.testing):
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


def test_the_kernel_loads_alone() -> None:
    """types, errors, events and the network guard import nothing else of gwa (and
    `import gwa` alone loads nothing but the kernel's errors and types)."""
    code = (
        "import sys, gwa, gwa.types, gwa.errors, gwa.events, gwa.netguard; "
        "print(sorted(m for m in sys.modules if m.startswith('gwa')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = {m for m in ast.literal_eval(out) if not m.startswith("gwa.events.")}
    assert loaded == {
        "gwa",
        "gwa._version",
        "gwa.errors",
        "gwa.events",
        "gwa.netguard",
        "gwa.types",
    }
