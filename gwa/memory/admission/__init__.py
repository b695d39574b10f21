"""Admission to long-term memory, in rooms: `features` (what a candidate looks like),
`policy` (the logistic policy and the verdict), `trust` (per-source trust, instruction-like
text) and `learning` (the policies a store uses, with usage credit)."""

from gwa.memory.admission.features import (
    CHAT_CUES,
    COLD_START,
    FEATURES,
    Lexicon,
    candidate_features,
    content_words,
    question_share,
    text_features,
    vector,
    without,
)
from gwa.memory.admission.learning import (
    AdmissionPolicy,
    AdmitAll,
    AdmitNone,
    FixedPolicy,
    HandWeighted,
    LearnedAdmission,
    novelties,
)
from gwa.memory.admission.policy import HAND_WEIGHTS, LogisticPolicy, Verdict, hand_score, sigmoid
from gwa.memory.admission.trust import INSTRUCTION_LIKE, TrustBook, instruction_like

__all__ = [
    "CHAT_CUES",
    "COLD_START",
    "FEATURES",
    "HAND_WEIGHTS",
    "INSTRUCTION_LIKE",
    "AdmissionPolicy",
    "AdmitAll",
    "AdmitNone",
    "FixedPolicy",
    "HandWeighted",
    "LearnedAdmission",
    "Lexicon",
    "LogisticPolicy",
    "TrustBook",
    "Verdict",
    "candidate_features",
    "content_words",
    "hand_score",
    "instruction_like",
    "novelties",
    "question_share",
    "sigmoid",
    "text_features",
    "vector",
    "without",
]
