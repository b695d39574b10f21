"""Fault soak: a long run on the fake model with injected model faults, killed with SIGKILL and
resumed every ~100 cycles, and (with --mqtt, when mosquitto is installed) its broker restarted
every ~150 cycles.

Reported: crashes (a process ending other than by our kill, or a run ending in ``error``;
target 0), faults traced beside faults injected (target: all), cycles lost to kills (target:
at most the one in flight), memories lost or stored twice (target 0), RSS growth per 1,000
cycles (per process, fitted after its first 20 cycles) and the checkpoint store's size.

Run: python bench/soak.py [--cycles 1000] [--kill-every 100] [--faults 0.1] [--mqtt]
       [--restart-every 150]
The test suite runs a short variant (tests/runs/test_soak.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCENARIO = """
name: soak
goal: keep a town's community garden going through a year
models:
  default: {provider: fake, final_after: 1000000000, faults: FAULTS}
agents:
  - {name: g1, role: generator}
  - {name: g2, role: generator}
  - {name: g3, role: generator}
  - {name: critic, role: critic}
selection: {policy: score}
workspace: {max_cycles: CYCLES, working_memory_tokens: 120, agent_deadline_s: 10}
drive: {window: 4, deadlock: {repeats: 1000000, low_cycles: 1000000}}
memory: {admission: learned, offer_proposals: true}
"""


@dataclass
class Soak:
    """What a soak measured."""

    cycles: int = 0
    processes: int = 0
    kills: int = 0
    broker_restarts: int = 0
    crashes: list[str] = field(default_factory=list)
    lost_cycles: list[int] = field(default_factory=list)
    """Cycles each kill lost (written after the last checkpoint)."""
    injected: int = 0
    traced: int = 0
    memories_lost: int = 0
    memories_twice: int = 0
    rss_mb_per_1000: list[float] = field(default_factory=list)
    store_kb: float = 0.0
    status: str = ""
    seconds: float = 0.0


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _slope(points: list[tuple[int, float]]) -> float | None:
    pts = points[20:]
    if len(pts) < 20:
        return None
    n = len(pts)
    mx = sum(c for c, _ in pts) / n
    my = sum(r for _, r in pts) / n
    var = sum((c - mx) ** 2 for c, _ in pts)
    return sum((c - mx) * (r - my) for c, r in pts) / var if var else None


class _Broker:
    """mosquitto on a fixed port, restartable (persistence on, like a real deployment)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        conf = folder / "mosquitto.conf"
        user = os.environ.get("USER") or "root"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
            f"persistence true\npersistence_location {folder}/\nuser {user}\n"
        )
        self.conf = conf
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(self.conf)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class _Tail:
    """Reads the trace as it grows: the last checkpointed cycle, the end of the run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.checkpoint = 0
        self.ended: dict[str, Any] | None = None

    def poll(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].splitlines():
            r = json.loads(line)
            if r["event"] == "checkpoint":
                self.checkpoint = r["cycle"]
            elif r["event"] == "run.end":
                self.ended = r
            elif r["event"] == "run.resume":
                self.checkpoint = r["cycle"]


def _command(folder: Path, resume: bool, bus: str | None) -> list[str]:
    head = ["--resume", "last"] if resume else [str(folder / "soak.yaml")]
    cmd = [
        sys.executable,
        "-m",
        "gwa",
        "run",
        *head,
        "--quiet",
        "--runs",
        str(folder / "runs.sqlite"),
    ]
    cmd += ["--memory", str(folder / "memory"), "--trace", str(folder / "soak.jsonl")]
    return [*cmd, "--bus", bus] if bus else cmd


def run_soak(
    folder: Path,
    *,
    cycles: int,
    kill_every: int,
    faults: float,
    mqtt: bool = False,
    restart_every: int = 150,
    say: Any = print,
) -> Soak:
    """Run the soak in ``folder``; what it measured."""
    (folder / "soak.yaml").write_text(
        SCENARIO.replace("CYCLES", str(cycles)).replace("FAULTS", str(faults))
    )
    broker = _Broker(folder) if mqtt else None
    if broker is not None:
        broker.start()
    bus = f"mqtt://127.0.0.1:{broker.port}" if broker else None
    soak, tail = Soak(), _Tail(folder / "soak.jsonl")
    next_kill, next_restart = kill_every, restart_every
    started = time.monotonic()
    env = {**os.environ, "GWA_FORBID_NETWORK_MODELS": "1"}
    try:
        while tail.ended is None:
            proc = subprocess.Popen(
                _command(folder, soak.processes > 0, bus),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            soak.processes += 1
            rss: list[tuple[int, float]] = []
            killed = False
            while proc.poll() is None:
                time.sleep(0.02)
                tail.poll()
                mb = _rss_mb(proc.pid)
                if mb is not None and (not rss or rss[-1][0] != tail.checkpoint):
                    rss.append((tail.checkpoint, mb))
                if broker is not None and tail.checkpoint >= next_restart:
                    broker.stop()
                    time.sleep(0.5)
                    broker.start()
                    soak.broker_restarts += 1
                    next_restart += restart_every
                if tail.checkpoint >= next_kill and tail.ended is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    killed = True
                    soak.kills += 1
                    next_kill += kill_every
                    say(f"killed at cycle {tail.checkpoint} ({time.monotonic() - started:.0f} s)")
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if not killed and proc.returncode not in (0, 1):
                soak.crashes.append(f"exit {proc.returncode}: {err.strip()[-300:]}")
                break
            slope = _slope(rss)
            if slope is not None:
                soak.rss_mb_per_1000.append(round(slope * 1000, 1))
            tail.poll()
    finally:
        if broker is not None:
            broker.stop()
    soak.seconds = time.monotonic() - started
    _judge(folder, soak, tail)
    return soak


def _judge(folder: Path, soak: Soak, tail: _Tail) -> None:
    """Read the trace, the store and the memory: what was lost, traced, stored twice."""
    from gwa import read_trace
    from gwa.memory import LongTermMemory
    from gwa.runs import open_store

    effective: list[Any] = []
    for e in read_trace(folder / "soak.jsonl"):
        if e.event == "run.resume":
            marks = [
                i for i, x in enumerate(effective) if x.event == "checkpoint" and x.cycle == e.cycle
            ]
            cut = marks[-1] + 1 if marks else 0
            soak.lost_cycles.append(len({x.cycle for x in effective[cut:] if x.cycle}))
            del effective[cut:]
            continue
        effective.append(e)
    end = tail.ended or {}
    soak.status = str(end.get("status"))
    soak.cycles = int(end.get("cycles") or 0)
    if soak.status == "error":
        soak.crashes.append(f"run.end error: {end.get('reason')}")
    calls = [e for e in effective if e.event == "model.call"]
    errors = [e for e in effective if e.event == "agent.error"]
    soak.traced = (
        sum(1 for c in calls if not c.ok)
        + sum(1 for c in calls if c.attempt == 2)
        + sum(1 for e in errors if e.error_type == "RoleOutputError")
    )
    store = open_store(folder / "runs.sqlite")
    info = store.info("last")
    state = store.get(info.run).state
    store.close()
    fake = next(iter(state["models"].values()))["state"]
    soak.injected = sum(fake["injected"].values())
    admitted = {e.memory_id for e in effective if e.event == "memory.admit"}
    memory = LongTermMemory(folder / "memory", create=False)
    try:
        stored = {r.id for r in memory.records(archived=False) if r.run == info.run}
    finally:
        memory.close()
    soak.memories_lost = len(admitted - stored)
    soak.memories_twice = len(stored - admitted)
    soak.store_kb = sum(p.stat().st_size for p in folder.glob("runs.sqlite*")) / 1024


def report(soak: Soak) -> list[list[Any]]:
    """The table rows."""
    rss = max(soak.rss_mb_per_1000) if soak.rss_mb_per_1000 else float("nan")
    return [
        ["cycles (status)", f"{soak.cycles} ({soak.status})", "as asked"],
        [
            "processes / kills / broker restarts",
            f"{soak.processes} / {soak.kills} / {soak.broker_restarts}",
            "",
        ],
        ["crashes", len(soak.crashes), "0"],
        ["faults injected / traced", f"{soak.injected} / {soak.traced}", "all traced"],
        ["cycles lost per kill (max)", max(soak.lost_cycles, default=0), "≤ 1"],
        ["memories lost / stored twice", f"{soak.memories_lost} / {soak.memories_twice}", "0 / 0"],
        ["RSS growth, MB per 1,000 cycles (max)", round(rss, 1), "—"],
        ["checkpoint store, kB", round(soak.store_kb, 1), "—"],
        ["wall time, s", round(soak.seconds, 1), "—"],
    ]


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import table, write

    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--kill-every", type=int, default=100)
    ap.add_argument("--faults", type=float, default=0.1)
    ap.add_argument("--mqtt", action="store_true", help="over MQTT, restarting mosquitto")
    ap.add_argument("--restart-every", type=int, default=150)
    args = ap.parse_args()
    mqtt = args.mqtt and (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists())
    with tempfile.TemporaryDirectory() as tmp:
        soak = run_soak(
            Path(tmp),
            cycles=args.cycles,
            kill_every=args.kill_every,
            faults=args.faults,
            mqtt=bool(mqtt),
            restart_every=args.restart_every,
        )
    rows = report(soak)
    print(table(["what", "measured", "target"], rows))
    for crash in soak.crashes:
        print("crash:", crash)
    path = write("soak", {"args": vars(args), "mqtt": bool(mqtt), **soak.__dict__})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
