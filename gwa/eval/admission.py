"""`gwa eval admission`: what each admission policy stores, and what retrieval still finds.

Per conversation, the turns stream in order as admission candidates; a policy admits or
rejects each (novelty is measured against what that policy has stored so far); then every
question is asked of what was stored and evidence recall@10 is measured. Four policies run in
the same command: admit-all, admit-none, the hand-weighted score and the learned policy.

The learned policy is trained by usage, never on the conversation it is evaluated on: on each
training conversation every turn is stored, the questions are asked, and a turn retrieved in
the top 10 for a question whose evidence it is counts as *used* (label 1); the others are label 0
with the weight of one item (the budget here counts items, not tokens). The admission
threshold is the p that would have stored ``budget`` of the training turns, and it stays fixed
while the evaluated turns stream: a conversation with more worth keeping stores more than one
with less (a running quota per stream, tried before, threw that away). With ``--train FILE`` the
policy trains on that file; without, on the dataset's other conversations (leave one out).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gwa.errors import ConfigError
from gwa.eval.memory import Conversation, Turn, load_locomo
from gwa.memory.admission import (
    CHAT_CUES,
    Lexicon,
    LogisticPolicy,
    candidate_features,
    hand_score,
    question_share,
    without,
)
from gwa.memory.embeddings import MiniLMEmbedder, Vectors
from gwa.memory.store import LongTermMemory, NewMemory
from gwa.memory.working import AdmissionCandidate, Signals, make_entry

POLICIES = ("admit-all", "admit-none", "hand-weighted", "learned", "learned-generic")
LEARNED = {"learned": (), "learned-generic": CHAT_CUES}
"""The learned policies, each with the features it goes without."""
K = 10


@dataclass
class Prepared:
    """A conversation with its vectors computed once."""

    conv: Conversation
    vectors: Vectors
    questions: Vectors


def prepare(conv: Conversation, emb: MiniLMEmbedder) -> Prepared:
    vectors = emb.embed([f"{t.context} {t.text}".strip() for t in conv.turns])
    questions = emb.embed([q.text for q in conv.questions])
    return Prepared(conv, vectors, questions)


def _session(turn: Turn) -> str:
    return turn.dia_id.split(":", 1)[0]


def _candidate(conv: Conversation, i: int) -> AdmissionCandidate:
    """A turn as the workspace would offer it: its author, what was said (the stored memory
    also carries the speaker's name and the session date) and what it replied to (the turn
    before it in the same session, as a thought replies to the broadcast before it)."""
    turn = conv.turns[i]
    entry = make_entry(turn.dia_id, i, turn.speaker, "thought", turn.said)
    before = conv.turns[i - 1] if i > 0 else None
    replied = before.said if before is not None and _session(before) == _session(turn) else ""
    signals = Signals(replies_to_question=question_share(replied))
    return AdmissionCandidate(entry, conv.id, "evicted", signals=signals)


def _features(p: Prepared, i: int, stored: list[int], lexicon: Lexicon) -> dict[str, float]:
    novelty = 1.0
    if stored:
        novelty = float(1.0 - np.max(p.vectors[stored] @ p.vectors[i]))
    return candidate_features(
        _candidate(p.conv, i), novelty=max(0.0, novelty), trust=0.5, lexicon=lexicon
    )


def _stream(
    p: Prepared, decide: Callable[[dict[str, float]], bool]
) -> tuple[list[int], list[dict[str, float]]]:
    stored: list[int] = []
    feats: list[dict[str, float]] = []
    lexicon = Lexicon()
    for i in range(len(p.conv.turns)):
        f = _features(p, i, stored, lexicon)
        feats.append(f)
        if decide(f):
            stored.append(i)
    return stored, feats


def _retrieved(p: Prepared, stored: Sequence[int], folder: Path) -> list[set[str]]:
    """Store the ``stored`` turns in order (each linked 'follows' to the previous stored one)
    and return, per question, the dialog ids among its top-K memories."""
    store = LongTermMemory(folder, collection="admission-eval")
    items: list[NewMemory] = []
    prev: str | None = None
    for i in stored:
        t = p.conv.turns[i]
        items.append(
            NewMemory(
                t.text,
                agent=t.speaker,
                kind="turn",
                id=t.dia_id,
                links=(("follows", prev),) if prev else (),
            )
        )
        prev = t.dia_id
    owner: dict[str, set[str]] = {}
    for start in range(0, len(items), 256):
        chunk = items[start : start + 256]
        vecs = p.vectors[list(stored[start : start + 256])]
        for item, res in zip(chunk, store.add(chunk, vectors=vecs), strict=True):
            owner.setdefault(res.id, set()).add(item.id or "")
    found: list[set[str]] = []
    for qi, q in enumerate(p.conv.questions):
        hits = store.search([q.text], K, query_vectors=p.questions[qi : qi + 1])
        found.append(set().union(*(owner[h.record.id] for h in hits)) if hits else set())
    store.close()
    return found


def _recall(p: Prepared, stored: Sequence[int], folder: Path) -> list[tuple[int, float]]:
    """Per question: (category, evidence recall@K) over a store holding only ``stored``."""
    if not stored:
        return [(q.category, 0.0) for q in p.conv.questions]
    return [
        (q.category, sum(e in found for e in q.evidence) / len(q.evidence))
        for q, found in zip(p.conv.questions, _retrieved(p, stored, folder), strict=True)
    ]


def usage_labels(
    p: Prepared, folder: Path
) -> tuple[list[dict[str, float]], list[float], list[float]]:
    """Store everything, ask the questions, label each turn by whether it was used."""
    stored = list(range(len(p.conv.turns)))
    _, feats = _stream(p, lambda f: True)
    used: set[str] = set()
    for q, found in zip(p.conv.questions, _retrieved(p, stored, folder), strict=True):
        used |= found & set(q.evidence)
    ys = [1.0 if p.conv.turns[i].dia_id in used else 0.0 for i in stored]
    # The budget here counts items, so an unused item costs one item whatever its length (in a
    # workspace, where storage is tokens, the penalty is in proportion to size).
    ws = [1.0] * len(ys)
    return feats, ys, ws


def train_policy(
    prepared: Sequence[Prepared], budget: float, folder: Path, mask: tuple[str, ...] = ()
) -> tuple[LogisticPolicy, dict[str, Any]]:
    """Fit the learned policy by usage on ``prepared``; threshold for ``budget`` storage;
    without the features named in ``mask``."""
    xs: list[dict[str, float]] = []
    ys: list[float] = []
    ws: list[float] = []
    for n, p in enumerate(prepared):
        f, y, w = usage_labels(p, folder / f"train-{n}")
        xs += [without(x, mask) for x in f]
        ys += y
        ws += w
    policy = LogisticPolicy(epsilon=0.0)
    policy.fit(xs, ys, ws, from_scratch=True)
    ps = sorted((policy.p(f) for f in xs), reverse=True)
    cut = max(0, min(len(ps) - 1, int(budget * len(ps)) - 1))
    # Midway between the last kept and the first dropped p, so the weights' rounding when saved
    # cannot move a training turn across it.
    policy.threshold = (ps[cut] + ps[cut + 1]) / 2 if cut + 1 < len(ps) else ps[cut] if ps else 0.5
    info = {
        "training_turns": len(xs),
        "used_fraction": round(float(np.mean(ys)), 4) if ys else 0.0,
        "threshold": round(policy.threshold, 4),
    }
    return policy, info


@dataclass(slots=True)
class _Tally:
    """What the policies did over the conversations evaluated so far."""

    rows: dict[str, list[tuple[int, float]]] = field(
        default_factory=lambda: {p: [] for p in POLICIES}
    )
    """Per policy: (category, recall@K) per question."""
    stored: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POLICIES, 0))
    by_conversation: dict[str, dict[str, float]] = field(
        default_factory=lambda: {p: {} for p in POLICIES}
    )
    turns: int = 0
    training: list[dict[str, Any]] = field(default_factory=list)
    recall_by_conversation: dict[str, dict[str, float]] = field(
        default_factory=lambda: {p: {} for p in POLICIES}
    )


def evaluate_admission(
    path: Path,
    *,
    train: Path | None = None,
    budget: float = 0.45,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run all four policies; the report has stored_fraction and recall@10 per policy."""
    say = progress or (lambda s: None)
    if not 0 < budget <= 1:
        raise ConfigError(f"--budget must be in (0, 1], got {budget}")
    started = time.perf_counter()
    data, held = _datasets(path, train)
    tally = _Tally()  # the learned policy is trained on --train, or on all but the one tested
    with tempfile.TemporaryDirectory(prefix="gwa-admission-") as tmp:
        root = Path(tmp)
        shared = None
        if held is not None:
            shared = _train(held, budget, root / "train", tally, {"on": str(train)})
        for n, p in enumerate(data):
            t0 = time.perf_counter()
            learned = shared
            if learned is None:  # leave this conversation out of the training
                others = [d for d in data if d is not p]
                learned = _train(others, budget, root / f"loo-{n}", tally, {"held_out": p.conv.id})
            _evaluate_conversation(p, learned, tally, root / str(n))
            say(f"{p.conv.id}: {len(p.conv.turns)} turns, {time.perf_counter() - t0:.1f}s")
    report: dict[str, Any] = {
        "dataset": str(path),
        "n_questions": len(tally.rows["admit-all"]),
        "budget": budget,
        "training": tally.training,
        "seconds": round(time.perf_counter() - started, 1),
        **{name: _policy_report(tally, name) for name in POLICIES},
    }
    base = report["admit-all"][f"recall@{K}"]
    for name in LEARNED:
        ours = report[name][f"recall@{K}"]
        report[name]["recall_vs_admit_all"] = round(ours / base, 4) if base else None
        report[name].update(_ratios_by_conversation(tally, name))
        report[name]["recall_vs_admit_all_ci95"] = ratio_ci(
            np.array([r for _, r in tally.rows[name]]),
            np.array([r for _, r in tally.rows["admit-all"]]),
        )
    return report


def _train(
    data: Sequence[Prepared], budget: float, root: Path, tally: _Tally, about: dict[str, Any]
) -> dict[str, LogisticPolicy]:
    """Each learned policy trained on ``data`` (its training noted in the tally)."""
    out = {}
    for name, mask in LEARNED.items():
        out[name], info = train_policy(data, budget, root / name, mask)
        tally.training.append({**about, "policy": name, **info})
    return out


def _datasets(path: Path, train: Path | None) -> tuple[list[Prepared], list[Prepared] | None]:
    """The conversations to evaluate, and those to train on (None: leave one out)."""
    emb = MiniLMEmbedder.shared()
    data = [prepare(c, emb) for c in load_locomo(path)]
    held = [prepare(c, emb) for c in load_locomo(train)] if train else None
    if held is None and len(data) < 2:
        raise ConfigError(
            f"{path} has one conversation: give --train FILE (the learned policy never trains "
            "on the conversation it is evaluated on)"
        )
    return data, held


def _deciding(policy: LogisticPolicy, mask: tuple[str, ...]) -> Callable[[dict[str, float]], bool]:
    def decide(f: dict[str, float]) -> bool:
        p = policy.p(without(f, mask))
        return p >= policy.admit_at(p)

    return decide


def _evaluate_conversation(
    p: Prepared, learned: dict[str, LogisticPolicy], tally: _Tally, root: Path
) -> None:
    """Stream one conversation's turns through each policy; count what it stored and the
    recall of the questions over that."""
    deciders: dict[str, Callable[[dict[str, float]], bool]] = {
        "admit-all": lambda f: True,
        "admit-none": lambda f: False,
        "hand-weighted": lambda f: hand_score(f) >= 0.5,
        **{name: _deciding(learned[name], mask) for name, mask in LEARNED.items()},
    }
    tally.turns += len(p.conv.turns)
    for name, decide in deciders.items():
        stored, _ = _stream(p, decide)
        tally.stored[name] += len(stored)
        tally.by_conversation[name][p.conv.id] = round(len(stored) / max(1, len(p.conv.turns)), 4)
        rows = _recall(p, stored, Path(f"{root}-{name}"))
        tally.rows[name] += rows
        recall = 100 * float(np.mean([r for _, r in rows])) if rows else 0.0
        tally.recall_by_conversation[name][p.conv.id] = round(recall, 2)


def _ratios_by_conversation(tally: _Tally, name: str = "learned") -> dict[str, Any]:
    """A learned policy's ÷ admit-all's recall per conversation, and their spread (min, max,
    range)."""
    learned, base = (
        tally.recall_by_conversation[name],
        tally.recall_by_conversation["admit-all"],
    )
    ratios = {c: round(r / base[c], 4) for c, r in learned.items() if base.get(c)}
    values = list(ratios.values())
    spread = (
        {"min": min(values), "max": max(values), "range": round(max(values) - min(values), 4)}
        if values
        else None
    )
    return {"ratio_by_conversation": ratios, "ratio_spread": spread}


def _policy_report(tally: _Tally, name: str) -> dict[str, Any]:
    rows = tally.rows[name]
    recall = [r for _, r in rows]
    cats = sorted({c for c, _ in rows})
    return {
        "stored_fraction": round(tally.stored[name] / max(1, tally.turns), 4),
        "stored_by_conversation": tally.by_conversation[name],
        "recall_by_conversation": tally.recall_by_conversation[name],
        f"recall@{K}": round(100 * float(np.mean(recall)), 2) if recall else 0.0,
        "by_category": {
            str(c): round(100 * float(np.mean([r for cc, r in rows if cc == c])), 2) for c in cats
        },
    }


def ratio_ci(
    learned: np.ndarray, admit_all: np.ndarray, *, draws: int = 2000, seed: int = 0
) -> list[float] | None:
    """95% interval of mean(learned) / mean(admit_all) by a paired bootstrap over questions.

    It shows how much of a difference between policies is question sampling; it does not cover
    the variation between conversations (there are few of them)."""
    if len(learned) == 0 or admit_all.sum() == 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(learned), size=(draws, len(learned)))
    num = learned[idx].mean(axis=1)
    den = admit_all[idx].mean(axis=1)
    ratios = num[den > 0] / den[den > 0]
    if ratios.size == 0:
        return None
    return [round(float(q), 4) for q in np.quantile(ratios, [0.025, 0.975])]


def format_admission(report: dict[str, Any]) -> str:
    """The report as a table."""
    lines = [
        f"{report['dataset']}: {report['n_questions']} questions ({report['seconds']}s)",
        f"{'policy':16}{'stored':>9}{'R@10':>8}",
    ]
    for name in POLICIES:
        r = report[name]
        lines.append(f"{name:16}{100 * r['stored_fraction']:8.1f}%{r['recall@10']:8.1f}")
    for name in LEARNED:
        lines += _kept(report, name)
    return "\n".join(lines)


def _kept(report: dict[str, Any], name: str) -> list[str]:
    """What share of admit-all's recall a learned policy keeps, overall and by conversation."""
    r = report.get(name, {})
    if r.get("recall_vs_admit_all") is None:
        return []
    ci = r.get("recall_vs_admit_all_ci95")
    band = f" (95% CI {100 * ci[0]:.1f}–{100 * ci[1]:.1f}%, questions resampled)" if ci else ""
    lines = [f"{name} keeps {100 * r['recall_vs_admit_all']:.1f}% of admit-all's recall@10{band}"]
    for conv, ratio in r.get("ratio_by_conversation", {}).items():
        stored = r["stored_by_conversation"].get(conv, 0.0)
        lines.append(f"  {conv}: stores {100 * stored:.1f}%, keeps {100 * ratio:.1f}%")
    return lines
