"""The base of every scenario section: strict, frozen, documented."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Spec(BaseModel):
    # strict: YAML gives native types, so nothing needs coercing, and `max_cycles: true` or
    # `temperature: "hot"` must be errors, not 1 and a crash.
    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, strict=True
    )
