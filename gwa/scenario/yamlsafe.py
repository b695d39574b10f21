"""Reading untrusted YAML: limits checked before anything is built, every error located.

A scenario file is small. Before PyYAML builds a single object, the event stream (which
PyYAML produces without recursion) is checked for nesting depth, for recursive aliases, and
for how many nodes the aliases would expand to, so a 600-byte alias bomb or a 20,000-deep flow
sequence is refused in milliseconds with ``file:line:col``. Scalar constructors that raise
(``!!int abc``, a 5,000-digit integer, ``!!timestamp 2001-13-45``) say where; a character YAML
does not allow (a NUL byte) is located too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.reader import ReaderError

from gwa.errors import Problem, ScenarioError

MAX_BYTES = 1 << 20
"""Largest scenario file read (1 MiB)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences."""
MAX_NODES = 100_000
"""Most nodes a document may hold once its aliases are expanded."""


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader whose scalar constructors name the node that failed."""


def _located(tag: str, construct: Callable[[Any, yaml.Node], Any]) -> Callable[..., Any]:
    def wrapped(loader: Any, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError, TypeError) as exc:
            kind = tag.rsplit(":", 1)[-1]
            raise ConstructorError(
                None, None, f"not a valid {kind}: {str(exc)[:120]}", node.start_mark
            ) from None

    return wrapped


for _tag, _fn in list(yaml.SafeLoader.yaml_constructors.items()):
    if _tag is not None and _tag.rsplit(":", 1)[-1] in ("int", "float", "timestamp", "binary"):
        Loader.add_constructor(_tag, _located(_tag, _fn))


def _problem(file: str, mark: Any, message: str) -> ScenarioError:
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return ScenarioError([Problem(file, line, col, message)])


def _reader_error(file: str, text: str, exc: ReaderError) -> ScenarioError:
    before = text[: exc.position]
    line = before.count("\n") + 1
    col = exc.position - (before.rfind("\n") + 1) + 1
    char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
    return ScenarioError(
        [Problem(file, line, col, f"YAML syntax: character {char} is not allowed in YAML")]
    )


class _Shape:
    """Depth, aliases and expanded size of a document, followed event by event."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.stack: list[list[Any]] = []  # [anchor, nodes so far] per open collection
        self.sizes: dict[str, int] = {}  # anchor → nodes it expands to
        self.total = 0

    def start(self, event: yaml.CollectionStartEvent) -> int:
        if len(self.stack) >= MAX_DEPTH:
            raise _problem(self.file, event.start_mark, f"nested deeper than {MAX_DEPTH} levels")
        self.stack.append([event.anchor, 1])
        return 1

    def end(self) -> int:
        anchor, size = self.stack.pop()
        if anchor is not None:
            self.sizes[anchor] = size
        if self.stack:
            self.stack[-1][1] += size
        return 0

    def alias(self, event: yaml.AliasEvent) -> int:
        if any(anchor == event.anchor for anchor, _ in self.stack):
            raise _problem(
                self.file, event.start_mark, f"alias *{event.anchor} refers to itself (recursive)"
            )
        if event.anchor not in self.sizes:
            raise _problem(self.file, event.start_mark, f"alias *{event.anchor} is not defined")
        return self.leaf(self.sizes[event.anchor])

    def scalar(self, event: yaml.ScalarEvent) -> int:
        if event.anchor is not None:
            self.sizes[event.anchor] = 1
        return self.leaf(1)

    def leaf(self, n: int) -> int:
        if self.stack:
            self.stack[-1][1] += n
        return n

    def count(self, event: yaml.Event, n: int) -> None:
        self.total += n
        if self.total > MAX_NODES:
            raise _problem(
                self.file,
                event.start_mark,
                f"the document expands to more than {MAX_NODES:,} nodes (an alias bomb?)",
            )


def check_structure(text: str, file: str) -> None:
    """Refuse depth, recursive aliases and alias expansion beyond the limits, from the event
    stream alone (PyYAML parses without recursion; it builds objects recursively)."""
    shape = _Shape(file)
    for event in yaml.parse(text, Loader=Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            n = shape.start(event)
        elif isinstance(event, yaml.CollectionEndEvent):
            n = shape.end()
        elif isinstance(event, yaml.AliasEvent):
            n = shape.alias(event)
        elif isinstance(event, yaml.ScalarEvent):
            n = shape.scalar(event)
        else:
            continue
        shape.count(event, n)


def compose(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (with marks) and the data of a YAML document, or a located
    `ScenarioError`."""
    try:
        check_structure(text, file)
        loader = Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except ReaderError as exc:
        raise _reader_error(file, text, exc) from None
    except yaml.MarkedYAMLError as exc:
        raise _problem(file, exc.problem_mark, f"YAML syntax: {exc.problem or exc}") from None
    except RecursionError:  # the limits above should make this unreachable; never a traceback
        raise _problem(file, None, f"nested deeper than {MAX_DEPTH} levels") from None
    return node, data
