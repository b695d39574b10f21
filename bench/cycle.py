"""Cycle wall time with concurrent agents, and prompt growth against a full-history chat.

Part 1: k = 1, 2, 4, 8 generator agents on FakeModel with a fixed simulated latency L, the
score policy and no other roles, so one cycle needs one model turn per agent. A round-robin
group chat would take k × L; the target is ≤ 1.2 × L at 8 agents. Reported: mean cycle time
over the cycles of the run (from each cycle.start to its drive.update in the trace).

Part 2: prompt tokens per model call after 10, 50 and 200 cycles of a 3-agent run with the
working-memory budget θ = 400, beside a full-history group chat on the same script (every
message of every earlier turn in each prompt, the reference implementation's behaviour).
Both are counted with the same estimator (4 characters a token).

Run: python bench/cycle.py [--latency 0.2]
"""

import argparse
import asyncio
import statistics
from typing import Any

from _common import table, write

from gwa import Workspace, parse_scenario
from gwa.agents.models import estimate_tokens
from gwa.agents.testing import FakeModel
from gwa.events import Event


def scenario(k: int, cycles: int, theta: int = 400) -> Any:
    agents = "\n".join(f"  - {{name: g{i}, role: generator}}" for i in range(k))
    return parse_scenario(
        f"goal: plan a garden\nagents:\n{agents}\nselection: {{policy: score}}\n"
        f"workspace: {{max_cycles: {cycles}, working_memory_tokens: {theta}}}\n"
    )


async def cycle_times(k: int, latency: float, cycles: int = 5) -> list[float]:
    events: list[Event] = []
    model = FakeModel(latency_s=latency, final_after=10**9)
    ws = Workspace(scenario(k, cycles), models={"default": model}, trace_path=False)
    ws.add_listener(events.append)
    await ws.run()
    starts = {e.cycle: e.ts for e in events if e.event == "cycle.start"}
    ends = {e.cycle: e.ts for e in events if e.event == "drive.update"}
    return [ends[c] - starts[c] for c in sorted(starts)]


async def prompt_growth(cycles: int) -> tuple[list[int], list[int]]:
    """Prompt tokens per call at each cycle: GWA, and a full-history chat on the same script."""
    model = FakeModel(final_after=10**9)
    events: list[Event] = []
    ws = Workspace(scenario(3, cycles), models={"default": model}, trace_path=False)
    ws.add_listener(events.append)
    await ws.run()
    per_cycle: dict[int, list[int]] = {}
    for e in events:
        if e.event == "model.call":
            per_cycle.setdefault(e.cycle, []).append(e.field("tokens_in"))
    gwa = [round(statistics.mean(per_cycle[c])) for c in sorted(per_cycle)]
    system = estimate_tokens(model.requests[0].messages[0].content)
    history, chat = 0, []
    for c in sorted(per_cycle):
        chat.append(system + estimate_tokens("GOAL: plan a garden") + history)
        history += sum(
            estimate_tokens(e.field("text")) + 4
            for e in events
            if e.event == "proposal" and e.cycle == c
        )
    return gwa, chat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.2, help="simulated model latency L (s)")
    args = parser.parse_args()
    latency = args.latency
    rows, part1 = [], []
    for k in (1, 2, 4, 8):
        times = asyncio.run(cycle_times(k, latency))
        mean = statistics.mean(times)
        rows.append([k, mean * 1000, mean / latency, k * latency * 1000, k])
        part1.append(
            {
                "agents": k,
                "mean_cycle_s": mean,
                "cycle_over_L": mean / latency,
                "round_robin_s": k * latency,
                "cycles": len(times),
            }
        )
    print(f"Cycle wall time, L = {latency * 1000:.0f} ms per model call")
    print(table(["agents", "cycle ms", "× L", "round-robin ms", "round-robin × L"], rows))
    gwa, chat = asyncio.run(prompt_growth(200))
    rows2, part2 = [], []
    for c in (10, 50, 200):
        rows2.append([c, gwa[c - 1], chat[c - 1]])
        part2.append(
            {"cycle": c, "gwa_prompt_tokens": gwa[c - 1], "full_history_prompt_tokens": chat[c - 1]}
        )
    print("\nPrompt tokens per model call (3 generators, θ = 400)")
    print(table(["after cycles", "GWA", "full-history chat"], rows2))
    path = write(
        "cycle",
        {
            "benchmark": "cycle",
            "latency_s": latency,
            "target": "cycle <= 1.2 L at 8 agents; prompts bounded by theta",
            "cycle_time": part1,
            "prompt_tokens": part2,
            "max_gwa_prompt_tokens": max(gwa),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
