"""Does the entropy drive break agreement loops? Fixed temperature 0.7 against the drive.

The shipped echo-chamber scenario (agents told to agree with and restate the last winner)
runs on the embedded local model, or on an OpenAI-compatible endpoint with --endpoint
(OPENAI_BASE_URL / OPENAI_API_KEY / GWA_MODEL), for several seeds in each mode. Per run:
- repeated-winner rate: share of consecutive winners with cosine similarity >= 0.9 (MiniLM);
- mean pairwise semantic distance (1 - cosine) over all winners of the run;
- distinct-2: distinct word bigrams / all bigrams over the winners' texts;
- unparseable share: agent turns rejected after the repair attempt;
- cycles to an answer (the first response), or none within max_cycles; and the status;
- winners / cycles: cycles where inhibition of return left no winner do not count.
Means over seeds are printed and written to bench/results/deadlock.json with every run.

Run: python bench/deadlock.py [--seeds 5] [--endpoint] [--baseline OLD.json]
(--baseline reuses the fixed-temperature runs of an earlier results file: seeded, they do
not change unless the model, the scenario or the prompts do, and never touch drive code.)
"""

import argparse
import asyncio
import itertools
import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np
from _common import table, write

from gwa import Workspace, load_scenario
from gwa.events import Event
from gwa.memory.embeddings import MiniLMEmbedder
from gwa.scenario import ModelSpec

SCENARIO = Path(__file__).resolve().parent.parent / "gwa" / "scenarios" / "echo-chamber.yaml"


def distinct2(texts: list[str]) -> float:
    bigrams = [
        tuple(w[i : i + 2]) for t in texts for w in [t.lower().split()] for i in range(len(w) - 1)
    ]
    return len(set(bigrams)) / len(bigrams) if bigrams else 0.0


async def one_run(mode: str, seed: int, endpoint: bool) -> dict[str, Any]:
    s = load_scenario(SCENARIO)
    ws_spec = s.workspace.model_copy(update={"seed": seed, "temperature": 0.7})
    s = s.model_copy(update={"workspace": ws_spec, "drive": s.drive if mode == "drive" else None})
    override = ModelSpec(provider="openai") if endpoint else ModelSpec(provider="local")
    events: list[Event] = []
    ws = Workspace(s, model_override=override, trace_path=False)
    ws.add_listener(events.append)
    result = await ws.run()
    winners = [e.field("text") for e in events if e.event == "selection" and e.field("text")]
    vectors = MiniLMEmbedder.shared().embed(winners)
    pairs = [float(vectors[i] @ vectors[i + 1]) for i in range(len(winners) - 1)]
    all_pairs = [
        1 - float(vectors[i] @ vectors[j])
        for i, j in itertools.combinations(range(len(winners)), 2)
    ]
    turns = [e for e in events if e.event == "model.call" and e.field("attempt") == 1]
    rejected = [
        e for e in events if e.event == "agent.error" and e.field("error_type") == "RoleOutputError"
    ]
    responses = [e.cycle for e in events if e.event == "response"]
    temps = [e.field("temperature") for e in events if e.event == "cycle.start"]
    return {
        "mode": mode,
        "seed": seed,
        "status": result.status,
        "cycles": result.cycles,
        "repeated_winner_rate": sum(p >= 0.9 for p in pairs) / len(pairs) if pairs else 0.0,
        "mean_pairwise_distance": statistics.mean(all_pairs) if all_pairs else 0.0,
        "distinct_2": distinct2(winners),
        "unparseable_share": len(rejected) / len(turns) if turns else 0.0,
        "cycles_to_answer": responses[0] if responses else None,
        "temperature_range": [min(temps), max(temps)] if temps else None,
        "deadlock_steps": [e.field("step") for e in events if e.event == "deadlock"],
        "winners": winners,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in runs]))

    answered = [r["cycles_to_answer"] for r in runs if r["cycles_to_answer"] is not None]
    return {
        "runs": len(runs),
        "repeated_winner_rate": mean("repeated_winner_rate"),
        "mean_pairwise_distance": mean("mean_pairwise_distance"),
        "distinct_2": mean("distinct_2"),
        "unparseable_share": mean("unparseable_share"),
        "answered_runs": len(answered),
        "mean_cycles_to_answer": statistics.mean(answered) if answered else None,
        "stalled_runs": sum(r["status"] == "stalled" for r in runs),
        "winners": sum(len(r["winners"]) for r in runs),
        "cycles": sum(r["cycles"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--endpoint", action="store_true", help="use OPENAI_BASE_URL instead of the local model"
    )
    parser.add_argument(
        "--baseline", type=Path, help="reuse the fixed runs of this earlier results file"
    )
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    modes = ["fixed", "drive"]
    if args.baseline:
        runs += [r for r in json.loads(args.baseline.read_text())["runs"] if r["mode"] == "fixed"]
        modes = ["drive"]
        print(f"  fixed runs reused from {args.baseline}", flush=True)
    for mode in modes:
        for seed in range(args.seeds):
            run = asyncio.run(one_run(mode, seed, args.endpoint))
            runs.append(run)
            print(
                f"  {mode} seed {seed}: {run['status']} after {run['cycles']} cycles, "
                f"repeated {run['repeated_winner_rate']:.2f}",
                flush=True,
            )
    summary = {
        mode: summarise([r for r in runs if r["mode"] == mode]) for mode in ("fixed", "drive")
    }
    rows = [
        [
            "fixed T=0.7" if mode == "fixed" else "entropy drive",
            f"{s['repeated_winner_rate']:.2f}",
            f"{s['mean_pairwise_distance']:.3f}",
            f"{s['distinct_2']:.3f}",
            f"{100 * s['unparseable_share']:.1f}%",
            f"{s['answered_runs']}/{s['runs']}",
            "-" if s["mean_cycles_to_answer"] is None else f"{s['mean_cycles_to_answer']:.1f}",
            s["stalled_runs"],
            f"{s['winners']}/{s['cycles']}",
        ]
        for mode, s in summary.items()
    ]
    print(
        table(
            [
                "mode",
                "repeated",
                "pairwise dist",
                "distinct-2",
                "unparseable",
                "answered",
                "cycles to answer",
                "stalled",
                "winners/cycles",
            ],
            rows,
        )
    )
    fixed, drive = (
        summary["fixed"]["repeated_winner_rate"],
        summary["drive"]["repeated_winner_rate"],
    )
    verdict = (
        drive <= fixed / 2
        and summary["drive"]["unparseable_share"] <= summary["fixed"]["unparseable_share"]
    )
    print(
        "target (repeated-winner rate at most half, no more unparseable output): "
        + ("met" if verdict else "not met")
    )
    path = write(
        "deadlock",
        {
            "benchmark": "deadlock",
            "model": "endpoint" if args.endpoint else "local",
            "summary": summary,
            "target_met": verdict,
            "runs": runs,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
