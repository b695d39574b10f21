"""The network guard: one switch that forbids network models (tests set it).

Part of the kernel: agents (chat-model providers) and memory (remote embedders) both ask it
before a call leaves the machine.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from gwa.errors import NetworkModelForbidden

FORBID_ENV = "GWA_FORBID_NETWORK_MODELS"
"""Set to 1 (the test suite does) to make every network model refuse to call out."""


def network_models_forbidden() -> bool:
    """Whether network models are switched off (``GWA_FORBID_NETWORK_MODELS=1``)."""
    return os.environ.get(FORBID_ENV, "") not in ("", "0", "false", "no")


def is_loopback(url: str | None) -> bool:
    """Whether a base URL points at this machine (allowed even when network models are not)."""
    if not url:
        return False
    host = urlparse(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def guard_network(model_name: str, base_url: str | None) -> None:
    """Refuse a call to a non-loopback endpoint while network models are forbidden."""
    if network_models_forbidden() and not is_loopback(base_url):
        raise NetworkModelForbidden(
            f"model {model_name!r} would call {base_url or 'the network'} but network models are "
            f"forbidden ({FORBID_ENV}=1); use gwa.agents.testing.ScriptedModel, FunctionModel "
            "or a replay cassette in tests"
        )
