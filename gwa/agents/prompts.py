"""Rendering a request into chat messages. Prompts stay flat: working memory is bounded."""

from __future__ import annotations

from gwa.agents.roles import OUTPUTS, Role
from gwa.types import ChatMessage, Phase, Request


def system_prompt(role: Role, identity: str, instruction: str, n_candidates: int = 1) -> str:
    """Identity ("core self"), the role's instruction and the exact output format."""
    parts = [identity.strip()] if identity.strip() else []
    parts.append(instruction.strip())
    if role.output == "candidates" and n_candidates > 1:
        parts.append(f"Propose exactly {n_candidates} different thoughts.")
    parts.append(f"Reply with one JSON object only, like: {OUTPUTS[role.output].example}")
    return "\n\n".join(parts)


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
        lines += [f"[{i}] ({c.agent}) {c.text}" for i, c in enumerate(request.candidates, 1)]
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


def render(
    role: Role, request: Request, *, instruction: str | None = None, n_candidates: int = 1
) -> tuple[ChatMessage, ...]:
    """The chat messages for one agent's turn."""
    system = system_prompt(
        role, request.broadcast.identity, instruction or role.instruction, n_candidates
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
