"""Training the learned admission policy: from run traces (usage after the fact) or from a
LoCoMo-format dataset. Lives with evaluation because it reads traces and datasets; the memory
package itself never reads a trace."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gwa.errors import ConfigError
from gwa.events import MemoryAdmit, MemoryUse
from gwa.memory.admission import LogisticPolicy
from gwa.trace import read_trace

WEIGHTS = "admission.json"
"""Where a store keeps its learned admission weights."""


@dataclass(frozen=True, slots=True)
class Trained:
    """What a training run did."""

    examples: int
    """Admissions (traces) or turns (dataset) trained on."""
    used: int
    """How many of them were later used."""
    path: Path
    """Where the weights were saved."""
    note: str = ""
    """More about the fit (threshold, budget)."""


def weights_path(store: Path | None) -> Path:
    """The weights file of a store directory (``admission.json`` here without one)."""
    return store / WEIGHTS if store is not None else Path(WEIGHTS)


def examples_from_traces(
    paths: Sequence[Path], *, horizon: int = 20
) -> tuple[list[dict[str, float]], list[float], list[float]]:
    """Training examples from run traces: each `memory.admit` with its features is labelled 1
    if a later `memory.use` cites the memory (in the same run within ``horizon`` cycles, or in
    any later run of the given traces), else 0 with weight ∝ its size."""
    admits: list[tuple[str, str, int, dict[str, float], int]] = []
    used_at: dict[str, list[tuple[str, int]]] = {}
    order: dict[str, int] = {}
    for path in paths:
        for r in read_trace(path):
            order.setdefault(r.run, len(order))
            if isinstance(r, MemoryAdmit) and r.features:
                size = max(1, len(r.text.split()))
                admits.append((str(r.memory_id), r.run, r.cycle or 0, dict(r.features), size))
            elif isinstance(r, MemoryUse):
                for mid in r.memories:
                    used_at.setdefault(mid, []).append((r.run, r.cycle or 0))
    xs: list[dict[str, float]] = []
    ys: list[float] = []
    ws: list[float] = []
    mean = max(1.0, sum(a[4] for a in admits) / len(admits)) if admits else 1.0
    for mid, run, cycle, features, tokens in admits:
        uses = used_at.get(mid, [])
        ok = any(
            (u_run == run and 0 <= u_cycle - cycle <= horizon) or order[u_run] > order[run]
            for u_run, u_cycle in uses
        )
        xs.append(features)
        ys.append(1.0 if ok else 0.0)
        ws.append(1.0 if ok else tokens / mean)
    return xs, ys, ws


def train_from_traces(store: Path | None, traces: Sequence[Path], *, horizon: int = 20) -> Trained:
    """Fit a store's admission weights on the admissions its runs made and what was used later
    (starting from its current weights)."""
    missing = [str(p) for p in traces if not p.is_file()]
    if missing:
        raise ConfigError(f"trace file(s) not found: {', '.join(missing)}")
    xs, ys, ws = examples_from_traces(traces, horizon=horizon)
    if not xs:
        raise ConfigError(
            "the traces hold no memory.admit events with features; run scenarios with "
            "memory.admission: learned (or hand-weighted) first"
        )
    path = weights_path(store)
    policy = LogisticPolicy.load(path) if path.exists() else LogisticPolicy()
    policy.fit(xs, ys, ws)
    policy.save(path)
    return Trained(len(xs), int(sum(ys)), path)


def train_from_dataset(
    store: Path | None,
    dataset: Path,
    *,
    budget: float = 0.45,
    progress: Callable[[str], None] = lambda _: None,
) -> Trained:
    """Start a store's admission from the usage-trained policy of the evaluation on a
    LoCoMo-format dataset; its threshold keeps ``budget`` of the training turns."""
    from gwa.eval.admission import prepare, train_policy
    from gwa.eval.memory import load_locomo
    from gwa.memory.embeddings import MiniLMEmbedder

    if not 0 < budget <= 1:
        raise ConfigError(f"--budget must be in (0, 1], got {budget}")
    conversations = load_locomo(dataset)
    emb = MiniLMEmbedder.shared()
    prepared = []
    for conv in conversations:
        progress(f"{conv.id}: embedding {len(conv.turns)} turns")
        prepared.append(prepare(conv, emb))
    with tempfile.TemporaryDirectory(prefix="gwa-train-") as tmp:
        policy, info = train_policy(prepared, budget, Path(tmp))
    policy.epsilon = LogisticPolicy().epsilon
    path = weights_path(store)
    policy.save(path)
    note = (
        f"{len(conversations)} conversation(s), threshold p ≥ {info['threshold']:.3f} "
        f"(it kept {100 * budget:.0f}% of the training turns)"
    )
    used = round(info["used_fraction"] * info["training_turns"])
    return Trained(int(info["training_turns"]), int(used), path, note)
