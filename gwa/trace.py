"""The run trace: every event of a run as one JSON object a line, through structlog.

The trace is the contract between the cycle, the viewer, replay, evaluation and benchmarks.
Each workspace builds its own structlog logger (no global configuration), so several
workspaces can trace in one process. Secrets are redacted before anything is written, and
exceptions are recorded as type and message only (never locals or tracebacks).
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import structlog
from pydantic import ValidationError
from structlog.typing import EventDict

from gwa.errors import TraceError
from gwa.events import TRACE_VERSION, Event, OtherEvent, parse_event, to_record

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(?i)(api[_-]?key|secret|passw(or)?d|authorization|bearer|access[_-]?token|credential)"
)
_SECRET_KEY_LOWER = re.compile(_SECRET_KEY.pattern.removeprefix("(?i)"))
_SECRET_KEY_ANCHORS = ("key", "secret", "passw", "authorization", "bearer", "access", "credential")
"""One of these is in every match of `_SECRET_KEY`, one an alternative (a substring test is
several times faster than the alternation, and most texts hold none): change them together
(`tests/test_trace.py` tries a name for every alternative)."""
ASCII_FOLDS = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}
"""The only characters beyond ASCII that a case-blind ``[a-z]`` matches (İ, ı, ſ, the Kelvin
sign): mapped to their letter, a text's lower case matches `_SECRET_KEY_LOWER` exactly where
the text matches `_SECRET_KEY`."""
_FOLDED = tuple(map(chr, ASCII_FOLDS))
_SECRET_ENV = re.compile(r"(?i)(key|secret|token|password|passwd|credential)")
_SECRET_VALUE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{12,}|Bearer\s+[A-Za-z0-9._\-]{8,}"
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@))"  # user:password@ in a URL
)

Listener = Callable[[Event], None]


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    """Whether a field name looks like a credential (field names repeat: cached)."""
    return _SECRET_KEY.search(key) is not None


def secrets_from_env(env: Mapping[str, str] | None = None) -> set[str]:
    """Values of environment variables whose names look secret (``*_KEY``, ``*TOKEN`` …)."""
    env = os.environ if env is None else env
    return {v for k, v in env.items() if _SECRET_ENV.search(k) and len(v) >= 6}


class Redactor:
    """Removes secrets: fields named like credentials, known secret values, key-shaped text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self._known = re.compile("|".join(re.escape(s) for s in known)) if known else None
        # A secret JSON escapes (a quote, a backslash, a control character) may not appear
        # verbatim in JSON text: then `clean` cannot vouch for a text and always says no.
        self._verbatim = all(json.dumps(s, ensure_ascii=False)[1:-1] == s for s in known)

    def clean(self, text: str) -> bool:
        """Whether the JSON text of a value certainly holds nothing to redact, so the value
        can be written as it is (the common case, checked without walking the value).

        Everything `__call__` replaces shows in the text verbatim: credential-like field
        names, known secrets (unless one needs escaping) and the triggers of key-shaped
        text; a false alarm only costs the walk.
        """
        if not self._verbatim or "sk-" in text or "://" in text:
            return False
        if self._known is not None and self._known.search(text) is not None:
            return False
        # The same test on lower case (case-blind regexes are slow, on any text).
        lower = text.lower()
        if not text.isascii() and any(c in text for c in _FOLDED):  # rare
            lower = text.translate(ASCII_FOLDS).lower()  # (translate is slow)
        if not any(anchor in lower for anchor in _SECRET_KEY_ANCHORS):
            return True
        return _SECRET_KEY_LOWER.search(lower) is None

    def text(self, value: str) -> str:
        """A string with every secret in it replaced."""
        if self._known is not None:
            value = self._known.sub(REDACTED, value)
        # What _SECRET_VALUE can match contains one of these; most strings contain none.
        if "sk-" in value or "Bearer" in value or "://" in value:
            value = _SECRET_VALUE.sub(REDACTED, value)
        return value

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                k: REDACTED if isinstance(k, str) and _secret_key(k) else self(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        return value


class TraceWriter:
    """Writes the typed events of one run and hands each to listeners (progress, streams)."""

    def __init__(
        self,
        run: str,
        path: str | Path | None = None,
        *,
        secrets: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        append: bool = False,
        seq: int = 0,
    ) -> None:
        self.run = run
        self.path = Path(path) if path is not None else None
        self.listeners: list[Listener] = []
        self.record_listeners: list[Callable[[dict[str, Any]], None]] = []
        """Called with each record as written (JSON data, secrets removed): no typed event
        is built for them."""
        self.line_listeners: list[Callable[[dict[str, Any], str], None]] = []
        """Called with each record as written and its JSON text (the trace file's line)."""
        self._seq = seq
        self._clock = clock
        self._redact = Redactor(secrets)
        self._file: IO[str] | None = None
        self._written: EventDict | None = None
        self._line = ""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a" if append else "w", encoding="utf-8")
        self._log = structlog.wrap_logger(
            structlog.PrintLogger(self._file) if self._file else structlog.ReturnLogger(),
            processors=[self._stamp, self._redact_render],
        )

    @property
    def seq(self) -> int:
        """The sequence number of the last event written."""
        return self._seq

    @property
    def closed(self) -> bool:
        """Whether `close` was called (nothing more is written)."""
        return self._log is None

    def _stamp(self, _: Any, __: str, event: EventDict) -> EventDict:
        self._seq += 1
        record: Event = event.pop("record")
        data = to_record(record)
        data.update(v=TRACE_VERSION, ts=round(self._clock(), 6), run=self.run, seq=self._seq)
        return data

    def _redact_render(self, _: Any, __: str, event: EventDict) -> str:
        """The record's JSON line, secrets removed (walked only when its text needs it)."""
        text = json.dumps(event, ensure_ascii=False, default=str)
        if not self._redact.clean(text):
            event = self._redact(dict(event))
            text = json.dumps(event, ensure_ascii=False, default=str)
        self._written, self._line = event, text
        return text

    def emit(self, event: Event) -> None:
        """Write one event (stamped with the common fields, secrets removed), then hand the
        written record, typed, to each listener; a listener that raises cannot unwrite it."""
        if self._log is None:
            return
        self._log.msg("", record=event)
        written, self._written = self._written, None
        if written is None:
            return
        for hear in self.record_listeners:
            hear(dict(written))
        for line_heard in self.line_listeners:
            line_heard(dict(written), self._line)
        if not self.listeners:
            return
        try:
            typed = parse_event(written)
        except ValidationError:  # redaction replaced a typed value: hand on what was written
            typed = OtherEvent.model_validate(written)
        for listener in self.listeners:
            listener(typed)

    def close(self) -> None:
        """Close the file (events already written are flushed line by line); idempotent."""
        self._log = None
        if self._file is not None:
            self._file.close()
            self._file = None


TraceRecord = Event
"""A record read from a trace (the typed event of its kind)."""


def read_trace(path: str | Path) -> Iterator[Event]:
    """Validate and yield the typed records of a trace file.

    Raises `TraceError` naming ``file:line`` for a missing file, a line that is not JSON, a
    record missing a common field or with a wrong-typed one, a schema newer than this GWA,
    or a sequence that goes back.
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
            record = _parse_line(p, n, line)
            if record.seq <= last_seq:
                raise TraceError(f"{p}:{n}: seq {record.seq} does not follow {last_seq}")
            last_seq = record.seq
            yield record


def _parse_line(p: Path, n: int, line: str) -> Event:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise TraceError(f"{p}:{n}: not a valid trace record (invalid JSON: {exc})") from None
    if not isinstance(data, dict):
        raise TraceError(f"{p}:{n}: not a valid trace record (not a JSON object)")
    missing = [k for k in ("v", "ts", "run", "seq", "event") if k not in data]
    if missing:
        raise TraceError(f"{p}:{n}: not a valid trace record ({missing[0]}: Field required)")
    version = data.get("v")
    if isinstance(version, int) and version > TRACE_VERSION:
        raise TraceError(
            f"{p}:{n}: trace schema v{version} is newer than this GWA reads "
            f"(v{TRACE_VERSION}); upgrade gwa"
        )
    try:
        return parse_event(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in first["loc"])
        what = f"{where}: {first['msg']}" if where else first["msg"]
        raise TraceError(f"{p}:{n}: not a valid trace record ({what})") from None
