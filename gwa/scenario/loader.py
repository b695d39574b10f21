"""Loading scenario files: YAML with located errors and ``${VAR}`` interpolation.

Every problem is reported as ``file:line:column: message``, with the valid choices where
there are some. Strings may hold ``${VAR}`` or ``${VAR:-default}`` to take secrets and
endpoints from the environment instead of the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from gwa.agents.roles import BUILTIN_ROLES
from gwa.errors import Problem, ScenarioError
from gwa.scenario.spec import Path_, Scenario
from gwa.scenario.yamlsafe import MAX_BYTES, compose


def _agent_problems(s: Scenario) -> list[tuple[Path_, str]]:
    problems: list[tuple[Path_, str]] = []
    valid_roles = sorted(BUILTIN_ROLES) + sorted(s.roles)
    seen: set[str] = set()
    for i, a in enumerate(s.agents):
        if a.name in seen:
            problems.append((("agents", i, "name"), f"duplicate agent name {a.name!r}"))
        seen.add(a.name)
        if a.role not in BUILTIN_ROLES and a.role not in s.roles:
            problems.append(
                (("agents", i, "role"), f"unknown role {a.role!r}; valid: {', '.join(valid_roles)}")
            )
        if a.model != "default" and a.model not in s.models:
            valid = ", ".join(sorted(s.models)) or "none defined under models"
            problems.append((("agents", i, "model"), f"unknown model {a.model!r}; valid: {valid}"))
        low, high = a.temperature_bounds
        if not 0.0 <= low <= high <= 2.0:
            problems.append(
                (("agents", i, "temperature_bounds"), "bounds must satisfy 0 <= min <= max <= 2")
            )
    return problems


def _semantic_problems(s: Scenario) -> list[tuple[Path_, str]]:
    """Checks across fields that the schema alone cannot express."""
    problems: list[tuple[Path_, str]] = [
        (("roles", name), f"role {name!r} is built in; choose another name")
        for name in s.roles
        if name in BUILTIN_ROLES
    ]
    problems += _agent_problems(s)
    judge = s.memory.judge if s.memory is not None else None
    if judge is not None and judge.model != "default" and judge.model not in s.models:
        valid = ", ".join(sorted(s.models)) or "none defined under models"
        problems.append(
            (("memory", "judge", "model"), f"unknown model {judge.model!r}; valid: {valid}")
        )
    if problems:
        return problems
    kinds = [s.output_of(a) for a in s.agents]
    if "candidates" not in kinds:
        problems.append((("agents",), "no agent proposes candidates; add one with role: generator"))
    if s.selection.policy in ("arbiter", "hybrid") and "choice" not in kinds:
        problems.append(
            (
                ("selection", "policy"),
                f"policy {s.selection.policy!r} needs an agent with role: arbiter; add one or "
                "use policy: score",
            )
        )
    for name, model in s.models.items():
        if model.provider == "replay" and not model.path:
            problems.append((("models", name, "path"), "provider replay needs path: CASSETTE"))
        if model.provider == "langchain" and not model.factory:
            problems.append(
                (("models", name, "factory"), "provider langchain needs factory: module:attribute")
            )
    return problems


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Located:
    """YAML data plus the line/column of every node, by path."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.marks: dict[Path_, tuple[int, int]] = {}
        self.key_marks: dict[Path_, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.from_env: set[str] = set()
        """Values taken from the environment."""
        node, self.data = compose(text, file)
        if node is not None:
            self._walk(node, ())
        self.data = self._interpolate(self.data, ())

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        self.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                if key_node.tag != "tag:yaml.org,2002:str":
                    found = key_node.tag.rsplit(":", 1)[-1]
                    self.problems.append(
                        Problem(self.file, *where, f"keys must be text, not {found} ({key[:40]!r})")
                    )
                if key in seen:
                    self.problems.append(Problem(self.file, *where, f"duplicate key {key!r}"))
                seen.add(key)
                self.key_marks[(*path, key)] = where
                self._walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def _interpolate(self, value: Any, path: Path_) -> Any:
        if isinstance(value, dict):
            return {k: self._interpolate(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [self._interpolate(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return _ENV.sub(lambda m: self._env(m, path), value)
        return value

    def _env(self, match: re.Match[str], path: Path_) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            self.from_env.add(os.environ[name])
            return os.environ[name]
        if default is not None:
            return default
        self.problems.append(
            self.problem(
                path, f"environment variable {name} is not set (set it, or write ${{{name}:-…}})"
            )
        )
        return ""

    def problem(self, path: Path_, message: str, *, key: bool = False) -> Problem:
        """A problem at the deepest known node of ``path``."""
        for cut in range(len(path), -1, -1):
            sub = path[:cut]
            mark = (self.key_marks.get(sub) if key else None) or self.marks.get(sub)
            if mark:
                return Problem(self.file, mark[0], mark[1], message)
        return Problem(self.file, 1, 1, message)


def _message(error: dict[str, Any]) -> str:
    loc = ".".join(str(x) for x in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown field {loc!r}"
    if error["type"] == "missing":
        return f"missing required field {loc!r}"
    return f"{loc}: {error['msg']}" if loc else error["msg"]


def _nested_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    field = model.model_fields.get(name)
    if field is None:
        return None
    for ann in (field.annotation, *get_args(field.annotation)):
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return ann
    return None


def _with_choices(error: dict[str, Any], message: str) -> str:
    """For an unknown field, list the fields that are valid at that place."""
    if error["type"] != "extra_forbidden":
        return message
    model: type[BaseModel] = Scenario
    for part in error["loc"][:-1]:
        if isinstance(part, str):
            model = _nested_model(model, part) or model
    return f"{message}; valid fields: {', '.join(model.model_fields)}"


def parse_scenario(text: str, file: str = "<scenario>") -> Scenario:
    """Parse and validate scenario YAML text; raise `ScenarioError` with every problem."""
    located = _Located(file, text)
    data = located.data
    if data is None:
        raise ScenarioError(
            [Problem(file, 1, 1, "the scenario is empty; it needs at least 'agents'")]
        )
    if not isinstance(data, dict):
        raise ScenarioError([located.problem((), "a scenario must be a mapping of fields")])
    problems = list(located.problems)
    if problems:
        raise ScenarioError(problems)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            path = tuple(err["loc"])
            message = _with_choices(dict(err), _message(dict(err)))
            problems.append(located.problem(path, message, key=err["type"] == "extra_forbidden"))
        raise ScenarioError(problems) from None
    semantic = [located.problem(p, m) for p, m in _semantic_problems(scenario)]
    if semantic:
        raise ScenarioError(semantic)
    scenario._from_env = frozenset(located.from_env)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (at most 1 MiB of UTF-8 text)."""
    p = Path(path)

    def refuse(message: str) -> ScenarioError:
        return ScenarioError([Problem(str(p), 1, 1, message)])

    if p.is_dir():
        raise refuse("is a directory, not a scenario file")
    if p.exists() and not p.is_file():
        raise refuse("is not a regular file (a device or a pipe?); give a scenario file")
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise refuse("file not found") from None
    except OSError as exc:
        raise refuse(f"cannot be read ({exc.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise refuse(f"larger than {MAX_BYTES // 1024} KiB; a scenario is a short file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("not UTF-8 text") from None
    return parse_scenario(text, str(p))


def locate(path: Path) -> _Located:
    """The node positions of a scenario file (for problems found after loading it)."""
    return _Located(str(path), path.read_text(encoding="utf-8"))


def builtin_scenarios() -> dict[str, Path]:
    """The scenarios shipped inside the package, by name."""
    folder = Path(__file__).parent.parent / "scenarios"
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def resolve_scenario_path(name_or_path: str) -> Path:
    """A path as given, or the shipped scenario of that name."""
    p = Path(name_or_path)
    if p.exists() or p.suffix in (".yaml", ".yml"):
        return p
    shipped = builtin_scenarios()
    if name_or_path in shipped:
        return shipped[name_or_path]
    return p
