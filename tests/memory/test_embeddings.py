"""Offline MiniLM embeddings: real vectors, verified files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from gwa.errors import ConfigError
from gwa.memory import embeddings
from gwa.memory.embeddings import MiniLMEmbedder, cosine


def test_similar_sentences_are_closer_than_unrelated_ones() -> None:
    """Paraphrases score higher cosine than unrelated sentences; vectors are unit length."""
    v = MiniLMEmbedder.shared().embed(
        ["A man is eating food.", "A man is eating a piece of bread.", "The girl carries a baby."]
    )
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = cosine(v, v)
    assert sims[0, 1] > 0.6 > sims[0, 2]


def test_batches_match_single_texts() -> None:
    """Padding in a batch does not change a text's vector."""
    e = MiniLMEmbedder.shared()
    texts = ["short", "a much longer sentence about the garden and its many vegetables"]
    together = e.embed(texts)
    alone = np.concatenate([e.embed([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)
    assert e.embed([]).shape == (0, 384)


def test_a_tampered_tokenizer_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tokenizer file whose sha256 differs is rejected with the reason and the fix."""
    copy = tmp_path / "tok.json"
    shutil.copy(embeddings.TOKENIZER_PATH, copy)
    copy.write_bytes(copy.read_bytes() + b" ")
    monkeypatch.setattr(embeddings, "TOKENIZER_PATH", copy)
    with pytest.raises(ConfigError, match="corrupt or not the one GWA was built for"):
        MiniLMEmbedder()
