"""The one error tree of GWA.

::

    GwaError
    ├── ConfigError               a scenario or option is wrong (the CLI exits 2)
    │   └── ScenarioError         a scenario file is wrong; carries every problem with file:line:col
    ├── ModelError                a chat model failed
    │   ├── ModelTimeout          it did not answer in time
    │   ├── ModelUnavailable      it cannot be reached or is not installed
    │   ├── NetworkModelForbidden a network model was called while forbidden (tests)
    │   └── CassetteMiss          a replayed run asked for something the cassette does not hold
    ├── RoleOutputError           an agent's output did not fit its role's schema, even after repair
    ├── BusError                  the broadcast bus failed
    │   ├── BusClosed             publish or subscribe on a closed bus
    │   └── HandlerError          a subscribed handler raised (surfaced, never swallowed)
    ├── TraceError                a trace file is missing, broken or too new
    └── RunsError                 a checkpoint store or run cannot be used (the CLI exits 2)
        └── RunLocked             the run is being run by a live process

Control flow (a run stopping, an agent being late) is never signalled with these: a stop is a
`RunResult.status`, a late agent is a traced outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class GwaError(Exception):
    """Base of every error GWA raises on purpose."""


class ConfigError(GwaError):
    """A configuration value is wrong; the message says where and what would be valid."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a scenario file."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ScenarioError(ConfigError):
    """A scenario file has one or more problems, each located as ``file:line:column``."""

    SHOWN = 50
    """At most this many problems are listed in the message (all are in ``problems``)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = [str(p) for p in self.problems[: self.SHOWN]]
        if len(self.problems) > self.SHOWN:
            more = len(self.problems) - self.SHOWN
            lines.append(f"… and {more:,} more problem(s) ({len(self.problems):,} in all)")
        super().__init__("\n".join(lines))


class ModelError(GwaError):
    """A chat model call failed."""


class ModelTimeout(ModelError):
    """A chat model call took longer than its timeout."""


class ModelUnavailable(ModelError):
    """A chat model cannot be used: not installed, not reachable, or misconfigured."""


class NetworkModelForbidden(ModelError):
    """A model that talks to the network was called while network models are forbidden."""


class CassetteMiss(ModelError):
    """A replayed run made a model request that the cassette did not record."""


class RoleOutputError(GwaError):
    """An agent's output could not be parsed against its role's schema."""


class BusError(GwaError):
    """The broadcast bus failed."""


class BusClosed(BusError):
    """The bus is closed: nothing more can be published or subscribed."""


class HandlerError(BusError):
    """One or more subscribed handlers raised; the original exceptions are in ``errors``."""

    def __init__(self, errors: Sequence[BaseException]) -> None:
        self.errors = tuple(errors)
        kinds = ", ".join(f"{type(e).__name__}: {e}" for e in self.errors)
        super().__init__(f"{len(self.errors)} bus handler(s) failed: {kinds}")


class TraceError(GwaError):
    """A trace file cannot be read; the message names the file and line."""


class RunsError(GwaError):
    """A checkpoint store, run or checkpoint cannot be used; the message names the store, the
    run and the fix."""


class RunLocked(RunsError):
    """A run cannot be resumed or changed: a live process is running it."""
