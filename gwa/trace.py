"""The run trace: every event of a run as one JSON object a line, through structlog.

The trace is the contract between the cycle, the viewer, replay, evaluation and benchmarks.
Each workspace builds its own structlog logger (no global configuration), so several
workspaces can trace in one process. Secrets are redacted before anything is written, and
exceptions are recorded as type and message only (never locals or tracebacks).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError
from structlog.typing import EventDict

from gwa.errors import TraceError

TRACE_VERSION = 1
REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(?i)(api[_-]?key|secret|passw(or)?d|authorization|bearer|access[_-]?token|credential)"
)
_SECRET_ENV = re.compile(r"(?i)(key|secret|token|password|passwd|credential)")
_SECRET_VALUE = re.compile(r"(sk-[A-Za-z0-9_\-]{12,}|Bearer\s+[A-Za-z0-9._\-]{8,})")

Listener = Callable[[dict[str, Any]], None]


def secrets_from_env(env: Mapping[str, str] | None = None) -> set[str]:
    """Values of environment variables whose names look secret (``*_KEY``, ``*TOKEN`` …)."""
    env = os.environ if env is None else env
    return {v for k, v in env.items() if _SECRET_ENV.search(k) and len(v) >= 6}


class Redactor:
    """Removes secrets: fields named like credentials, known secret values, key-shaped text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self._known = re.compile("|".join(re.escape(s) for s in known)) if known else None

    def text(self, value: str) -> str:
        """A string with every secret in it replaced."""
        if self._known is not None:
            value = self._known.sub(REDACTED, value)
        return _SECRET_VALUE.sub(REDACTED, value)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                k: REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else self(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        return value


class TraceWriter:
    """Writes trace events for one run and hands each to listeners (progress, streams)."""

    def __init__(
        self,
        run: str,
        path: str | Path | None = None,
        *,
        secrets: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.run = run
        self.path = Path(path) if path is not None else None
        self.listeners: list[Listener] = []
        self._seq = 0
        self._clock = clock
        self._redact = Redactor(secrets)
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
        self._log = structlog.wrap_logger(
            structlog.PrintLogger(self._file) if self._file else structlog.ReturnLogger(),
            processors=[self._stamp, self._redact_processor, self._fanout, self._render],
        )

    def _stamp(self, _: Any, __: str, event: EventDict) -> EventDict:
        self._seq += 1
        head = {"v": TRACE_VERSION, "ts": round(self._clock(), 6), "run": self.run}
        head["seq"] = self._seq
        head["cycle"] = event.pop("cycle", None)
        head["event"] = event.pop("event")
        head["agent"] = event.pop("agent", None)
        return {**head, **event}

    def _redact_processor(self, _: Any, __: str, event: EventDict) -> EventDict:
        redacted: EventDict = self._redact(dict(event))
        return redacted

    def _fanout(self, _: Any, __: str, event: EventDict) -> EventDict:
        for listener in self.listeners:
            listener(dict(event))
        return event

    @staticmethod
    def _render(_: Any, __: str, event: EventDict) -> str:
        return json.dumps(event, ensure_ascii=False, default=str)

    def emit(
        self, event: str, *, cycle: int | None = None, agent: str | None = None, **fields: Any
    ) -> None:
        """Write one event; common fields are added, secrets removed."""
        self._log.msg(event, cycle=cycle, agent=agent, **fields)

    def close(self) -> None:
        """Close the file (events already written are flushed line by line)."""
        if self._file is not None:
            self._file.close()
            self._file = None


class TraceRecord(BaseModel):
    """One validated trace line; event-specific fields are kept as extras."""

    model_config = ConfigDict(extra="allow", frozen=True)
    v: int
    ts: float
    run: str
    seq: int
    cycle: int | None = None
    event: str
    agent: str | None = None

    def field(self, name: str, default: Any = None) -> Any:
        """An event-specific field."""
        return (self.model_extra or {}).get(name, default)


def read_trace(path: str | Path) -> Iterator[TraceRecord]:
    """Validate and yield the records of a trace file.

    Raises `TraceError` naming ``file:line`` for a missing file, a line that is not JSON, a
    record missing a common field, a schema newer than this GWA, or a sequence that goes back.
    """
    p = Path(path)
    try:
        handle = p.open(encoding="utf-8")
    except FileNotFoundError:
        raise TraceError(f"{p}: trace file not found") from None
    last_seq = 0
    with handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = TraceRecord.model_validate_json(line)
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(x) for x in first["loc"])
                what = f"{where}: {first['msg']}" if where else first["msg"]
                raise TraceError(f"{p}:{n}: not a valid trace record ({what})") from None
            if record.v > TRACE_VERSION:
                raise TraceError(
                    f"{p}:{n}: trace schema v{record.v} is newer than this GWA reads "
                    f"(v{TRACE_VERSION}); upgrade gwa"
                )
            if record.seq <= last_seq:
                raise TraceError(f"{p}:{n}: seq {record.seq} does not follow {last_seq}")
            last_seq = record.seq
            yield record
