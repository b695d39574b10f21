"""GWA's cycle beside the reference GWA implementation's tick: same model, same machine, same goal.

The reference (giansha/Global-Workspace-Agents, MIT; measured at commit aec3936) talks to an
OpenAI-compatible server only, so it runs against a fresh `llama-server` (one slot, 8,192
tokens of context, 2 threads) serving the shipped SmolLM2-135M-Instruct Q4_1 GGUF, with its
default settings (3 candidates a tick, up to 1,024 tokens a call, no output constraint). Its
goal, as the user's message, is the brainstorm scenario's; it stops at its own RESPONSE tag
or after ``--ticks``. It runs a second time with every call capped at ``--cap`` tokens
(GWA's scenario allows 160), so that the ratio does not rest on its long unconstrained
outputs alone. GWA runs the brainstorm scenario as shipped (the embedded model in process,
constrained outputs) for ``--ticks`` cycles from an empty store. They alternate, ``--repeat``
rounds each, so all see the same hours of the machine.

Compared: GWA's cycle (cycle.start → drive.update: its four model calls and memory recall)
against the reference's thinking per tick, the sum of the phases its own timing log reports
for attention, retrieval, generator, critic and arbiter (four chat calls and a chromadb
query). Left out of the tick: its embedding of the winner (the server has no embedding model;
the reference tolerates the refusal, its client retrying first) and the reply it writes on
RESPONSE, as GWA's answer is left out of its cycles. Its whole tick's wall time is reported
beside. Medians over every tick or cycle of every run; tokens from llama-server's counters.

The reference and its dependencies are not part of GWA: pass a checkout with ``--reference``
and put python-dotenv, tavily-python and tiktoken where this Python finds them (``--deps DIR``
is added to its path). tiktoken cannot download its cl100k_base table offline; the reference
then counts working-memory tokens with a stand-in (words and punctuation marks), which only
decides when it compresses (at 3,000 tokens). Its process gets no web-search key and
chromadb's telemetry off: nothing leaves the machine.

Needs ``llama-server`` beside this Python (`make llama-server`).
Run: python bench/reference.py --reference DIR [--deps DIR] [--ticks N] [--repeat R] [--cap N]
"""

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import steal_s, table, write
from llama_server import SERVER, _metrics, serve
from local_model import SCENARIO, SHIPPED, measure

from gwa import load_scenario

THINKING = ("attention", "rag_retrieve", "generator", "critic", "meta")
"""The reference's phases that make up its thinking per tick (its timing log's names)."""

DRIVER = r"""
import json, logging, random, re, sys, time
reference, goal, ticks, cap = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, reference)
import tiktoken
try:
    tiktoken.get_encoding("cl100k_base")
except Exception:  # offline: no table to download
    class Words:
        pattern = re.compile(r"\w+|[^\w\s]")
        def encode(self, text, **_):
            return [0] * len(self.pattern.findall(text))
    tiktoken.get_encoding = lambda name: Words()
phases = {}
class Phases(logging.Handler):
    def emit(self, record):
        name = re.search(r"\]\s*(\w+):", str(record.msg))
        if name and record.args:
            phases[name.group(1)] = float(record.args[1])
log = logging.getLogger("gwa.timing")
log.setLevel(logging.INFO)
log.addHandler(Phases())
random.seed(0)
from config import GWAConfig
from engine import CognitiveEngine
config = GWAConfig()
config.max_ticks = ticks
if cap:
    for role in ("attention", "generator", "critic", "meta", "response"):
        setattr(config, role + "_max_tokens", cap)
engine = CognitiveEngine(config)
start = time.perf_counter()
for snap in engine.run(goal):
    now = time.perf_counter()
    out = {"tick": snap.tick, "wall_s": now - start, "phases": dict(phases)}
    out.update(tag=snap.transition_tag, candidates=len(snap.candidates))
    out.update(winner=snap.winning_thought[:300])
    print(json.dumps(out), flush=True)
    phases.clear()
    start = now
"""


def reference_run(
    reference: Path, deps: Path | None, goal: str, ticks: int, cap: int = 0
) -> dict[str, Any]:
    """One run of the reference against a fresh llama-server (each call's tokens capped at
    ``cap``; 0: its defaults); its ticks and the server's token counters."""
    with serve(1, slot_ctx=8192) as base, tempfile.TemporaryDirectory() as cwd:
        env = dict(os.environ, GWA_API_BASE_URL=base, GWA_API_KEY="none")
        env.update(GWA_CHAT_MODEL="smollm2", GWA_EMBEDDING_MODEL="smollm2")
        # nothing leaves the machine: no web search key, no chromadb telemetry
        env.update(TAVILY_API_KEY="", ANONYMIZED_TELEMETRY="False")
        if deps is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(deps), env.get("PYTHONPATH")]))
        args = [sys.executable, "-c", DRIVER, str(reference), goal, str(ticks), str(cap)]
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"the reference failed:\n{done.stderr[-3000:]}")
        counters = _metrics(base)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for row in rows:
        row["thinking_s"] = sum(row["phases"].get(p, 0.0) for p in THINKING)
    # the reply it forces after its last tick is not a tick (no phase ran)
    ticks = [row for row in rows if "generator" in row["phases"]]
    return {
        "who": f"reference, {cap} tokens a call" if cap else "reference",
        "ticks": ticks,
        "forced_reply_s": sum(row["wall_s"] for row in rows if not row["phases"]),
        "prompt_tokens": counters["prompt_tokens_total"] + counters["prompt_tokens_cached_total"],
        "generated_tokens": counters["tokens_predicted_total"],
        "decided": any(row["tag"] == "RESPONSE" for row in ticks),
    }


def gwa_run(ticks: int) -> dict[str, Any]:
    """One run of the brainstorm scenario as shipped (see bench/local_model.py)."""
    result = asyncio.run(measure(SHIPPED, ticks, None))
    return {"who": "gwa"} | result


def _reference_side(ref: list[dict[str, Any]]) -> dict[str, Any]:
    ticks = [t for r in ref for t in r["ticks"]]
    n = max(1, len(ticks))
    return {
        "runs": len(ref),
        "ticks": len(ticks),
        "thinking_s": statistics.median(t["thinking_s"] for t in ticks),
        "whole_tick_s": statistics.median(t["wall_s"] for t in ticks),
        "prompt_tokens_per_tick": sum(r["prompt_tokens"] for r in ref) / n,
        "generated_per_tick": sum(r["generated_tokens"] for r in ref) / n,
        "decided_runs": sum(r["decided"] for r in ref),
    }


def _gwa_side(ours: list[dict[str, Any]]) -> dict[str, Any]:
    n = max(1, sum(r["cycles"] for r in ours))
    return {
        "runs": len(ours),
        "ticks": n,
        "thinking_s": statistics.median(r["mean_cycle_s"] for r in ours),
        "whole_tick_s": statistics.median(r["run_wall_s"] / r["cycles"] for r in ours),
        "prompt_tokens_per_tick": sum(r["prompt_tokens"] for r in ours) / n,
        "generated_per_tick": sum(r["completion_tokens"] for r in ours) / n,
        # an answer forced at the budget says so in the run's reason
        "decided_runs": sum(
            r["status"] == "answered" and "final_answer" not in r["reason"] for r in ours
        ),
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per side: runs, ticks (cycles), median seconds a tick (thinking; whole), tokens a
    tick (the server's counters over a run ÷ its ticks, its reply included) and the runs
    whose arbiter decided to answer (the others answer when their ticks run out)."""
    sides = dict.fromkeys(r["who"] for r in runs)
    return {
        who: (_gwa_side if who == "gwa" else _reference_side)([r for r in runs if r["who"] == who])
        for who in sides
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="its checkout")
    parser.add_argument("--deps", type=Path, help="a folder holding its extra dependencies")
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--cap", type=int, default=160, help="also run it with this many tokens a call (0: not)"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stops the server too
    if not SERVER.exists():
        parser.error(f"{SERVER} is not built: run `make llama-server`")
    if not (args.reference / "engine.py").is_file():
        parser.error(f"--reference {args.reference}: no engine.py (a checkout of the reference)")
    goal = load_scenario(SCENARIO).goal
    runs, steal = [], steal_s()
    for round_ in range(args.repeat):
        for cap in (0, args.cap) if args.cap else (0,):
            print(f"round {round_ + 1}/{args.repeat}: reference, cap {cap}", file=sys.stderr)
            runs.append(reference_run(args.reference, args.deps, goal, args.ticks, cap))
        print(f"round {round_ + 1}/{args.repeat}: gwa", file=sys.stderr, flush=True)
        runs.append(gwa_run(args.ticks))
    sides = summary(runs)
    head = ["", "runs", "ticks", "thinking s/tick", "whole s/tick", "prompt tok/tick"]
    head += ["generated tok/tick", "runs its arbiter ended"]
    print(f"goal: {goal}")
    print(table(head, [[who, *side.values()] for who, side in sides.items()]))
    ratios = {
        who: sides["gwa"]["thinking_s"] / side["thinking_s"]
        for who, side in sides.items()
        if who != "gwa"
    }
    for who, ratio in ratios.items():
        print(f"GWA cycle ÷ {who} tick (thinking): {ratio:.2f}")
    data = {"benchmark": "reference", "sides": sides, "ratios": ratios, "every_run": runs}
    data.update(steal_s=steal_s() - steal, reference_dir=str(args.reference))
    print(f"wrote {write('reference', data)}")


if __name__ == "__main__":
    main()
