"""What `gwa validate` checks beyond the schema: what a run would trip on, located.

A scenario that validates should run: the trace and memory paths must be writable places
(not under a regular file, the store not a foreign directory), a cassette or a GGUF file
must exist, a LangChain factory's module must be importable. Each problem names the file,
the line and column of the field, and the fix.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from gwa.errors import ScenarioError
from gwa.scenario.spec import Path_, Scenario, fill_template

STORE_MARKER = "gwa-store.json"


def _file_on_the_way(folder: Path) -> Path | None:
    """The first existing ancestor of ``folder`` (itself included) that is not a directory."""
    for p in (folder, *folder.parents):
        if p.exists():
            return None if p.is_dir() else p
    return None


def _relative(path: str, base: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() or p.exists() else base / p


def path_problems(scenario: Scenario, *, trace: bool, memory: bool) -> list[tuple[Path_, str]]:
    """Trace and memory paths (relative to the current directory) that a run cannot use."""
    problems: list[tuple[Path_, str]] = []
    if trace:
        target = Path(fill_template(scenario.trace.path, scenario=scenario.name, run="RUN"))
        blocker = _file_on_the_way(target.parent)
        if blocker is not None:
            problems.append(
                (("trace", "path"), f"{blocker} is a file, so no trace can be written under it")
            )
    spec = scenario.memory
    if memory and spec is not None and spec.enabled:
        store = Path(spec.path)
        blocker = _file_on_the_way(store)
        if blocker is not None:
            problems.append((("memory", "path"), f"{blocker} is a file, not a store directory"))
        elif store.is_dir() and any(store.iterdir()) and not (store / STORE_MARKER).exists():
            problems.append(
                (
                    ("memory", "path"),
                    f"{store} is a directory that holds other files and no GWA memory store; "
                    "choose an empty or new directory",
                )
            )
    return problems


def model_problems(scenario: Scenario, base: Path) -> list[tuple[Path_, str]]:
    """Cassettes and GGUF files that do not exist, factories whose module cannot be found."""
    problems: list[tuple[Path_, str]] = []
    for name, m in scenario.models.items():
        if m.provider in ("replay", "local") and m.path:
            found = _relative(m.path, base)
            if not found.is_file():
                what = "cassette" if m.provider == "replay" else "GGUF model file"
                problems.append((("models", name, "path"), f"{what} not found: {found}"))
        if m.provider == "langchain" and m.factory:
            module = m.factory.partition(":")[0]
            try:
                spec = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                spec = None
            if spec is None:
                problems.append(
                    (
                        ("models", name, "factory"),
                        f"module {module!r} not found; put it on PYTHONPATH or install it",
                    )
                )
    return problems


def preflight(
    path: Path,
    scenario: Scenario,
    *,
    trace: bool = True,
    memory: bool = True,
    models: bool = True,
) -> None:
    """Raise a located `ScenarioError` for anything a run of this scenario file would trip
    on (``trace``/``memory``/``models``: check those too, unless the caller overrides them)."""
    from gwa.scenario.loader import locate

    problems = path_problems(scenario, trace=trace, memory=memory)
    if models:
        problems += model_problems(scenario, path.parent)
    if problems:
        located = locate(path)
        raise ScenarioError([located.problem(p, message) for p, message in problems])
