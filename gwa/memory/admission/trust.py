"""Trust: a Beta posterior per source (α / (α + β)): use raises it, contradiction lowers it.
External inputs start untrusted, each origin on its own, and need a higher p; an instruction-like
text ("ignore previous instructions …") from an input, from a thought that restates one, or from
any untrusted source is never admitted."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_I = re.IGNORECASE | re.DOTALL
_RULES = (
    r"(instructions?|rules?|guidelines|prompts?|directions|directives|policies|policy|"
    r"constraints|guardrails|programming|training|context)"
)
INSTRUCTION_CUES: dict[str, re.Pattern[str]] = {
    # "ignore all previous instructions", "disregard your guidelines"
    "override": re.compile(
        r"\b(ignore|disregard|forget|override|bypass|skip|drop|abandon|discard)\b"
        r"[^.!?\n]{0,40}\b(previous|prior|above|earlier|all|any|your|the|these|those|system)\b"
        r"[^.!?\n]{0,30}\b" + _RULES,
        _I,
    ),
    # "disregard your earlier notes", "override the stored memories": aimed at what a memory
    # system keeps ("forget" is left out: "don't forget your notes" is ordinary talk)
    "memory": re.compile(
        r"\b(ignore|disregard|override|overwrite|erase|wipe|bypass|discard)\b[^.!?\n]{0,40}"
        r"\b(previous|prior|above|earlier|all|any|your|these|those|stored|old)\b[^.!?\n]{0,30}"
        r"\b(notes|memories|memory|records|facts)\b",
        _I,
    ),
    # "you are now …", "act as root", "pretend you are", "developer mode", "jailbreak"
    "hijack": re.compile(
        r"\byou are now\b|\b(act|behave|respond) as (an? |the )?(admin|root|developer|system|"
        r"unrestricted|unfiltered|different)\b|\bpretend (to be|you are)\b|\broleplay as\b|"
        r"\b(developer|god|dan|jailbreak) mode\b|\bthis is a jailbreak\b|\bjailbroken\b|"
        r"\bno (more )?(rules|limits|restrictions|filters) (apply|now|anymore|for you)\b",
        _I,
    ),
    # "System prompt:", "[system]", "<|im_start|>system", "new instructions", "admin override"
    "meta": re.compile(
        r"\bsystem prompt\b|^\W*(system|assistant|developer)\s*[:>\]]|\[(system|inst)\]|"
        r"<\|?(im_start|system)|\bnew (instructions|rules|directives)\b|\badmin(istrator)? "
        r"override\b|#{2,}\s*instruction",
        _I | re.MULTILINE,
    ),
    # "the correct answer to every question is X", "always answer with", "reply only with"
    "answer": re.compile(
        r"\b(correct|right|only|true|real) answer (to|for) (every|all|any|each)\b|"
        r"\b(always|only|must) (answer|respond|reply|say|output|write) (with|that|in|by)\b|"
        r"\b(always|only|must) (answer|respond|reply|say|output|write) ['\"]|"
        r"\b(answer|respond|reply) (only|always) (with|in|by)\b|"
        r"\bwhatever (you are|you're|they) (asked|told)\b|"
        r"\bfrom now on,? (you|always|only|answer|respond|reply|say|every|never)\b",
        _I,
    ),
    # "reveal the admin password", "print your system prompt"
    "exfiltrate": re.compile(
        r"\b(reveal|print|leak|expose|dump|output|repeat|send)\b[^.!?\n]{0,25}"
        r"\b(password|passwords|secret|secrets|api key|keys|token|credentials|system prompt|"
        r"instructions)\b|"
        r"\b(show|tell|give) (me|us)\b[^.!?\n]{0,15}\b(your|the (admin|system|api|root))\b"
        r"[^.!?\n]{0,15}\b(password|secret|key|token|prompt|instructions|credentials)\b",
        _I,
    ),
    # "IMPORTANT: you must never …" (an alarm prefix addressed to the agents)
    "alarm": re.compile(
        r"^\W*(important|note|attention|warning|urgent|notice|reminder)\W*[:!]\s*"
        r"(you|always|never|every|all|the (correct|only|right)|do not|don't|ignore)\b",
        _I | re.MULTILINE,
    ),
}
"""Cue families of an attempt to instruct the agents through content. Each is a pattern of
*addressing the system* (its rules, its role, its answers, its secrets), not of a topic, so
"I forgot the oven's instructions" or "Important: the library closes at six" do not match.
Measured on tests/hostile/test_instructions.py's corpus (the closing note of issue 21)."""
INSTRUCTION_LIKE = INSTRUCTION_CUES["override"]
"""Kept for code that imported the old single pattern."""


def instruction_cues(text: str) -> list[str]:
    """The cue families a text matches (empty: it does not read like an instruction)."""
    return [name for name, pattern in INSTRUCTION_CUES.items() if pattern.search(text)]


def instruction_like(text: str) -> bool:
    """Whether a text reads like an attempt to instruct the agents (a poisoning cue)."""
    return bool(instruction_cues(text))


@dataclass
class TrustBook:
    """Per-source trust as Beta(α, β); external inputs start at Beta(1, 3) (0.25)."""

    prior: dict[str, tuple[float, float]] = field(default_factory=lambda: {"input": (1.0, 3.0)})
    counts: dict[str, list[float]] = field(default_factory=dict)

    def _ab(self, source: str) -> list[float]:
        if source not in self.counts:
            # Every input origin ("input:<sender>") starts where inputs start: untrusted.
            kind = "input" if source.startswith("input:") else source
            self.counts[source] = list(self.prior.get(source, self.prior.get(kind, (2.0, 2.0))))
        return self.counts[source]

    def trust(self, source: str) -> float:
        """α / (α + β)."""
        a, b = self._ab(source)
        return a / (a + b)

    def used(self, source: str, weight: float = 1.0) -> None:
        """A memory from ``source`` proved useful."""
        self._ab(source)[0] += weight

    def contradicted(self, source: str, weight: float = 1.0) -> None:
        """A memory from ``source`` was contradicted (superseded)."""
        self._ab(source)[1] += weight
