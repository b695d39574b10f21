"""What bounds learned admission on LoCoMo: the analyses behind docs/memory.md's admission notes.

`gwa eval admission` measures the streaming policy. This script measures, on the same data and
with the same store and retriever, four reference points at half the storage (the issue's
target is 95% of admit-all's recall@10 while storing at most 50%):

- random evidence: keep a share (100/90/80%) of each conversation's gold evidence turns at
  random, fill up to 50% with random other turns: how much evidence the target needs;
- held-out, hindsight: the learned policy trained on the *other* conversation (as in the
  evaluation), but the best-scored half kept after seeing the whole stream (a global sort, not
  possible while streaming): the policy's ranking quality without threshold effects;
- in-sample, hindsight: the same, trained on the conversation it is scored on (not a valid
  result, only a bound on what these features can express);
- the streaming policy itself (the evaluation's figure), for reference.

Also the held-out AUC of p against "used" (a turn retrieved in the top 10 for a question it is
evidence for, with every turn stored) and the share of used turns kept at 50%.

Peer: admit-all on the same store (the ratio's denominator).

Run: python bench/admission_bounds.py [--dataset ../shared/data/locomo/locomo-dev.json]
(about 2 minutes here).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import table, write

from gwa.eval.admission import Prepared, _recall, _stream, prepare, train_policy, usage_labels
from gwa.eval.memory import load_locomo
from gwa.memory.admission import LogisticPolicy
from gwa.memory.embeddings import MiniLMEmbedder

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo" / "locomo-dev.json"


class Folders:
    """A fresh store directory per measurement."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.n = 0

    def __call__(self) -> Path:
        self.n += 1
        return self.root / f"s{self.n}"


def recall(p: Prepared, stored: Sequence[int], folder: Path) -> float:
    return float(np.mean([r for _, r in _recall(p, sorted(stored), folder)]))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(len(scores))
    pos = labels.sum()
    neg = len(labels) - pos
    return float((ranks[labels == 1].sum() - pos * (pos - 1) / 2) / (pos * neg))


def scores(policy: LogisticPolicy, p: Prepared) -> np.ndarray:
    _, feats = _stream(p, lambda f: True)
    return np.array([policy.p(f) for f in feats])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, default=DEFAULT)
    ap.add_argument("--budget", type=float, default=0.45, help="the streaming policy's budget")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    emb = MiniLMEmbedder.shared()
    data = [prepare(c, emb) for c in load_locomo(args.dataset)]
    if len(data) < 2:
        raise SystemExit("needs at least two conversations (training is leave one out)")
    rng = random.Random(args.seed)
    weights = [len(p.conv.questions) for p in data]
    rows: dict[str, list[float]] = {}
    stored: dict[str, list[float]] = {}
    extra: dict[str, Any] = {"held_out_auc": [], "used_kept_at_50": []}
    with tempfile.TemporaryDirectory(prefix="gwa-bounds-") as tmp:
        folder = Folders(Path(tmp))
        base = [recall(p, range(len(p.conv.turns)), folder()) for p in data]

        def add(name: str, per_conv: list[float], fractions: list[float]) -> None:
            rows[name] = per_conv
            stored[name] = fractions

        for share in (1.0, 0.9, 0.8):
            got, fr = [], []
            for p in data:
                gold = {e for q in p.conv.questions for e in q.evidence}
                ev = [i for i, t in enumerate(p.conv.turns) if t.dia_id in gold]
                keep = set(rng.sample(ev, int(share * len(ev))))
                half = len(p.conv.turns) // 2
                others = [i for i in range(len(p.conv.turns)) if i not in keep]
                keep |= set(rng.sample(others, max(0, half - len(keep))))
                got.append(recall(p, keep, folder()))
                fr.append(len(keep) / len(p.conv.turns))
            add(f"random, {100 * share:.0f}% of evidence kept", got, fr)

        held, insample, streaming, fr_stream = [], [], [], []
        for n, p in enumerate(data):
            others = [d for d in data if d is not p]
            policy, _ = train_policy(others, args.budget, folder())
            s = scores(policy, p)
            half = len(s) // 2
            held.append(recall(p, np.argsort(-s)[:half].tolist(), folder()))
            _, ys, _ = usage_labels(p, folder())
            used = np.array(ys)
            extra["held_out_auc"].append(round(auc(s, used), 3))
            extra["used_kept_at_50"].append(
                round(float(used[np.argsort(-s)[:half]].sum() / used.sum()), 3)
            )
            own, _ = train_policy([p], args.budget, folder())
            s_own = scores(own, p)
            insample.append(recall(p, np.argsort(-s_own)[:half].tolist(), folder()))

            def decide(f: dict[str, float], pol: LogisticPolicy = policy) -> bool:
                q = pol.p(f)
                return q >= pol.admit_at(q)

            kept, _ = _stream(p, decide)
            streaming.append(recall(p, kept, folder()))
            fr_stream.append(len(kept) / len(p.conv.turns))
            print(f"{p.conv.id}: done ({n + 1}/{len(data)})", flush=True)
        halves = [(len(p.conv.turns) // 2) / len(p.conv.turns) for p in data]
        add("learned, held out, hindsight half", held, halves)
        add("learned, in-sample, hindsight half (bound)", insample, halves)
        add(f"learned, streaming (budget {args.budget})", streaming, fr_stream)

    def overall(values: list[float]) -> float:
        return float(np.average(values, weights=weights))

    ids = [p.conv.id for p in data]
    table_rows = []
    report: dict[str, Any] = {"dataset": str(args.dataset), "admit_all_recall@10": {}}
    for cid, b in zip(ids, base, strict=True):
        report["admit_all_recall@10"][cid] = round(100 * b, 2)
    for name, values in rows.items():
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        ratio = overall(values) / overall(base)
        table_rows.append(
            [
                name,
                f"{100 * float(np.mean(stored[name])):.1f}%",
                *(f"{100 * r:.1f}%" for r in ratios),
                f"{100 * ratio:.1f}%",
            ]
        )
        report[name] = {
            "stored_fraction": round(float(np.mean(stored[name])), 4),
            "recall_vs_admit_all": {c: round(r, 4) for c, r in zip(ids, ratios, strict=True)},
            "overall_vs_admit_all": round(ratio, 4),
        }
    report.update(extra)
    print(table(["reference point", "stored", *ids, "overall"], table_rows))
    print(
        f"held-out AUC of p vs used: {extra['held_out_auc']}; "
        f"used turns kept at 50%: {extra['used_kept_at_50']}"
    )
    print(f"wrote {write('admission_bounds', report)}")


if __name__ == "__main__":
    main()
