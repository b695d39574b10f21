"""Reading a trace for the viewer: tolerant of broken lines, incremental for live mode.

The viewer never trusts a trace: each line is parsed on its own; a line that is not a JSON
object with the common fields becomes an error entry (shown in the page), never a crash or a
blank page. Records are indexed by cycle so that the page can load a compact summary of every
cycle first and fetch a cycle's events only when it is shown.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gwa.events import (
    AgentError,
    CycleStart,
    DeadlockSeen,
    DriveUpdate,
    MemoryAdmit,
    MemoryConsolidate,
    MemoryReject,
    MemoryRetrieve,
    ModelCall,
    Proposal,
    RunEnd,
    RunPause,
    RunResume,
    RunStart,
    SelectionMade,
)
from gwa.viewer.shapes import shape_problem

# The kinds the viewer folds into summaries, named by the trace contract (gwa.events). The
# viewer reads lines as plain JSON on purpose: it must show a trace with broken or foreign
# lines, and a 100,000-cycle trace must open without validating every record.
CYCLE_START, PROPOSAL, AGENT_ERROR = CycleStart.kind(), Proposal.kind(), AgentError.kind()
SELECTION, DRIVE_UPDATE, DEADLOCK = SelectionMade.kind(), DriveUpdate.kind(), DeadlockSeen.kind()
RUN_START, RUN_END, MODEL_CALL = RunStart.kind(), RunEnd.kind(), ModelCall.kind()
RUN_RESUME, RUN_PAUSE = RunResume.kind(), RunPause.kind()
MEMORY_EVENTS = (
    MemoryRetrieve.kind(),
    MemoryAdmit.kind(),
    MemoryReject.kind(),
    MemoryConsolidate.kind(),
    "memory.forget",  # written by traces of earlier versions
)
PREVIEW = 160
MAX_STRING = 20_000
"""Longer strings are cut when a cycle's events are sent to the page (`/api/event` sends one
event whole)."""
FIRST_BYTES = 8 * 1024 * 1024
"""A trace larger than this is indexed this far before it is served; the rest is indexed in
the background while the page shows the first cycles (and polls for more)."""
CHUNK_BYTES = 2 * 1024 * 1024
STALE_S = 10.0
"""A trace without ``run.end`` that has not grown for this long is shown as interrupted."""


def capped(record: dict[str, Any]) -> dict[str, Any]:
    """The record with strings longer than `MAX_STRING` cut (marked in ``_truncated``)."""
    long = [k for k, v in record.items() if isinstance(v, str) and len(v) > MAX_STRING]
    if not long and len(orjson.dumps(record)) <= 4 * MAX_STRING:
        return record
    out = {k: (v[:MAX_STRING] + " …" if k in long else v) for k, v in record.items()}
    for k, v in record.items():
        if (
            not isinstance(v, str | int | float | bool | type(None))
            and len(orjson.dumps(v)) > 4 * MAX_STRING
        ):
            out[k] = f"[{type(v).__name__} of {len(orjson.dumps(v)):,} bytes: see /api/event]"
            long.append(k)
    out["_truncated"] = long
    return out


@dataclass
class CycleSummary:
    """What the timeline and chart need of one cycle."""

    cycle: int
    temperature: float | None = None
    h: float | None = None
    winner: str | None = None
    agent: str | None = None
    tag: str | None = None
    text: str | None = None
    proposals: int = 0
    errors: int = 0
    deadlock: str | None = None
    agents: list[int] = field(default_factory=list)
    """Indexes of the agents acting in the cycle (into `TraceIndex.names`)."""
    events: list[int] = field(default_factory=list)
    """Indexes of the event kinds in the cycle (into `TraceIndex.kinds`)."""

    def observe(self, r: dict[str, Any], kind_id: int, agent_id: int | None) -> None:
        """Fold one record of this cycle into the summary."""
        kind = r["event"]
        if kind_id not in self.events:
            self.events.append(kind_id)
        if agent_id is not None and agent_id not in self.agents:
            self.agents.append(agent_id)
        if kind == CYCLE_START:
            self.temperature = r.get("temperature")
        elif kind == PROPOSAL:
            self.proposals += 1
        elif kind == AGENT_ERROR:
            self.errors += 1
        elif kind == SELECTION:
            self.winner, self.agent, self.tag = r.get("winner"), r.get("agent"), r.get("tag")
            text = r.get("text")
            self.text = text[:PREVIEW] if isinstance(text, str) else None
        elif kind == DRIVE_UPDATE:
            self.h = r.get("h")
        elif kind == DEADLOCK:
            self.deadlock = f"{r.get('step')}: {r.get('evidence')}"


class TraceIndex:
    """A trace file read so far, with per-cycle summaries; `refresh` reads what was appended."""

    def __init__(self, path: str | Path, *, first_bytes: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: trace file not found")
        self.records: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.by_cycle: dict[int, list[int]] = {}
        self.cycles: dict[int, CycleSummary] = {}
        self.memory: list[int] = []
        self.start: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None
        self.tokens = 0
        self.resumes: list[dict[str, Any]] = []
        """Each ``run.resume``: the checkpoint, and the cycles lost before it (the gap)."""
        self.pause: dict[str, Any] | None = None
        """The question of the last ``run.pause`` not yet answered."""
        self._offset = 0
        self._line = 0
        self._pending = b""
        self._cached: tuple[tuple[int, int, int, bool], bytes] | None = None
        self.names: dict[str, int] = {}
        """Agent name → index, in order of first appearance."""
        self.kinds: dict[str, int] = {}
        """Event kind → index, in order of first appearance."""
        self._lock = threading.Lock()
        self.loading = False
        """The file is still being indexed in the background (the page polls for more)."""
        limit = FIRST_BYTES if first_bytes is None else first_bytes
        if self.path.stat().st_size <= limit:
            self.refresh(final=True)
            return
        self.refresh(max_bytes=limit)
        self.loading = True
        threading.Thread(target=self._load_rest, daemon=True, name="trace-index").start()

    def _load_rest(self) -> None:
        """Index the rest of a big file in chunks (requests get the lock between them)."""
        try:
            while self.refresh(max_bytes=CHUNK_BYTES):
                time.sleep(0.005)  # let the server's threads answer the page between chunks
            self.refresh(final=True)
        except OSError as exc:  # the file went away (or became unreadable) mid-way
            with self._lock:
                self._error(self._line + 1, f"indexing stopped: {exc.strerror or exc}")
        finally:
            self.loading = False

    def refresh(self, *, final: bool = False, max_bytes: int | None = None) -> int:
        """Read lines appended since the last call (at most ``max_bytes``); how many bytes
        were read. A last line without a newline is kept for later while live, and reported
        as truncated when ``final``."""
        with self._lock, self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read() if max_bytes is None else f.read(max_bytes)
            data = self._pending + chunk
            self._offset = f.tell()
            *lines, self._pending = data.split(b"\n")
            paused = gc.isenabled() and len(lines) > 10_000
            if paused:  # bulk load: only new acyclic dicts, so collection passes are wasted work
                gc.disable()
            try:
                for raw in lines:
                    self._line += 1
                    self._take(raw, self._line)
            finally:
                if paused:
                    gc.enable()
            if final and self._pending.strip():
                self._line += 1
                self._error(self._line, "truncated line (no newline at the end of the file)")
                self._pending = b""
        return len(chunk)

    def _error(self, line: int, message: str) -> None:
        self.errors.append({"line": line, "message": message})

    def _take(self, raw: bytes, line: int) -> None:
        if not raw.strip():
            return
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._error(line, f"not JSON: {exc}")
            return
        if not isinstance(record, dict) or not isinstance(record.get("event"), str):
            self._error(line, "not a trace record (no 'event' field)")
            return
        if not isinstance(record.get("seq"), int):
            self._error(line, "not a trace record (no integer 'seq')")
            return
        problem = shape_problem(record)
        if problem is not None:
            self._error(line, f"skipped: {problem}")
            return
        record["_line"] = line
        index = len(self.records)
        self.records.append(record)
        self._summarise(record, index)

    def _summarise(self, r: dict[str, Any], index: int) -> None:
        kind = r["event"]
        kind_id = self.kinds.setdefault(kind, len(self.kinds))
        if kind == RUN_START:
            self.start = r
        elif kind == RUN_END:
            self.end = r
        elif kind == MODEL_CALL:
            self.tokens += int(r.get("tokens_in") or 0) + int(r.get("tokens_out") or 0)
        elif kind == RUN_RESUME:
            self._resumed(r)
        elif kind == RUN_PAUSE:
            self.pause = {k: r.get(k) for k in ("cycle", "point", "question", "text")}
        if kind in MEMORY_EVENTS:
            self.memory.append(index)
        cycle = r.get("cycle")
        if not isinstance(cycle, int):
            return
        self.by_cycle.setdefault(cycle, []).append(index)
        summary = self.cycles.get(cycle)
        if summary is None:
            summary = self.cycles[cycle] = CycleSummary(cycle)
        agent = r.get("agent")
        agent_id = self.names.setdefault(agent, len(self.names)) if isinstance(agent, str) else None
        summary.observe(r, kind_id, agent_id)

    def _resumed(self, r: dict[str, Any]) -> None:
        """A resume from cycle k: what later cycles wrote before it was lost with its process
        (or, for a fork, never happened in this run); it leaves the cycle summaries, and the
        gap is listed."""
        k = int(r.get("cycle") or 0)
        lost = sorted(c for c in self.cycles if c > k)
        events = sum(len(self.by_cycle.pop(c, [])) for c in lost)
        for c in lost:
            del self.cycles[c]
        self.end = self.pause = None
        self.resumes.append(
            {
                "seq": r.get("seq"),
                "checkpoint": r.get("checkpoint"),
                "cycle": k,
                "fork": bool(r.get("fork")),
                "decision": r.get("decision"),
                "lost_cycles": lost,
                "lost_events": events,
            }
        )

    def summary(self, since: int = 0) -> dict[str, Any]:
        """Run facts, the cycles from ``since`` on (columnar: one list per field; agents and
        event kinds as indexes into ``names`` and ``kinds``), and every broken line."""
        with self._lock:
            ordered = sorted(self.cycles)[since:]
            start, end = self.start or {}, self.end or {}
            agents = start.get("agents") or []
            roles = {str(a.get("name")): a.get("role") for a in agents if isinstance(a, dict)}
            rows = [self.cycles[c] for c in ordered]
            return {
                "path": str(self.path),
                "run": start.get("run"),
                "scenario": start.get("scenario"),
                "goal": start.get("goal"),
                "model": start.get("model"),
                "agents": roles,
                "status": end.get("status") or ("loading" if self.loading else self._unfinished()),
                "reason": end.get("reason"),
                "answer": end.get("answer"),
                "duration_s": end.get("duration_s"),
                "tokens": self.tokens,
                "events": len(self.records),
                "names": list(self.names),
                "kinds": list(self.kinds),
                "done": self.end is not None and not self.loading,
                "loading": self.loading,
                "total_cycles": len(self.cycles),
                "since": since,
                "columns": {
                    "cycle": [c.cycle for c in rows],
                    "temperature": [c.temperature for c in rows],
                    "h": [c.h for c in rows],
                    "winner": [c.winner for c in rows],
                    "agent": [c.agent for c in rows],
                    "tag": [c.tag for c in rows],
                    "text": [c.text for c in rows],
                    "proposals": [c.proposals for c in rows],
                    "errors": [c.errors for c in rows],
                    "deadlock": [c.deadlock for c in rows],
                    "agents": [c.agents for c in rows],
                    "events": [c.events for c in rows],
                },
                "errors": list(self.errors),
                "resumes": list(self.resumes),
                "pause": self.pause,
            }

    def _unfinished(self) -> str:
        """A trace with no ``run.end``: still written (``running``), or left behind by a run
        that was killed (``interrupted``: the file has not grown for `STALE_S`)."""
        try:
            idle = time.time() - self.path.stat().st_mtime
        except OSError:
            return "interrupted"
        return "interrupted" if idle > STALE_S else "running"

    def summary_json(self, since: int = 0) -> bytes:
        """`summary` encoded, cached until the trace grows (a large trace is encoded once)."""
        key = (since, len(self.records), len(self.errors), self.loading)
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, orjson.dumps(self.summary(since), option=orjson.OPT_NON_STR_KEYS))
        return self._cached[1]

    def cycle(self, n: int) -> list[dict[str, Any]]:
        """Every record of cycle ``n``, in trace order."""
        with self._lock:
            return [capped(self.records[i]) for i in self.by_cycle.get(n, [])]

    def event(self, seq: int) -> dict[str, Any] | None:
        """One record whole, by its ``seq`` (for a field `cycle` cut)."""
        with self._lock:
            return next((r for r in self.records if r.get("seq") == seq), None)

    def search(self, query: str, limit: int = 10_000) -> list[int]:
        """Cycles with an event whose text fields contain ``query`` (case-insensitive)."""
        needle = query.casefold()
        found: set[int] = set()
        with self._lock:
            for r in self.records:
                cycle = r.get("cycle")
                if isinstance(cycle, int) and cycle not in found and needle in _text_of(r):
                    found.add(cycle)
                    if len(found) >= limit:
                        break
        return sorted(found)

    def memory_events(self, offset: int = 0, limit: int = 500) -> dict[str, Any]:
        """Memory events (retrievals, admissions, rejections …), paged."""
        with self._lock:
            chosen = self.memory[offset : offset + limit]
            return {
                "total": len(self.memory),
                "offset": offset,
                "events": [capped(self.records[i]) for i in chosen],
            }


def _text_of(record: dict[str, Any]) -> str:
    parts = [v for k, v in record.items() if isinstance(v, str) and k not in ("run", "event")]
    return " ".join(parts).casefold()
