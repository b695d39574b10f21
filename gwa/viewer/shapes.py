"""The JSON types each event kind's fields may have, from the typed trace contract: the
viewer reads lines as plain JSON (fast, tolerant) and skips a line whose field has another
type, so neither its server nor its page meets a wrong-typed value."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from gwa.events import HEADER, KINDS

Shape = tuple[tuple[type, ...], bool]
"""The Python types a field's JSON value may have, and whether it is a list of objects."""


def _shape(annotation: Any) -> Shape | None:
    """What JSON value a typed field takes (None: anything)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [_shape(a) for a in typing.get_args(annotation)]
        if any(p is None for p in parts):
            return None
        return tuple(t for p in parts if p for t in p[0]), any(p[1] for p in parts if p)
    if origin is typing.Literal:
        return (str,), False
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return (list,), isinstance(item, type) and issubclass(item, BaseModel)
    if origin is dict:
        return (dict,), False
    simple: dict[Any, tuple[type, ...]] = {
        int: (int,),
        float: (int, float),
        str: (str,),
        bool: (bool,),
        type(None): (type(None),),
    }
    if annotation in simple:
        return simple[annotation], False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return (dict,), False
    return None


SHAPES: dict[str, dict[str, Shape]] = {
    kind: {
        name: shape
        for name, info in cls.model_fields.items()
        if name not in HEADER and (shape := _shape(info.annotation)) is not None
    }
    for kind, cls in KINDS.items()
}
"""Per event kind, the JSON types of its fields, from the typed contract (gwa.events): a line
whose field has another type is listed as broken and skipped, so neither the server nor the
page ever meets a wrong-typed value."""


def shape_problem(record: dict[str, Any]) -> str | None:
    """Why a record of a known kind does not have its fields' types, or None."""
    for name, (allowed, objects) in SHAPES.get(record["event"], {}).items():
        if name not in record:
            continue
        value: Any = record[name]
        if not isinstance(value, allowed):
            return f"field {name!r} of {record['event']} is {type(value).__name__}"
        if objects and isinstance(value, list) and not all(isinstance(v, dict) for v in value):
            return f"field {name!r} of {record['event']} holds a non-object"
    return None
