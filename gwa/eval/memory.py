"""`gwa eval memory`: evidence recall@k of long-term retrieval on LoCoMo-format conversations.

Each conversation's turns (with their image captions and session dates) become the memories of a
fresh store, linked in order ('follows'); each question is one retrieval query; a question's recall
at k is the fraction of its gold dialog ids found among the top-k retrieved turns. A BM25 baseline
(rank-bm25, Okapi, over the same turn texts) is computed in the same run.

With a judge model (``--judge MODEL``) each question's first round is shown to the model,
which may ask for a second round (`gwa.cycle.judge`); the fused ranking is what is scored.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gwa.errors import ConfigError
from gwa.eval.recall import bm25_tokens, recalls, summarise
from gwa.memory.records import LinkType

if TYPE_CHECKING:
    from gwa.agents.models import ChatModel

_DIA = re.compile(r"D\d+:\d+")
_WORD = re.compile(r"\w+")
_SESSION = re.compile(r"session_(\d+)")


@dataclass(frozen=True, slots=True)
class Turn:
    """One dialog turn as a memory text."""

    dia_id: str
    text: str
    context: str
    speaker: str
    said: str
    """What the speaker said (with the image caption), without the name and the date."""


@dataclass(frozen=True, slots=True)
class Question:
    """A retrieval query with its gold evidence."""

    text: str
    evidence: tuple[str, ...]
    category: int


@dataclass
class JudgeRun:
    """A judge model over each question's first round, with what it did."""

    model: ChatModel
    say: Callable[[str], None] = lambda _: None
    asked: int = 0
    requeried: int = 0
    errors: int = 0

    def rerank(self, store: Any, question: str, hits: list[Any], k: int) -> list[Any]:
        """The first round's hits, or the fusion with the second round the judge asked for."""
        from gwa.cycle.judge import fuse_rankings, judge

        verdict = asyncio.run(judge(self.model, [question], [h.record.text for h in hits]))
        self.asked += 1
        self.errors += verdict.error is not None
        if self.asked % 25 == 0:  # a slow judge model: show it is moving
            self.say(f"judge: {self.asked} questions, {self.requeried} second rounds so far")
        if verdict.enough:
            return hits
        self.requeried += 1
        second = store.search(list(verdict.queries), k)
        return fuse_rankings(hits, second, k, key=lambda h: h.record.id)

    def report(self) -> dict[str, Any]:
        """What the judge did, for the report."""
        return {
            "model": self.model.name,
            "asked": self.asked,
            "requeried": self.requeried,
            "errors": self.errors,
        }


@dataclass(frozen=True, slots=True)
class Conversation:
    """One LoCoMo sample."""

    id: str
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]
    malformed_evidence: int


def parse_evidence(raw: Sequence[Any]) -> tuple[tuple[str, ...], int]:
    """Gold dialog ids (entries may hold several, split by ';', ',' or spaces) and the bad ones."""
    ids: list[str] = []
    bad = 0
    for entry in raw:
        for part in re.split(r"[;,\s]+", str(entry).strip()):
            if not part:
                continue
            if _DIA.fullmatch(part):
                ids.append(part)
            else:
                bad += 1
    return tuple(dict.fromkeys(ids)), bad


def load_locomo(path: Path) -> list[Conversation]:
    """Read a LoCoMo-format file; errors name the sample and the field."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such dataset file") from None
    except ValueError as e:
        raise ConfigError(f"{path}: not JSON ({e})") from e
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a list of conversations (LoCoMo format)")
    return [_conversation(sample, f"{path}: conversation {n}", n) for n, sample in enumerate(data)]


def _conversation(sample: Any, where: str, n: int) -> Conversation:
    if not isinstance(sample, dict) or "conversation" not in sample or "qa" not in sample:
        raise ConfigError(f"{where}: needs 'conversation' and 'qa' (LoCoMo format)")
    sid = str(sample.get("sample_id", n))
    turns = _turns(sample["conversation"], f"{where} ({sid})")
    questions: list[Question] = []
    bad = 0
    for q in sample["qa"]:
        evidence, b = parse_evidence(q.get("evidence", []))
        bad += b
        if evidence and "question" in q:
            questions.append(Question(str(q["question"]), evidence, int(q.get("category", 0))))
    return Conversation(sid, tuple(turns), tuple(questions), bad)


def _turns(conv: dict[str, Any], where: str) -> list[Turn]:
    """The turns of every session in order; a turn's text ends with its session's date and
    carries its image caption (images are not released)."""
    sessions = sorted(
        (int(m.group(1)), key)
        for key in conv
        if (m := _SESSION.fullmatch(key)) and isinstance(conv[key], list)
    )
    turns: list[Turn] = []
    prev = ""
    for _, key in sessions:
        date = conv.get(f"{key}_date_time", "")
        for t in conv[key]:
            try:
                said, speaker, dia = str(t["text"]), str(t["speaker"]), str(t["dia_id"])
            except (KeyError, TypeError):
                raise ConfigError(f"{where}, {key}: a turn lacks speaker/text/dia_id") from None
            if t.get("blip_caption"):
                said += f" [shared image: {t['blip_caption']}]"
            line = f"{speaker}: {said}"
            turns.append(Turn(dia, f"{line} ({date})" if date else line, prev, speaker, said))
            prev = line
    return turns


Rows = list[tuple[int, dict[int, float]]]
"""(category, recall at each k) per question."""


def evaluate(
    path: Path,
    ks: Sequence[int] = (1, 5, 10, 25, 50),
    *,
    progress: Callable[[str], None] | None = None,
    judge: ChatModel | None = None,
) -> dict[str, Any]:
    """Run the evaluation; returns the report dict (see module docstring)."""
    say = progress or (lambda s: None)
    ks = sorted(set(ks))
    if not ks or ks[0] < 1:
        raise ConfigError("--k takes positive integers, e.g. 1,5,10")
    if path.with_name(f"{path.stem}_corpus.json").is_file():
        from gwa.eval.multihop import evaluate_multihop

        if judge is not None:
            raise ConfigError("--judge works on LoCoMo-format conversations, not passage sets")
        return evaluate_multihop(path, ks, progress=progress)
    convs, started = load_locomo(path), time.perf_counter()
    judged = JudgeRun(judge, say) if judge is not None else None
    ours, base, per_conversation = _conversations(convs, ks, judged, say)
    report = summarise(ours, ks)
    return {
        **({"judge": judged.report()} if judged is not None else {}),
        "dataset": str(path),
        "n_conversations": len(convs),
        "n_questions": len(ours),
        "malformed_evidence_skipped": sum(c.malformed_evidence for c in convs),
        "ks": list(ks),
        "overall": report["overall"],
        "by_category": report["by_category"],
        "baseline_bm25": summarise(base, ks),
        "by_conversation": per_conversation,
        "spread": spread(per_conversation, ks),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _conversations(
    convs: Sequence[Conversation],
    ks: Sequence[int],
    judged: JudgeRun | None,
    say: Callable[[str], None],
) -> tuple[Rows, Rows, dict[str, dict[str, Any]]]:
    """Every conversation evaluated: GWA's rows, BM25's rows, and each conversation's figures."""
    ours: Rows = []
    base: Rows = []
    per_conversation: dict[str, dict[str, Any]] = {}
    for c in convs:
        t0 = time.perf_counter()
        mine: Rows = []
        theirs: Rows = []
        _evaluate_conversation(c, ks, mine, theirs, judged)
        ours += mine
        base += theirs
        per_conversation[c.id] = {
            "n": len(mine),
            "gwa": summarise(mine, ks)["overall"],
            "bm25": summarise(theirs, ks)["overall"],
        }
        seconds = time.perf_counter() - t0
        say(f"{c.id}: {len(c.turns)} turns, {len(c.questions)} questions, {seconds:.1f}s")
    return ours, base, per_conversation


def spread(per_conversation: dict[str, dict[str, Any]], ks: Sequence[int]) -> dict[str, Any]:
    """Across conversations: the lowest and highest recall@k of GWA, and its range, so a
    change that helps one conversation and hurts another shows."""
    out: dict[str, Any] = {}
    for k in ks:
        values = [c["gwa"].get(f"recall@{k}", 0.0) for c in per_conversation.values() if c["n"]]
        if values:
            low, high = min(values), max(values)
            out[f"recall@{k}"] = {"min": low, "max": high, "range": round(high - low, 2)}
    return out


def _evaluate_conversation(
    c: Conversation, ks: Sequence[int], ours: Rows, base: Rows, judged: JudgeRun | None = None
) -> None:
    """Store one conversation's turns in a fresh store; add a row per question for GWA's
    retrieval (``ours``, with the judge's second round if there is one) and for BM25 over
    the turns (``base``)."""
    from rank_bm25 import BM25Okapi

    from gwa.memory.store import LongTermMemory

    with tempfile.TemporaryDirectory(prefix="gwa-eval-") as tmp:
        store = LongTermMemory(Path(tmp) / "store", collection=f"eval-{uuid.uuid4().hex[:8]}")
        owner = _store_turns(store, c)
        qvecs = store.embedder.embed([q.text for q in c.questions])
        bm25 = BM25Okapi([bm25_tokens(t.text) for t in c.turns])
        for i, q in enumerate(c.questions):
            hits = store.search([q.text], ks[-1], query_vectors=qvecs[i : i + 1])
            if judged is not None:
                hits = judged.rerank(store, q.text, hits, ks[-1])
            ours.append((q.category, recalls([owner[h.record.id] for h in hits], q.evidence, ks)))
            scores = bm25.get_scores(bm25_tokens(q.text))
            order = np.argsort(-scores, kind="stable")[: ks[-1]]
            base.append((q.category, recalls([{c.turns[j].dia_id} for j in order], q.evidence, ks)))
        store.close()


def _store_turns(store: Any, c: Conversation) -> dict[str, set[str]]:
    """Every turn as a memory (linked to the turn before); memory id → the dialog ids it holds
    (a near-duplicate turn reinforces an earlier memory instead of adding one)."""
    from gwa.memory.store import NewMemory

    owner: dict[str, set[str]] = {}
    prev_id: str | None = None
    items: list[NewMemory] = []
    for turn in c.turns:
        mid = f"{c.id}:{turn.dia_id}"
        follows: tuple[tuple[LinkType, str], ...] = (("follows", prev_id),) if prev_id else ()
        items.append(
            NewMemory(
                turn.text,
                run=c.id,
                agent=turn.speaker,
                kind="turn",
                context=turn.context,
                id=mid,
                links=follows,
            )
        )
        prev_id = mid
    for start in range(0, len(items), 256):
        chunk = items[start : start + 256]
        for item, res in zip(chunk, store.add(chunk), strict=True):
            owner.setdefault(res.id, set()).add(item.id.split(":", 1)[1] if item.id else "")
    return owner


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of the report."""
    ks = report["ks"]
    head = f"{'':22}" + "".join(f"{'R@' + str(k):>9}" for k in ks)
    lines = [
        f"{report['dataset']}: {report['n_questions']} questions in "
        + (
            f"{report['n_passages']} passages"
            if "n_passages" in report
            else f"{report['n_conversations']} conversations"
        )
        + f" ({report['seconds']}s)",
        head,
    ]

    def row(name: str, block: dict[str, float]) -> str:
        return f"{name:22}" + "".join(f"{block.get(f'recall@{k}', 0.0):9.1f}" for k in ks)

    if "judge" in report:
        j = report["judge"]
        lines.append(
            f"judge {j['model']}: asked {j['asked']}, second round {j['requeried']}, "
            f"unusable {j['errors']}"
        )
    lines.append(row("gwa overall", report["overall"]))
    lines.append(row("bm25 overall", report["baseline_bm25"]["overall"]))
    for cat, block in report["by_category"].items():
        base = report["baseline_bm25"]["by_category"].get(cat, {})
        lines.append(row(f"gwa cat {cat} (n={block['n']})", block))
        lines.append(row(f"bm25 cat {cat}", base))
    for conv, block in report.get("by_conversation", {}).items():
        lines.append(row(f"gwa {conv} (n={block['n']})"[:22], block["gwa"]))
    spreads = report.get("spread", {})
    if len(report.get("by_conversation", {})) > 1 and spreads:
        cells = "".join(f"{spreads.get(f'recall@{k}', {}).get('range', 0.0):9.1f}" for k in ks)
        lines.append(f"{'range across convs':22}" + cells)
    return "\n".join(lines)


def main_progress(msg: str) -> None:
    """Progress lines on stderr."""
    print(msg, file=sys.stderr, flush=True)
