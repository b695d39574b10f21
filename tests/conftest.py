"""Test-wide settings: network models are forbidden for every test (and their subprocesses);
shared fixtures (a trace path, Chromium for the browser tests)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

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


CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium, driven by Playwright (never `playwright install`)."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for a test module (the viewer's and the console's browser tests),
    closed after it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()
