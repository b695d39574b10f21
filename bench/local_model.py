"""The embedded local model on the flagship scenario: where a cycle's time goes.

The brainstorm scenario runs to its end on SmolLM2-135M-Instruct (seed 0) in four modes, one
after another in one process (same machine state):
- top-k grammar, kept prefixes: as shipped (the grammar checked on the top 40 tokens of a
  step, the whole vocabulary only when none of them is valid; each agent's system prompt's
  KV state kept for its next call);
- whole-vocabulary grammar, kept prefixes: llama-cpp-python's own sampler chain (the grammar
  over all 49,152 tokens at every step);
- before: whole-vocabulary grammar, no kept prefixes (GWA before issue 18);
- none: no grammar, kept prefixes (most outputs do not parse; a repair call follows).

Reported from the trace and from llama.cpp's counters (`LocalChatModel.profile`):
- tokens/s: completion tokens ÷ the summed wall time of the model calls (prompt included);
- generation tokens/s: generated tokens ÷ llama.cpp's decode time for them (no sampling);
- mean cycle: cycle.start → drive.update;
- prompt / generation / other: shares of the model calls' wall time spent evaluating prompts,
  generating, and the rest (sampling with the grammar, detokenising, Python);
- prefix hit: share of prompt tokens served from llama.cpp's KV cache (the previous prompt's
  common prefix) instead of evaluated;
- not JSON: share of the model's outputs that do not parse as JSON (the grammar's promise);
- first-try invalid: turns whose first output failed the role's checks, JSON or content (a
  thought that is mostly punctuation or holds JSON syntax is refused too; a repair follows);
- rejected: turns still invalid after the repair (agent.error RoleOutputError).

Each mode runs ``--repeat`` times, the modes interleaved (the machine's speed drifts within
minutes); the table gives the median of each figure over the repeats.

Run: python bench/local_model.py [--cycles N] [--repeat R]
"""

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from _common import table, write

from gwa import Workspace, load_scenario
from gwa.agents.llamacpp import PrefixStates
from gwa.agents.local import LocalChatModel, LocalProfile
from gwa.events import Event

SCENARIO = Path(__file__).resolve().parent.parent / "gwa" / "scenarios" / "brainstorm.yaml"
MODES = ("top-k grammar, kept prefixes", "whole-vocab grammar, kept", "before", "none")


class Outputs:
    """The model, with every output text kept (to count those that are not JSON)."""

    def __init__(self, model: LocalChatModel) -> None:
        self.model = model
        self.name = model.name
        self.texts: list[str] = []

    async def complete(self, request: Any) -> Any:
        response = await self.model.complete(request)
        self.texts.append(response.text)
        return response

    def not_json(self) -> float:
        bad = 0
        for text in self.texts:
            try:
                json.loads(text, strict=False)
            except ValueError:
                bad += 1
        return bad / len(self.texts) if self.texts else 0.0


def _model(mode: str) -> LocalChatModel:
    model = LocalChatModel.shared()
    model._llm.grammar_on_top_k = mode == MODES[0]
    model._llm.prefix_states = None if mode == "before" else PrefixStates()
    model._llm.reset()  # every mode starts with an empty KV cache
    model.profile = LocalProfile()
    return model if mode != "none" else model.unconstrained()


async def measure(mode: str, cycles: int) -> dict[str, Any]:
    scenario = load_scenario(SCENARIO)
    ws_spec = scenario.workspace.model_copy(update={"max_cycles": cycles})
    scenario = scenario.model_copy(update={"workspace": ws_spec})
    model = _model(mode)
    events: list[Event] = []
    ws = Workspace(scenario, trace_path=False)
    outputs = Outputs(model)
    ws.register_model("default", outputs)
    ws.add_listener(events.append)
    started = time.perf_counter()
    result = await ws.run()
    wall = time.perf_counter() - started
    calls = [e for e in events if e.event == "model.call"]
    turns = [c for c in calls if c.field("attempt") == 1]
    repairs = [c for c in calls if c.field("attempt") == 2]
    rejected = [
        e for e in events if e.event == "agent.error" and e.field("error_type") == "RoleOutputError"
    ]
    starts = {e.cycle: e.ts for e in events if e.event == "cycle.start"}
    ends = {e.cycle: e.ts for e in events if e.event == "drive.update"}
    tokens_out = sum(c.field("tokens_out") for c in calls)
    seconds = sum(c.field("latency_ms") for c in calls) / 1000
    p = model.profile
    return {
        "mode": mode,
        "status": result.status,
        "cycles": result.cycles,
        "run_wall_s": wall,
        "model_calls": len(calls),
        "prompt_tokens": p.prompt_tokens,
        "completion_tokens": tokens_out,
        "tokens_per_s": tokens_out / seconds if seconds else 0.0,
        "generation_tokens_per_s": p.generated / p.generate_ms * 1000 if p.generate_ms else 0.0,
        "mean_cycle_s": statistics.mean(ends[c] - starts[c] for c in ends),
        "prompt_share": p.prompt_ms / p.wall_ms,
        "generation_share": p.generate_ms / p.wall_ms,
        "other_share": 1 - (p.prompt_ms + p.generate_ms) / p.wall_ms,
        "prefix_hit_share": p.prefix_hit_share,
        "not_json_share": outputs.not_json(),
        "first_try_invalid_share": len(repairs) / len(turns) if turns else 0.0,
        "rejected_share": len(rejected) / len(turns) if turns else 0.0,
        "answer": result.answer,
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each numeric figure's median over the repeats (text: the first run's)."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in runs)
    out["repeats"] = len(runs)
    return out


def _row(r: dict[str, Any]) -> list[Any]:
    pct = "{:.0%}".format
    return [
        r["mode"],
        r["model_calls"],
        r["tokens_per_s"],
        r["generation_tokens_per_s"],
        r["mean_cycle_s"],
        pct(r["prompt_share"]),
        pct(r["generation_share"]),
        pct(r["other_share"]),
        pct(r["prefix_hit_share"]),
        pct(r["not_json_share"]),
        pct(r["first_try_invalid_share"]),
        pct(r["rejected_share"]),
        r["run_wall_s"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    every = [asyncio.run(measure(m, args.cycles)) for _ in range(args.repeat) for m in MODES]
    runs = [_median([r for r in every if r["mode"] == m]) for m in MODES]
    head = ["constraint", "calls", "tok/s", "gen tok/s", "cycle s", "prompt", "generation"]
    head += ["other", "prefix hit", "not JSON", "1st-try invalid", "rejected", "run s"]
    print("SmolLM2-135M-Instruct Q4_1 on the brainstorm scenario (seed 0)")
    print(table(head, [_row(r) for r in runs]))
    ratio = runs[0]["tokens_per_s"] / runs[3]["tokens_per_s"]
    speedup = runs[2]["mean_cycle_s"] / runs[0]["mean_cycle_s"]
    print(f"constrained tokens/s ÷ unconstrained: {ratio:.2f}; cycle before ÷ now: {speedup:.2f}")
    data = {"benchmark": "local_model", "runs": runs, "every_run": every, "ratio": ratio}
    data["cycle_speedup"] = speedup
    path = write("local_model", data)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
