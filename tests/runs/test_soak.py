"""The fault soak, short: on the fake model with 10% injected faults, killed with SIGKILL and
resumed every 25 cycles, over MQTT with the broker restarted every 30 (bench/soak.py runs the
long one)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


@pytest.mark.timeout(300)
def test_a_short_soak_loses_nothing(tmp_path: Path) -> None:
    """No crash, every injected fault traced, at most the cycle in flight lost per kill, no
    memory lost or stored twice, and the run reaches its last cycle."""
    spec = importlib.util.spec_from_file_location("gwa_bench_soak", BENCH)
    assert spec is not None
    assert spec.loader is not None
    soak_module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = soak_module  # its dataclasses look their module up
    spec.loader.exec_module(soak_module)
    soak = soak_module.run_soak(
        tmp_path,
        cycles=80,
        kill_every=25,
        faults=0.1,
        mqtt=True,
        restart_every=30,
        say=lambda _: None,
    )
    assert soak.crashes == []
    assert (soak.cycles, soak.status) == (80, "max_cycles")
    assert soak.kills == 3
    assert soak.broker_restarts >= 2
    assert soak.injected > 0
    assert soak.traced == soak.injected
    assert max(soak.lost_cycles) <= 1
    assert (soak.memories_lost, soak.memories_twice) == (0, 0)
