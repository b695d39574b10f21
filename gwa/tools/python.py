"""Tools from Python functions (their type hints give the argument schema, via pydantic) and
from LangChain ``BaseTool`` objects."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from gwa.tools.base import ToolBase, as_text
from gwa.types import ToolInfo


class FunctionTool(ToolBase):
    """A Python function (sync or async) as a tool; its docstring's first paragraph is the
    description, its parameters (type hints, defaults) the argument schema."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        confirm: bool = False,
        timeout_s: float = 30.0,
        bind: Mapping[str, Any] | None = None,
        enum: Mapping[str, Sequence[Any]] | None = None,
    ) -> None:
        self.fn = fn
        self.bind = dict(bind or {})
        """Fixed arguments, hidden from the model (a folder, a key)."""
        self._model = _arguments_model(fn, skip=set(self.bind))
        schema = self._model.model_json_schema()
        schema.pop("title", None)
        for arg, values in (enum or {}).items():
            if arg not in schema.get("properties", {}):
                raise ValueError(f"{fn.__name__} has no argument {arg!r} to restrict")
            schema["properties"][arg]["enum"] = list(values)
        doc = inspect.getdoc(fn) or ""
        info = ToolInfo(
            name or fn.__name__,
            description or doc.split("\n\n")[0].replace("\n", " ") or fn.__name__,
            schema,
        )
        super().__init__(info, confirm=confirm, timeout_s=timeout_s)

    async def call(self, arguments: dict[str, Any]) -> str:
        """Validate (and coerce) the arguments with pydantic, call, return text."""
        try:
            args = dict(self._model.model_validate(arguments))
        except ValidationError as exc:
            raise ValueError(
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            ) from None
        args.update(self.bind)
        if inspect.iscoroutinefunction(self.fn):
            return as_text(await self.fn(**args))
        return as_text(await asyncio.to_thread(self.fn, **args))


def _arguments_model(fn: Callable[..., Any], skip: set[str]) -> type[BaseModel]:
    hints = get_type_hints(fn)
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = ... if param.default is param.empty else param.default
        fields[name] = (hints.get(name, Any), default)
    config = ConfigDict(extra="forbid")
    return create_model(f"{fn.__name__}_arguments", __config__=config, **fields)


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    confirm: bool = False,
    timeout_s: float = 30.0,
) -> Any:
    """``@tool`` / ``@tool(confirm=True)``: make a function a `FunctionTool`."""

    def wrap(f: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(f, name=name, confirm=confirm, timeout_s=timeout_s)

    return wrap(fn) if fn is not None else wrap


class LangChainTool(ToolBase):
    """A langchain-core ``BaseTool`` as a tool (called with ``ainvoke``)."""

    def __init__(self, base: Any, *, confirm: bool = False, timeout_s: float = 30.0) -> None:
        schema = base.tool_call_schema
        parameters: dict[str, Any] = (
            schema.model_json_schema()
            if isinstance(schema, type) and issubclass(schema, BaseModel)
            else dict(schema or {})
        )
        parameters.pop("title", None)
        parameters.setdefault("type", "object")
        self.base = base
        info = ToolInfo(str(base.name), str(base.description or base.name), parameters)
        super().__init__(info, confirm=confirm, timeout_s=timeout_s)

    async def call(self, arguments: dict[str, Any]) -> str:
        """``await tool.ainvoke(arguments)`` as text."""
        return as_text(await self.base.ainvoke(arguments))


def as_tool(obj: Any) -> Any:
    """A `Tool` as it is; a LangChain ``BaseTool`` or a plain function wrapped."""
    if hasattr(obj, "info") and hasattr(obj, "call"):
        return obj
    if hasattr(obj, "ainvoke") and hasattr(obj, "tool_call_schema"):
        return LangChainTool(obj)
    if callable(obj):
        return FunctionTool(obj)
    raise TypeError(f"not a tool: {obj!r} (give a function, a LangChain tool or a gwa Tool)")
