"""Shared memory: working memory (layer 1) and the seams long-term memory plugs into."""

from gwa.memory.working import (
    AdmissionCandidate,
    AdmissionDecision,
    AdmissionSink,
    NullRetriever,
    NullSink,
    Retriever,
    Signals,
    WorkingMemory,
    cited,
    count_tokens,
    extractive_summary,
    make_entry,
    truncate_tokens,
)

__all__ = [
    "AdmissionCandidate",
    "AdmissionDecision",
    "AdmissionSink",
    "NullRetriever",
    "NullSink",
    "Retriever",
    "Signals",
    "WorkingMemory",
    "cited",
    "count_tokens",
    "extractive_summary",
    "make_entry",
    "truncate_tokens",
]
