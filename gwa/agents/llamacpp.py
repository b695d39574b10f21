"""What GWA adds to llama-cpp-python for its embedded model: speed, the same outputs' shape.

Two things, both in :func:`fast_llama_class`:

**Grammar on the top tokens.** llama-cpp-python's sampler chain runs the grammar over the whole
vocabulary (49,152 tokens for SmolLM2) at every step, before top-k: on this machine that cost
more than the model's own forward pass. Here the order is penalties → top-k → grammar → the
rest of the chain, the order llama.cpp's own server reaches by sampling first and checking the
grammar after. When the grammar rejects all of the top k, the step falls back to penalties →
grammar → top-k over the whole vocabulary, so every sampled token is valid: outputs still parse
by construction. The distribution is the same as the full chain's whenever at least one of the
top k is valid and the rest of the chain (top-p 0.95, min-p 0.05) would not have reached past
them.

**Prompts' KV states kept.** Prompt processing is most of a call's time on a small CPU
(llama.cpp evaluates a prompt token here at about a third of the speed it generates one), and
llama-cpp-python reuses only the previous prompt's common prefix. An agent's prompt starts
the same every cycle (its system prompt: identity, role, output format; then the goal), but
the agents of a phase take turns, so it is evicted before it comes back. The KV state of
each prompt is saved once it is evaluated; a later prompt restores the kept state with the
longest common prefix, when that is longer than what is live, and evaluates only what follows
it (llama.cpp's server keeps its slots' prompts the same way). The model sees the same tokens
as before.
"""

from __future__ import annotations

import ctypes
import importlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

TOKEN = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)


class TopKGrammarSampler:
    """Stands in for llama-cpp-python's ``LlamaSampler`` (``sample`` / ``accept`` / ``reset``)."""

    def __init__(self, llm: Any, grammar: Any, params: dict[str, Any]) -> None:
        import llama_cpp

        self._c = llama_cpp
        n_vocab = llm.n_vocab()
        self._penalties = _chain()
        self._penalties.add_penalties(
            n_vocab=n_vocab,
            penalty_last_n=llm.last_n_tokens_size,
            penalty_repeat=params["repeat_penalty"],
            penalty_freq=params["frequency_penalty"],
            penalty_present=params["presence_penalty"],
        )
        self._top_k = _chain()
        self._top_k.add_top_k(params["top_k"])
        self._grammar = _chain()
        self._grammar.add_grammar(llm._model, grammar)
        self._tail = _tail(llm, params)
        self._buffer = (llama_cpp.llama_token_data * n_vocab)()
        self._tokens = np.frombuffer(self._buffer, dtype=TOKEN)
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._array = llama_cpp.llama_token_data_array(
            data=self._buffer, size=n_vocab, selected=-1, sorted=False
        )
        self._n_vocab = n_vocab
        self.fallbacks = 0
        self.steps = 0

    def _fill(self, ctx: Any, idx: int) -> None:
        logits = self._c.llama_get_logits_ith(ctx.ctx, idx)
        self._tokens["id"] = self._ids
        self._tokens["logit"] = np.ctypeslib.as_array(logits, shape=(self._n_vocab,))
        self._array.size = self._n_vocab
        self._array.selected = -1
        self._array.sorted = False

    def _view(self) -> Any:
        """The candidates as they stand (a sampler may have moved them to a buffer of its own)."""
        return np.ctypeslib.as_array(self._array.data, shape=(self._array.size,)).view(TOKEN)

    def _apply(self, sampler: Any) -> None:
        self._c.llama_sampler_apply(sampler.sampler, ctypes.byref(self._array))

    def sample(self, ctx: Any, idx: int = -1) -> int:
        """One token: the grammar checked on the top k, over the whole vocabulary if none pass."""
        self.steps += 1
        self._fill(ctx, idx)
        self._apply(self._penalties)
        self._apply(self._top_k)
        self._apply(self._grammar)
        self._array.sorted = False  # rejected tokens are -inf now, wherever they stood
        if not np.isfinite(self._view()["logit"]).any():
            self.fallbacks += 1
            self._fill(ctx, idx)
            self._apply(self._penalties)
            self._apply(self._grammar)
            self._apply(self._top_k)
        self._apply(self._tail)
        token = int(self._view()["id"][self._array.selected])
        self.accept(token)
        return token

    def accept(self, token: int) -> None:
        """Advance the penalties' history, the grammar's state and the tail's."""
        for sampler in (self._penalties, self._grammar, self._tail):
            sampler.accept(token)

    def reset(self) -> None:
        """Back to the first token (llama-cpp-python's sampler interface)."""
        for sampler in (self._penalties, self._grammar, self._tail):
            sampler.reset()


def _chain() -> Any:
    """An empty llama.cpp sampler chain (llama-cpp-python's wrapper, untyped)."""
    internals: Any = importlib.import_module("llama_cpp._internals")
    return internals.LlamaSampler()


def _tail(llm: Any, params: dict[str, Any]) -> Any:
    """What llama-cpp-python's chain runs after top-k (mirostat is not offered here)."""
    tail = _chain()
    temp = params["temp"]
    if temp < 0.0:
        tail.add_dist(llm._seed)
    elif temp == 0.0:
        tail.add_greedy()
    else:
        tail.add_typical(params["typical_p"], 1)
        tail.add_top_p(params["top_p"], 1)
        tail.add_min_p(params["min_p"], 1)
        tail.add_temp(temp)
        tail.add_dist(llm._seed)
    return tail


class PrefixStates:
    """KV states of sequence 0 keyed by the tokens they hold; the least recently used are
    dropped beyond ``capacity`` states or ``max_bytes`` in all (a long system prompt's state
    is large: about 23 kB a token for SmolLM2-135M)."""

    def __init__(self, capacity: int = 32, max_bytes: int = 256 << 20) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._states: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self.bytes = 0
        self.saved = 0
        self.restored = 0

    def get(self, key: tuple[int, ...]) -> Any:
        """The state for exactly these tokens, or None."""
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
        return state

    def put(self, key: tuple[int, ...], state: Any) -> None:
        """Keep ``state`` (drops the least recently used beyond the limits; a state over
        ``max_bytes`` alone is not kept)."""
        old = self._states.pop(key, None)
        self.bytes -= len(old) if old is not None else 0
        if len(state) > self.max_bytes:
            return
        self._states[key] = state
        self.bytes += len(state)
        while len(self._states) > self.capacity or self.bytes > self.max_bytes:
            _, dropped = self._states.popitem(last=False)
            self.bytes -= len(dropped)

    def closest(self, tokens: Sequence[int]) -> tuple[tuple[int, ...] | None, int]:
        """The kept key sharing the longest prefix with ``tokens``, and that length (None, 0
        when none shares a token)."""
        best: tuple[tuple[int, ...] | None, int] = (None, 0)
        for key in self._states:
            shared = _common(key, tokens)
            if shared > best[1]:
                best = (key, shared)
        return best

    def __len__(self) -> int:
        return len(self._states)


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _restore(llm: Any, store: PrefixStates, key: tuple[int, ...]) -> None:
    """Put the kept state of ``key`` in place in sequence 0."""
    import llama_cpp

    state = store.get(key)
    llm._ctx.kv_cache_seq_rm(0, 0, -1)
    llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, state, len(state), 0)
    llm.input_ids[: len(key)] = key
    llm.n_tokens = len(key)
    llm._requires_eval = True
    store.restored += 1


def _keep(llm: Any, store: PrefixStates, key: tuple[int, ...]) -> None:
    """Keep sequence 0's state (which holds exactly ``key``)."""
    import llama_cpp

    size = llama_cpp.llama_state_seq_get_size(llm._ctx.ctx, 0)
    state = (ctypes.c_uint8 * size)()
    llama_cpp.llama_state_seq_get_data(llm._ctx.ctx, state, size, 0)
    store.put(key, state)
    store.saved += 1


def _prepare(llm: Any, store: PrefixStates, tokens: list[int]) -> None:
    """Evaluate the prompt from the kept or live state that shares the longest prefix with
    it, and keep the result; ``generate`` then finds the whole prompt live and samples."""
    live = _common(llm.input_ids[: llm.n_tokens].tolist(), tokens)
    key, shared = store.closest(tokens)
    if key is not None and shared > live:
        _restore(llm, store, key)
        live = shared
    if live < len(tokens):
        llm.n_tokens = live
        llm.eval(tokens[live:])
        _keep(llm, store, tuple(tokens))


def fast_llama_class() -> type:
    """``llama_cpp.Llama`` with grammar sampling through :class:`TopKGrammarSampler` and the
    KV states of its prompts kept in :class:`PrefixStates`."""
    from llama_cpp import Llama

    class FastGrammarLlama(Llama):
        grammar_on_top_k = True  # False: llama-cpp-python's own chain (for measurement)
        prefix_states: PrefixStates | None = None  # set per instance; None: off

        def generate(self, tokens: Sequence[int], *args: Any, **kwargs: Any) -> Any:
            if self.prefix_states is not None and kwargs.get("reset", True):
                _prepare(self, self.prefix_states, list(tokens))
            return super().generate(tokens, *args, **kwargs)

        def _init_sampler(self, **params: Any) -> Any:  # type: ignore[override]
            grammar = params.get("grammar")
            stock = not self.grammar_on_top_k or grammar is None
            if stock or params.get("logits_processor") or params.get("mirostat_mode"):
                return super()._init_sampler(**params)
            return TopKGrammarSampler(self, grammar, params)

    return FastGrammarLlama
