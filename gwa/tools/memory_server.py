"""A long-term memory store served over MCP (``gwa memory serve --mcp``): ``search``,
``show``, ``add`` (through admission, as an untrusted input) and ``stats``, for Claude
Desktop, Cursor, other frameworks, or another workspace's agents."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

from gwa.assembly import build_memory
from gwa.memory import AdmissionCandidate, make_entry
from gwa.scenario import MemorySpec


def seed(shared: Any, path: Path) -> int:
    """Store each non-blank line of a text file as a memory when the store is empty (a
    store to share starts from notes); how many were stored."""
    store = shared.store
    if store.count() > 0:
        return 0
    from gwa.memory import NewMemory

    lines = [t.strip() for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    items = [NewMemory(t, run="seed", agent="seed", kind="input", trust=0.5) for t in lines]
    store.add(items)
    store.flush()
    return len(items)


def build_server(
    store: Path, *, admission: str = "learned", name: str = "gwa-memory"
) -> tuple[MCPServer[Any], Any]:
    """An ``MCPServer`` over the store at ``store`` and the store's shared memory (opened
    now; the caller closes it)."""
    spec = MemorySpec.model_validate({"path": str(store), "admission": admission})
    shared = build_memory(spec, store)
    server: MCPServer[Any] = MCPServer(
        name,
        instructions="Long-term memory of a GWA workspace: search it, show a memory, add one.",
        log_level="WARNING",
    )
    added = [0]

    @server.tool()
    async def search(query: str, k: int = 5) -> list[dict[str, Any]]:
        """Memories relevant to a query (hybrid dense + lexical retrieval), best first."""
        found = await shared.retrieve([query], k=max(1, min(k, 50)))
        return [{"id": m.id, "text": m.text, "score": round(m.score, 4)} for m in found]

    @server.tool()
    def show(id: str) -> dict[str, Any]:
        """One memory by id: its text, provenance, trust, strength and links."""
        rec = shared.store.get(id)
        if rec is None:
            raise ValueError(f"no memory {id!r}; search first to find ids")
        body = asdict(rec)
        body["links"] = [list(x) for x in shared.store.links.neighbours(id)]
        return body

    @server.tool()
    async def add(text: str, source: str = "mcp") -> dict[str, Any]:
        """Offer a text to long-term memory. It goes through admission as an untrusted input
        (instruction-like text is never stored); says whether it was stored and why."""
        added[0] += 1
        entry = make_entry(f"mcp.{added[0]}", 0, "input", "input", text, source)
        (d,) = await shared.offer([AdmissionCandidate(entry, "mcp", "evicted", "input")])
        return {"stored": d.admitted, "id": d.memory_id, "p": round(d.p, 4), "reason": d.reason}

    @server.tool()
    def stats() -> dict[str, Any]:
        """Counts, tokens, retention and links of the store."""
        return dict(shared.store.stats())

    return server, shared


def serve(
    store: Path,
    *,
    http: int | None = None,
    host: str = "127.0.0.1",
    admission: str = "learned",
    seed_file: Path | None = None,
) -> None:
    """Serve over stdio (default) or streamable HTTP on ``host:http`` at ``/mcp``."""
    logging.getLogger("mcp").setLevel(logging.WARNING)
    server, shared = build_server(store, admission=admission)
    if seed_file is not None:
        seed(shared, seed_file)
    try:
        if http is None:
            server.run()
        else:
            server.run("streamable-http", host=host, port=http)
    finally:
        shared.close()
