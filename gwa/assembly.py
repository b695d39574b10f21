"""Assembly: the runtime objects a scenario describes (agents, long-term memory, the drive)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gwa.agents.agent import Agent, LLMAgent
from gwa.agents.models import ChatModel
from gwa.agents.roles import BUILTIN_ROLES, Role
from gwa.cycle.judge import JudgedRetriever
from gwa.drive import (
    ConstantTemperature,
    DeadlockRules,
    DriveSettings,
    EntropyDrive,
    TemperatureSource,
)
from gwa.errors import ConfigError
from gwa.hub import RemoteAgent
from gwa.memory import NullRetriever, Retriever
from gwa.scenario import MemorySpec, Scenario

if TYPE_CHECKING:
    from gwa.memory.shared import SharedMemory


def build_agents(
    scenario: Scenario,
    model: Callable[[str], ChatModel],
    *,
    remote: Sequence[str] = (),
    extra: Sequence[Agent] = (),
) -> list[Agent]:
    """The scenario's agents (``model(key)`` gives each its model; remote ones stand in for
    workers elsewhere), followed by ``extra``; names must be unique."""
    agents: list[Agent] = []
    for spec in scenario.agents:
        role = BUILTIN_ROLES.get(spec.role)
        if role is None:  # the scenario's validation makes sure the role is defined there
            custom = scenario.roles[spec.role]
            role = Role(spec.role, custom.output, custom.prompt)
        if spec.name in remote:
            agents.append(RemoteAgent(spec.name, role))
            continue
        agents.append(
            LLMAgent(
                spec.name,
                role,
                model(spec.model),
                instruction=spec.prompt,
                candidates=spec.candidates,
            )
        )
    agents.extend(extra)
    names = [a.name for a in agents]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"agent names must be unique; duplicated: {', '.join(dupes)}")
    return agents


def build_memory(
    spec: MemorySpec, path: Path | None = None, *, redact: Callable[[str], str] | None = None
) -> SharedMemory:
    """Open the long-term store a scenario describes (``path`` overrides its directory;
    ``redact`` removes secrets from every text before it is stored)."""
    from gwa.memory.admission import (
        AdmissionPolicy,
        AdmitAll,
        AdmitNone,
        HandWeighted,
        LearnedAdmission,
    )
    from gwa.memory.embeddings import Embedder, MiniLMEmbedder, OpenAIEmbedder
    from gwa.memory.shared import SharedMemory
    from gwa.memory.store import LongTermMemory, MemoryConfig

    embedder: Embedder
    if spec.embeddings == "minilm":
        embedder = MiniLMEmbedder.shared()
    else:
        embedder = OpenAIEmbedder(spec.embeddings.partition(":")[2], dim=spec.embedding_dim or 0)
    config = MemoryConfig(
        max_distance=spec.max_distance,
        hop_weight=spec.hop_weight,
        lexical_top_bonus=spec.lexical_top_bonus,
        entity_weight=spec.entity_weight,
        author_weight=spec.author_weight,
        duplicate_similarity=spec.duplicate_similarity,
        half_life_s=spec.half_life_hours * 3600.0,
    )
    store = LongTermMemory(
        path or Path(spec.path),
        url=spec.url,
        collection=spec.collection,
        embedder=embedder,
        config=config,
    )
    policy: AdmissionPolicy
    if spec.admission == "learned":
        weights = store.path / "admission.json" if store.path is not None else None
        learned = LearnedAdmission(horizon=spec.horizon_cycles, path=weights)
        learned.policy.epsilon = spec.exploration
        if spec.budget is not None:
            learned.policy.target_rate = spec.budget
        policy = learned
    elif spec.admission == "hand-weighted":
        policy = HandWeighted()
    else:
        policy = AdmitNone() if spec.admission == "admit-none" else AdmitAll()
    return SharedMemory(store, policy, redact=redact)


def judged(
    retriever: Retriever, scenario: Scenario, model: Callable[[str], ChatModel]
) -> Retriever:
    """``retriever`` behind the scenario's memory judge (``memory.judge``), if it has one and
    there is long-term memory to judge; ``model`` gives the judge's model by its name."""
    judge = scenario.memory.judge if scenario.memory is not None else None
    if judge is None or isinstance(retriever, NullRetriever):
        return retriever
    return JudgedRetriever(retriever, model(judge.model), judge.max_queries)


def build_drive(scenario: Scenario) -> TemperatureSource:
    """A fresh temperature source for one run: the entropy drive, or a constant."""
    spec = scenario.drive
    if spec is None or not spec.enabled:
        return ConstantTemperature(scenario.workspace.temperature)
    from gwa.memory.embeddings import MiniLMEmbedder

    fields = spec.model_dump(exclude={"enabled", "deadlock", "inhibition"})
    settings = DriveSettings(**fields, rules=DeadlockRules(**spec.deadlock.model_dump()))
    return EntropyDrive(settings, MiniLMEmbedder.shared())
