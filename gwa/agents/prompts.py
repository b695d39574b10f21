"""Rendering a request into chat messages. Prompts stay flat: working memory is bounded."""

from __future__ import annotations

import json
from collections.abc import Sequence

from gwa.agents.roles import OUTPUTS, Role
from gwa.types import Candidate, ChatMessage, Phase, Request, ToolInfo


def system_prompt(
    role: Role,
    identity: str,
    instruction: str,
    n_candidates: int = 1,
    tools: Sequence[ToolInfo] = (),
) -> str:
    """Identity ("core self"), the role's instruction, the tools it may call, and the exact
    output format."""
    parts = [identity.strip()] if identity.strip() else []
    parts.append(instruction.strip())
    if role.output == "candidates" and n_candidates > 1:
        parts.append(f"Propose exactly {n_candidates} different thoughts.")
    example = OUTPUTS[role.output].example
    if role.output == "candidates" and tools:
        parts.append(tools_prompt(tools))
        example = (
            '{"candidates": [{"text": "…", "salience": 0.7, "final": false, '
            f'"action": {{"tool": "{tools[0].name}", "arguments": {{…}}}}}}]}}'
        )
    parts.append(f"Reply with one JSON object only, like: {example}")
    return "\n\n".join(parts)


def tools_prompt(tools: Sequence[ToolInfo]) -> str:
    """What a generator is told of its tools."""
    lines = [
        "You may act: give a thought an action (a tool and its arguments). If the thought "
        "wins, the workspace runs the tool and you see its result as a NEW INPUT in the next "
        'cycle. Use "action": null for a thought without one. Tools:'
    ]
    for t in tools:
        props = ", ".join(
            f"{name}: {spec.get('type', 'any')}"
            for name, spec in dict(t.parameters.get("properties", {})).items()
        )
        lines.append(f"- {t.name}({props}): {t.description}")
    return "\n".join(lines)


def user_prompt(request: Request) -> str:
    """The workspace state and, per phase, the candidates, critiques or entries to work on."""
    b = request.broadcast
    lines = [f"GOAL: {b.goal}", f"CYCLE: {b.cycle}"]
    if b.working_memory:
        lines.append("WORKING MEMORY:")
        lines += [f"- ({e.kind}, {e.author}) {e.text}" for e in b.working_memory]
    if b.winner is not None:
        lines.append(f"LAST WINNER ({b.winner.agent}): {b.winner.text}")
    if b.inputs:
        lines.append("NEW INPUTS:")
        lines += [f"- {text}" for text in b.inputs]
    if b.memories:
        lines.append("RECALLED MEMORIES:")
        lines += [f"- ({m.id}) {m.text}" for m in b.memories]
    if request.phase in (Phase.REVIEW, Phase.SELECT) and request.candidates:
        lines.append("CANDIDATES:")
        lines += [
            f"[{i}] ({c.agent}) {c.text}{_action(c)}" for i, c in enumerate(request.candidates, 1)
        ]
    if request.phase is Phase.SELECT and request.critiques:
        index = {c.id: i for i, c in enumerate(request.candidates, 1)}
        lines.append("CRITIQUES:")
        lines += [
            f"- candidate {index.get(c.candidate_id, '?')}: {c.score:+d} by {c.critic}: {c.reason}"
            for c in request.critiques
        ]
    if request.phase is Phase.SUMMARIZE and request.entries:
        lines.append("ENTRIES TO SUMMARISE:")
        lines += [f"[{i}] ({e.author}) {e.text}" for i, e in enumerate(request.entries, 1)]
    return "\n".join(lines)


def _action(c: Candidate) -> str:
    if c.action is None:
        return ""
    args = json.dumps(c.action.arguments, ensure_ascii=False)
    return f" [action: {c.action.tool} {args}]"


def render(
    role: Role,
    request: Request,
    *,
    instruction: str | None = None,
    n_candidates: int = 1,
    tools: Sequence[ToolInfo] = (),
) -> tuple[ChatMessage, ...]:
    """The chat messages for one agent's turn."""
    system = system_prompt(
        role, request.broadcast.identity, instruction or role.instruction, n_candidates, tools
    )
    return (ChatMessage("system", system), ChatMessage("user", user_prompt(request)))


PERSPECTIVES = (
    "as someone who disagrees with everything said so far",
    "as a child who would use the result",
    "with almost no money to spend",
    "looking ten years ahead",
    "by asking what could go wrong",
    "as a visitor from another country",
)
"""Lenses for the drive's escalation step 'perspective'."""


def perspective_note(cycle: int) -> str:
    """The workspace note of the escalation step 'perspective': a concrete lens, chosen by
    cycle so that replays match. It joins the next broadcast, and for a few broadcasts the
    last winner and the raw thoughts are withheld (agents that copy what they see cannot
    copy the loop)."""
    lens = PERSPECTIVES[cycle % len(PERSPECTIVES)]
    return (
        f"[workspace] The last thoughts repeat each other. Think about the goal {lens}, and "
        "propose something clearly different from everything in working memory."
    )
