"""Shared memory: working memory (layer 1) and the seams long-term memory plugs into.

The long-term store (`LongTermMemory`, `SharedMemory`) is loaded on first use: it pulls in
chromadb and the embedder, which a workspace without long-term memory does not need."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

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
    restates,
    source_of,
    truncate_tokens,
)

if TYPE_CHECKING:
    from gwa.memory.shared import SharedMemory
    from gwa.memory.store import LongTermMemory, MemoryConfig, NewMemory

_LAZY = {
    "LongTermMemory": "gwa.memory.store",
    "MemoryConfig": "gwa.memory.store",
    "NewMemory": "gwa.memory.store",
    "SharedMemory": "gwa.memory.shared",
}

__all__ = [
    "AdmissionCandidate",
    "AdmissionDecision",
    "AdmissionSink",
    "LongTermMemory",
    "MemoryConfig",
    "NewMemory",
    "NullRetriever",
    "NullSink",
    "Retriever",
    "SharedMemory",
    "Signals",
    "WorkingMemory",
    "cited",
    "count_tokens",
    "extractive_summary",
    "make_entry",
    "restates",
    "source_of",
    "truncate_tokens",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'gwa.memory' has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)
