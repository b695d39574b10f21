"""The embedded local model on the flagship scenario: where a cycle's time goes.

The brainstorm scenario runs to its end on SmolLM2-135M-Instruct (seed 0) in five modes, one
after another in one process (same machine state):
- instructions first (shipped): each agent's instructions (its system message) first, as
  agents render them; the grammar checked on the top 40 tokens of a step (the whole
  vocabulary only when none of them is valid); the KV state of a prompt's first message kept
  for its next call;
- shared-first: the same with the workspace state before each agent's instructions
  (``layout="shared-first"``), so the agents of a cycle share it in llama.cpp's KV cache;
- free prose: as shipped but the prose fields' grammar is any JSON string (before 2 December
  2026: the shipped grammar makes a thought open with a letter or digit and hold no brackets,
  braces or double quotes);
- whole-vocab grammar: llama-cpp-python's own sampler chain (the grammar over all 49,152
  tokens at every step);
- before issue 18: whole-vocabulary grammar, no kept prefixes, free prose;
- none: as shipped with no grammar (most outputs do not parse; a repair call follows).

Every run starts from the same long-term memory: an empty store, or a copy of
``--memory-from DIR`` (the memory a user's earlier runs left, e.g. ``.gwa/memory``).

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
- rejected: turns still invalid after the repair (agent.error RoleOutputError);
- on topic / copied (rough signs of what the layout does to the thoughts, not a judge of
  their quality): the share of proposed thoughts that share a content word with the goal, and
  the share that repeat a line of their own prompt word for word (a recalled memory, the
  last winner).

Each mode runs ``--repeat`` times, the modes interleaved (the machine's speed drifts within
minutes); the table gives the median of each figure over the repeats.

Run: python bench/local_model.py [--cycles N] [--repeat R] [--memory-from DIR]
"""

import argparse
import asyncio
import json
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import table, write

from gwa import Workspace, load_scenario
from gwa.agents.llamacpp import PrefixStates
from gwa.agents.local import LocalChatModel, LocalProfile
from gwa.events import Event

SCENARIO = Path(__file__).resolve().parent.parent / "gwa" / "scenarios" / "brainstorm.yaml"
MODES: dict[str, dict[str, Any]] = {
    "instructions first (shipped)": {"top_k": True, "keep": True, "layout": "as-given"},
    "shared-first layout": {"top_k": True, "keep": True, "layout": "shared-first"},
    "free prose": {"top_k": True, "keep": True, "layout": "as-given", "prose": False},
    "whole-vocab grammar": {"top_k": False, "keep": True, "layout": "as-given"},
    "before issue 18": {"top_k": False, "keep": False, "layout": "as-given", "prose": False},
    "none (no grammar)": {"top_k": True, "keep": True, "layout": "as-given", "free": True},
}
SHIPPED, BEFORE, NONE = "instructions first (shipped)", "before issue 18", "none (no grammar)"
SHARED = "shared-first layout"
STOP = frozenset(
    [
        "that",
        "this",
        "with",
        "from",
        "have",
        "will",
        "into",
        "your",
        "their",
        "about",
        "which",
        "more",
    ]
)


def _words(text: str) -> set[str]:
    """Content words, cut to 5 letters (teen, teenage and teenagers meet)."""
    return {w[:5] for w in re.findall(r"[a-z]{4,}", text.lower()) if w not in STOP}


class Outputs:
    """The model, with every output text kept (to count those that are not JSON)."""

    def __init__(self, model: LocalChatModel) -> None:
        self.model = model
        self.name = model.name
        self.texts: list[str] = []
        self.thoughts: list[tuple[str, str]] = []  # (a proposed thought, its prompt)

    async def complete(self, request: Any) -> Any:
        response = await self.model.complete(request)
        self.texts.append(response.text)
        try:
            candidates = json.loads(response.text, strict=False).get("candidates") or []
        except (ValueError, AttributeError):
            candidates = []
        prompt = "\n".join(m.content for m in request.messages)
        for c in candidates:
            if isinstance(c, dict) and isinstance(c.get("text"), str):
                self.thoughts.append((c["text"], prompt))
        return response

    def on_topic(self, goal: str) -> float:
        """Share of the proposed thoughts with a content word of the goal."""
        words = _words(goal)
        hits = [bool(_words(text) & words) for text, _ in self.thoughts]
        return sum(hits) / len(hits) if hits else 0.0

    def copied(self) -> float:
        """Share of the proposed thoughts found word for word in their own prompt."""
        hits = [len(t.strip()) > 8 and t.strip().lower() in p.lower() for t, p in self.thoughts]
        return sum(hits) / len(hits) if hits else 0.0

    def not_json(self) -> float:
        bad = 0
        for text in self.texts:
            try:
                json.loads(text, strict=False)
            except ValueError:
                bad += 1
        return bad / len(self.texts) if self.texts else 0.0


def _model(mode: str) -> LocalChatModel:
    settings = MODES[mode]
    model = LocalChatModel.shared()
    model._llm.grammar_on_top_k = settings["top_k"]
    model._llm.prefix_states = PrefixStates() if settings["keep"] else None
    model._llm.reset()  # every mode starts with an empty KV cache
    model.profile = LocalProfile()
    model = model.with_layout(settings["layout"])._view(prose=settings.get("prose", True))
    return model.unconstrained() if settings.get("free") else model


async def measure(mode: str, cycles: int, memory_from: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gwa-bench-memory-") as tmp:
        store = Path(tmp) / "memory"
        if memory_from is not None:
            shutil.copytree(memory_from, store)
        return await _measure(mode, cycles, store)


async def _measure(mode: str, cycles: int, store: Path) -> dict[str, Any]:
    scenario = load_scenario(SCENARIO)
    ws_spec = scenario.workspace.model_copy(update={"max_cycles": cycles})
    memory = scenario.memory.model_copy(update={"path": str(store)})
    scenario = scenario.model_copy(update={"workspace": ws_spec, "memory": memory})
    model = _model(mode)
    events: list[Event] = []
    ws = Workspace(scenario, trace_path=False)
    outputs = Outputs(model)
    ws.register_model("default", outputs)
    ws.add_listener(events.append)
    started = time.perf_counter()
    result = await ws.run()
    wall = time.perf_counter() - started
    figures = trace_figures(events)
    seconds = figures.pop("model_seconds")
    p = model.profile
    return {
        "mode": mode,
        "status": result.status,
        "cycles": result.cycles,
        "run_wall_s": wall,
        "prompt_tokens": p.prompt_tokens,
        **figures,
        "tokens_per_s": figures["completion_tokens"] / seconds if seconds else 0.0,
        "generation_tokens_per_s": p.generated / p.generate_ms * 1000 if p.generate_ms else 0.0,
        "prompt_share": p.prompt_ms / p.wall_ms,
        "generation_share": p.generate_ms / p.wall_ms,
        "other_share": 1 - (p.prompt_ms + p.generate_ms) / p.wall_ms,
        "prefix_hit_share": p.prefix_hit_share,
        "not_json_share": outputs.not_json(),
        "on_topic_share": outputs.on_topic(scenario.goal),
        "copied_share": outputs.copied(),
        "thoughts": [text for text, _ in outputs.thoughts],
        "answer": result.answer,
        "reason": result.reason,
    }


def trace_figures(events: list[Event]) -> dict[str, Any]:
    """What a run's events say: model calls, completion tokens, the calls' summed seconds, the
    mean cycle (cycle.start → drive.update), first-try invalid and rejected shares."""
    calls = [e for e in events if e.event == "model.call"]
    turns = [c for c in calls if c.field("attempt") == 1]
    repairs = [c for c in calls if c.field("attempt") == 2]
    rejected = [
        e for e in events if e.event == "agent.error" and e.field("error_type") == "RoleOutputError"
    ]
    starts = {e.cycle: e.ts for e in events if e.event == "cycle.start"}
    ends = {e.cycle: e.ts for e in events if e.event == "drive.update"}
    return {
        "model_calls": len(calls),
        "completion_tokens": sum(c.field("tokens_out") for c in calls),
        "model_seconds": sum(c.field("latency_ms") for c in calls) / 1000,
        "mean_cycle_s": statistics.mean(ends[c] - starts[c] for c in ends),
        "first_try_invalid_share": len(repairs) / len(turns) if turns else 0.0,
        "rejected_share": len(rejected) / len(turns) if turns else 0.0,
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
        pct(r["on_topic_share"]),
        pct(r["copied_share"]),
        r["run_wall_s"],
    ]


def _chosen(starts: str, parser: argparse.ArgumentParser) -> list[str]:
    """The modes whose names start with one of the comma-separated ``starts`` (all if none)."""
    wanted = [w.strip() for w in starts.split(",") if w.strip()]
    for w in wanted:
        if not any(m.startswith(w) for m in MODES):
            parser.error(f"--modes {w!r}: no such mode; the modes are {', '.join(MODES)}")
    return [m for m in MODES if not wanted or any(m.startswith(w) for w in wanted)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--memory-from", type=Path, default=None, help="a store to start from")
    parser.add_argument("--modes", default="", help="comma-separated starts of mode names")
    args = parser.parse_args()
    if args.memory_from is not None and not args.memory_from.is_dir():
        parser.error(f"--memory-from {args.memory_from}: no such store directory")
    modes = _chosen(args.modes, parser)
    every = [
        asyncio.run(measure(m, args.cycles, args.memory_from))
        for _ in range(args.repeat)
        for m in modes
    ]
    runs = {m: _median([r for r in every if r["mode"] == m]) for m in modes}
    head = ["mode", "calls", "tok/s", "gen tok/s", "cycle s", "prompt", "generation", "other"]
    head += ["prefix hit", "not JSON", "1st-try invalid", "rejected", "on topic", "copied"]
    head += ["run s"]
    start = args.memory_from or "an empty store"
    print(f"SmolLM2-135M-Instruct Q4_1 on the brainstorm scenario (seed 0), memory: {start}")
    print(table(head, [_row(r) for r in runs.values()]))
    data = {"benchmark": "local_model", "runs": list(runs.values()), "every_run": every}
    if {SHIPPED, NONE, BEFORE, SHARED} <= runs.keys():
        ratio = runs[SHIPPED]["tokens_per_s"] / runs[NONE]["tokens_per_s"]
        speedup = runs[BEFORE]["mean_cycle_s"] / runs[SHIPPED]["mean_cycle_s"]
        layout = runs[SHIPPED]["mean_cycle_s"] / runs[SHARED]["mean_cycle_s"]
        print(
            f"constrained tokens/s ÷ unconstrained: {ratio:.2f}; cycle before ÷ now: {speedup:.2f}"
        )
        print(f"cycle instructions first ÷ shared-first: {layout:.2f}")
        data.update(ratio=ratio, cycle_speedup=speedup, layout_speedup=layout)
    data["memory_from"] = str(args.memory_from) if args.memory_from else None
    path = write("local_model", data)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
