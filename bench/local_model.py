"""The embedded local model on the flagship scenario, with and without constrained decoding.

For each mode the brainstorm scenario runs once to its end on SmolLM2-135M-Instruct (seed 0).
Reported from the trace:
- tokens/s: completion tokens ÷ the summed latency of the model calls;
- mean cycle time: cycle.start → drive.update;
- first-try parse failures: agent turns whose first output did not parse (a repair followed);
- rejected outputs: turns still unparseable after the repair (agent.error RoleOutputError).

Run: python bench/local_model.py [--cycles N]
"""

import argparse
import asyncio
import statistics
from pathlib import Path
from typing import Any

from _common import table, write

from gwa import Workspace, load_scenario
from gwa.agents.local import LocalChatModel
from gwa.events import Event

SCENARIO = Path(__file__).resolve().parent.parent / "gwa" / "scenarios" / "brainstorm.yaml"


async def measure(constrained: bool, cycles: int) -> dict[str, Any]:
    scenario = load_scenario(SCENARIO)
    ws_spec = scenario.workspace.model_copy(update={"max_cycles": cycles})
    scenario = scenario.model_copy(update={"workspace": ws_spec})
    model = LocalChatModel.shared()
    events: list[Event] = []
    ws = Workspace(scenario, trace_path=False)
    ws.register_model("default", model if constrained else model.unconstrained())
    ws.add_listener(events.append)
    result = await ws.run()
    calls = [e for e in events if e.event == "model.call"]
    turns = [c for c in calls if c["attempt"] == 1]
    repairs = [c for c in calls if c["attempt"] == 2]
    rejected = [
        e for e in events if e.event == "agent.error" and e.field("error_type") == "RoleOutputError"
    ]
    starts = {e.cycle: e.ts for e in events if e.event == "cycle.start"}
    ends = {e.cycle: e.ts for e in events if e.event == "drive.update"}
    tokens_out = sum(c["tokens_out"] for c in calls)
    seconds = sum(c["latency_ms"] for c in calls) / 1000
    return {
        "constrained": constrained,
        "status": result.status,
        "cycles": result.cycles,
        "model_calls": len(calls),
        "completion_tokens": tokens_out,
        "tokens_per_s": tokens_out / seconds if seconds else 0.0,
        "mean_cycle_s": statistics.mean(ends[c] - starts[c] for c in ends),
        "first_try_parse_failure_share": len(repairs) / len(turns) if turns else 0.0,
        "rejected_share": len(rejected) / len(turns) if turns else 0.0,
        "answer": result.answer,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=5)
    args = parser.parse_args()
    runs = [asyncio.run(measure(mode, args.cycles)) for mode in (True, False)]
    rows = [
        [
            "grammar" if r["constrained"] else "none",
            r["model_calls"],
            r["tokens_per_s"],
            r["mean_cycle_s"],
            f"{100 * r['first_try_parse_failure_share']:.0f}%",
            f"{100 * r['rejected_share']:.0f}%",
            r["status"],
        ]
        for r in runs
    ]
    print("SmolLM2-135M-Instruct Q4_1 on the brainstorm scenario (seed 0)")
    print(
        table(
            [
                "constraint",
                "calls",
                "tokens/s",
                "cycle s",
                "1st-try unparseable",
                "rejected",
                "status",
            ],
            rows,
        )
    )
    path = write("local_model", {"benchmark": "local_model", "runs": runs})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
