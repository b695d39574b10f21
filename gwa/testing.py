"""Helpers for testing code built on GWA: capture the typed events of the runs under test.

```python
from gwa.testing import capture_events

with capture_events(ws) as events:
    await ws.run()
assert [e.event for e in events][-1] == "run.end"
```

Test models live in `gwa.agents.testing` (`FakeModel`, `ScriptedModel`, `FunctionModel`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from gwa.events import Event

if TYPE_CHECKING:
    from gwa.workspace import Workspace

E = TypeVar("E", bound=Event)

__all__ = ["CapturedEvents", "capture_events"]


class CapturedEvents(list[Event]):
    """The events captured so far, in the order they were written."""

    def of(self, kind: type[E]) -> list[E]:
        """The captured events of one kind (``events.of(SelectionMade)``)."""
        return [e for e in self if isinstance(e, kind)]

    @property
    def kinds(self) -> list[str]:
        """The ``event`` of each captured record."""
        return [e.event for e in self]


@contextmanager
def capture_events(workspace: Workspace) -> Iterator[CapturedEvents]:
    """Collect every event of the runs ``workspace`` starts inside the block (redacted and
    typed exactly as they are written to the trace)."""
    captured = CapturedEvents()
    workspace.add_listener(captured.append)
    try:
        yield captured
    finally:
        workspace.remove_listener(captured.append)
