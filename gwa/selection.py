"""Selection scoring: pure functions that rank the candidates of a cycle.

score(c) = salience(c) × critic(c) × novelty(c), where critic maps the mean critic score from
−5..+5 to 0..1 (0.5 with no critiques) and novelty is 1 − the highest similarity of the
candidate to what the workspace already holds. A candidate enters only at ``threshold`` or above,
and wins only if it leads the runner-up by at least ``margin``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from statistics import fmean

from gwa.types import Candidate, Critique, Selection, Tag

Similarity = Callable[[str, str], float]
_WORD = re.compile(r"\w+")


def jaccard(a: str, b: str) -> float:
    """Word-set overlap of two texts, 0..1 (the default similarity)."""
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    if not wa and not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)


def novelty(text: str, context: Sequence[str], similarity: Similarity = jaccard) -> float:
    """1 − the highest similarity to any context text (1.0 with no context)."""
    return 1.0 - max((similarity(text, c) for c in context), default=0.0)


def critic_factor(scores: Sequence[int]) -> float:
    """Mean critic score mapped from −5..+5 to 0..1; 0.5 when nobody critiqued."""
    return (fmean(scores) + 5) / 10 if scores else 0.5


def score_candidates(
    candidates: Sequence[Candidate],
    critiques: Sequence[Critique],
    context: Sequence[str],
    similarity: Similarity = jaccard,
) -> dict[str, float]:
    """Candidate id → salience × critic × novelty."""
    by_candidate: dict[str, list[int]] = {}
    for c in critiques:
        by_candidate.setdefault(c.candidate_id, []).append(c.score)
    return {
        c.id: round(
            c.salience
            * critic_factor(by_candidate.get(c.id, []))
            * novelty(c.text, context, similarity),
            6,
        )
        for c in candidates
    }


def mean_critic(candidate_id: str, critiques: Sequence[Critique]) -> float | None:
    """The mean critic score of one candidate, or None if nobody scored it."""
    scores = [c.score for c in critiques if c.candidate_id == candidate_id]
    return fmean(scores) if scores else None


def score_tag(winner: Candidate, critiques: Sequence[Critique], respond_min_score: float) -> Tag:
    """RESPOND when the winner says it is final and the critics (if any) agree enough."""
    if not winner.final:
        return "THINK_MORE"
    mean = mean_critic(winner.id, critiques)
    return "RESPOND" if mean is None or mean >= respond_min_score else "THINK_MORE"


def select_by_score(
    candidates: Sequence[Candidate],
    critiques: Sequence[Critique],
    context: Sequence[str],
    *,
    threshold: float = 0.0,
    margin: float = 0.0,
    respond_min_score: float = 1.0,
    similarity: Similarity = jaccard,
) -> Selection:
    """The `score` policy: the top candidate wins if it passes the entry threshold and margin."""
    scores = score_candidates(candidates, critiques, context, similarity)
    ranked = sorted(candidates, key=lambda c: -scores[c.id])  # stable: earlier agents win ties
    entered = [c for c in ranked if scores[c.id] >= threshold]
    if not entered:
        return Selection("score", None, "THINK_MORE", scores, f"no candidate reached {threshold}")
    top = entered[0]
    if len(entered) > 1 and scores[top.id] - scores[entered[1].id] < margin:
        return Selection(
            "score", None, "THINK_MORE", scores, f"no candidate led by the margin {margin}"
        )
    tag = score_tag(top, critiques, respond_min_score)
    return Selection("score", top, tag, scores, "highest score")


def shortlist(
    candidates: Sequence[Candidate], scores: dict[str, float], *, size: int, threshold: float
) -> list[Candidate]:
    """The best ``size`` candidates at or above the threshold, best first."""
    ranked = sorted(candidates, key=lambda c: -scores[c.id])
    return [c for c in ranked if scores[c.id] >= threshold][:size]
