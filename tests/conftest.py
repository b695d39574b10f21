"""Test-wide settings: network models are forbidden for every test (and their subprocesses)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["GWA_FORBID_NETWORK_MODELS"] = "1"

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "gwa" / "scenarios"


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    """A fresh trace path inside the test's temporary folder."""
    return tmp_path / "trace.jsonl"


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own folder, so default paths (traces/, .gwa/memory) stay there."""
    monkeypatch.chdir(tmp_path)
