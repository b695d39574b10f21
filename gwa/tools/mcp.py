"""Tools of MCP servers, through the official ``mcp`` SDK: a command over stdio or a URL over
streamable HTTP, connected and listed once per run."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gwa.errors import ConfigError
from gwa.tools.base import ToolBase
from gwa.types import ToolInfo


class McpTool(ToolBase):
    """One tool of a connected MCP server."""

    def __init__(
        self, client: Any, info: ToolInfo, *, remote: str, confirm: bool, timeout_s: float
    ) -> None:
        super().__init__(info, confirm=confirm, timeout_s=timeout_s)
        self.client = client
        self.remote = remote
        """The tool's name on its server (``info.name`` may carry a prefix)."""

    async def call(self, arguments: dict[str, Any]) -> str:
        """``tools/call``; the text content (or the structured content as JSON)."""
        result = await self.client.call_tool(
            self.remote, arguments, read_timeout_seconds=self._timeout_s
        )
        texts = [c.text for c in result.content if getattr(c, "type", "") == "text"]
        text = "\n".join(texts)
        if not text and result.structured_content is not None:
            text = json.dumps(result.structured_content, ensure_ascii=False)
        if result.is_error:
            raise RuntimeError(text or "the MCP server reported an error")
        return text


def _target(command: Sequence[str], url: str | None, env: dict[str, str], base: Path | None) -> Any:
    if url is not None:
        return url
    from mcp.client.stdio import StdioServerParameters, stdio_client

    program = sys.executable if command[0] == "python" else command[0]
    params = StdioServerParameters(
        command=program, args=list(command[1:]), env=env or None, cwd=base
    )
    return stdio_client(params, errlog=_errlog())


def _errlog() -> Any:
    """Where a stdio server's stderr goes: this process's stderr, or the one it started with
    when ``sys.stderr`` was replaced by an object without a file descriptor (a notebook, a
    test's capture, an app that collects its log in memory), which a subprocess cannot use."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.__stderr__
    return sys.stderr


async def open_mcp(
    stack: contextlib.AsyncExitStack,
    *,
    command: Sequence[str] = (),
    url: str | None = None,
    env: dict[str, str] | None = None,
    only: Sequence[str] = (),
    prefix: str = "",
    confirm: bool = False,
    timeout_s: float = 30.0,
    base: Path | None = None,
) -> list[McpTool]:
    """Connect to an MCP server (closed with ``stack``) and list its tools once; ``only``
    keeps those names, ``prefix`` is put before each name (two servers may share names)."""
    try:
        from mcp import Client
    except ImportError:
        raise ConfigError("MCP tools need the mcp SDK: pip install 'gwa[mcp]'") from None
    label = url or " ".join(command)
    try:
        client = await stack.enter_async_context(Client(_target(command, url, env or {}, base)))
        listed = await client.list_tools()
    except Exception as exc:
        raise ConfigError(
            f"MCP server {label!r}: cannot connect or list its tools ({type(exc).__name__}: "
            f"{exc}); check the command or URL (and that the server runs)"
        ) from None
    names = {t.name for t in listed.tools}
    missing = [n for n in only if n not in names]
    if missing:
        raise ConfigError(
            f"MCP server {label!r} has no tool {', '.join(missing)}; it lists: "
            f"{', '.join(sorted(names)) or 'none'}"
        )
    return [
        McpTool(
            client,
            ToolInfo(
                prefix + t.name, t.description or t.name, dict(t.input_schema or {"type": "object"})
            ),
            remote=t.name,
            confirm=confirm,
            timeout_s=timeout_s,
        )
        for t in listed.tools
        if not only or t.name in only
    ]
