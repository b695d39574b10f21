"""The link graph of long-term memory (a networkx MultiDiGraph keyed by link type) and its
append-only, fsynced log, replayed at open."""

from __future__ import annotations

import json
import os
from collections.abc import Container, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import networkx as nx

from gwa.memory.records import LinkType, StoreError


class LinkGraph:
    """The link graph (networkx MultiDiGraph keyed by link type) and its append-only log."""

    def __init__(self, path: Path | None) -> None:
        self.graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
        self._adj: dict[str, set[str]] = {}
        self.path = path
        self._log: Any = None
        if path is not None:
            self._replay(path)
            self._log = path.open("a", encoding="utf-8")

    def _replay(self, path: Path) -> None:
        if not path.exists():
            return
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    op = json.loads(line)
                    self._apply(op)
                except (ValueError, KeyError, TypeError):
                    # A torn last line from a crash is expected; anything else is corruption.
                    if f.readline():
                        raise StoreError(
                            f"{path}:{n}: unreadable link-log line; restore the store from an "
                            "export or delete the file to rebuild links"
                        ) from None

    def _apply(self, op: Mapping[str, Any]) -> None:
        if op["op"] == "link":
            src, dst = op["src"], op["dst"]
            self.graph.add_edge(src, dst, key=op["type"])
            self._adj.setdefault(src, set()).add(dst)
            self._adj.setdefault(dst, set()).add(src)
        elif op["op"] == "unlink":
            self._drop([op["id"]])

    def _drop(self, nodes: Sequence[str]) -> None:
        for node in nodes:
            for other in self._adj.pop(node, ()):
                self._adj.get(other, set()).discard(node)
        self.graph.remove_nodes_from(nodes)

    def adjacent(self, node: str) -> set[str]:
        """Neighbours in either direction, any link type (the hot path of retrieval)."""
        return self._adj.get(node, set())

    def write(self, ops: Sequence[Mapping[str, Any]]) -> None:
        """Apply and durably log graph edits."""
        for op in ops:
            self._apply(op)
        if self._log is not None and ops:
            self._log.write("".join(json.dumps(op, separators=(",", ":")) + "\n" for op in ops))
            self._log.flush()
            os.fsync(self._log.fileno())

    def link(self, src: str, dst: str, type: LinkType) -> dict[str, Any]:
        """An edit adding an edge (apply it with write)."""
        return {"op": "link", "src": src, "dst": dst, "type": type}

    def edges(self) -> Iterator[tuple[str, str, str]]:
        """All (src, dst, type) edges."""
        for src, dst, key in self.graph.edges(keys=True):
            yield str(src), str(dst), str(key)

    def neighbours(self, node: str) -> list[tuple[str, str]]:
        """(neighbour, link type) in either direction."""
        if not self.graph.has_node(node):
            return []
        out = [(str(d), str(k)) for _, d, k in self.graph.out_edges(node, keys=True)]
        out += [(str(s), str(k)) for s, _, k in self.graph.in_edges(node, keys=True)]
        return out

    def drop(self, nodes: Sequence[str]) -> None:
        """Remove memories and every link touching them (the log is rewritten)."""
        if nodes:
            self._drop(nodes)
            self.compact()

    def reconcile(self, ids: Container[str]) -> int:
        """Drop nodes that are not records; rewrite the log compactly. Returns nodes dropped."""
        gone = [str(n) for n in self.graph.nodes if n not in ids]
        self._drop(gone)
        if gone:
            self.compact()
        return len(gone)

    def compact(self) -> None:
        """Rewrite the log as the current edges (atomically)."""
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for src, dst, key in self.edges():
                f.write(json.dumps(self.link(src, dst, cast(LinkType, key))) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self._log is not None:
            self._log.close()
        os.replace(tmp, self.path)
        self._log = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        """Close the log."""
        if self._log is not None:
            self._log.close()
            self._log = None
