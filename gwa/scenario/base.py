"""The base of every scenario section: strict, frozen, documented."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class _Spec(BaseModel):
    # strict: YAML gives native types, so nothing needs coercing, and `max_cycles: true` or
    # `temperature: "hot"` must be errors, not 1 and a crash.
    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, strict=True
    )


_MEMO: dict[tuple[int, str], tuple[weakref.ref[Any], Any]] = {}


def memo(spec: BaseModel, what: str, make: Callable[[], T]) -> T:
    """``make()``, computed once for each frozen ``spec`` object and ``what`` (a server starts
    many runs of one scenario: its dumps and hashes are the same each time). The value is
    shared: callers must not change it."""
    key = (id(spec), what)
    hit = _MEMO.get(key)
    if hit is not None and hit[0]() is spec:
        return cast(T, hit[1])
    value = make()
    _MEMO[key] = (weakref.ref(spec, lambda _: _MEMO.pop(key, None)), value)
    return value
