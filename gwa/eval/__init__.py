"""Evaluation: retrieval quality of long-term memory, admission policies, memory competencies
in long workspace runs, and training the learned admission from traces or a dataset.
Dataset-specific code lives here, not in memory/.

The public functions are loaded on first use (they pull in chromadb and the embedder)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gwa.eval.admission import evaluate_admission, format_admission
    from gwa.eval.longrun import evaluate_longrun, format_longrun
    from gwa.eval.memory import evaluate as evaluate_memory
    from gwa.eval.memory import format_report, load_locomo, main_progress
    from gwa.eval.training import examples_from_traces, train_from_dataset, train_from_traces

_PUBLIC = {
    "evaluate_memory": ("gwa.eval.memory", "evaluate"),
    "format_report": ("gwa.eval.memory", "format_report"),
    "load_locomo": ("gwa.eval.memory", "load_locomo"),
    "main_progress": ("gwa.eval.memory", "main_progress"),
    "evaluate_admission": ("gwa.eval.admission", "evaluate_admission"),
    "format_admission": ("gwa.eval.admission", "format_admission"),
    "train_from_traces": ("gwa.eval.training", "train_from_traces"),
    "evaluate_longrun": ("gwa.eval.longrun", "evaluate_longrun"),
    "format_longrun": ("gwa.eval.longrun", "format_longrun"),
    "train_from_dataset": ("gwa.eval.training", "train_from_dataset"),
    "examples_from_traces": ("gwa.eval.training", "examples_from_traces"),
}

__all__ = [
    "evaluate_admission",
    "evaluate_longrun",
    "evaluate_memory",
    "examples_from_traces",
    "format_admission",
    "format_longrun",
    "format_report",
    "load_locomo",
    "main_progress",
    "train_from_dataset",
    "train_from_traces",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'gwa.eval' has no attribute {name!r}")
    module, attr = _PUBLIC[name]
    return getattr(import_module(module), attr)
