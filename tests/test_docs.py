"""The README's Python example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO


def test_readme_python_example_runs() -> None:
    """Every python block of the README executes and the example reaches an answer."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)
    assert blocks
    for code in blocks:
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        assert "answered →" in result.stdout
