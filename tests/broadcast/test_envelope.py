"""Envelopes: per-sender numbering and the JSON wire codec."""

from __future__ import annotations

import pytest

from gwa.broadcast import ENVELOPE_VERSION, Sender, decode, encode
from gwa.errors import BusError


def test_sender_numbers_envelopes_from_one() -> None:
    """Each sender numbers its envelopes 1, 2, 3 … per topic, independently of other senders."""
    a, b = Sender("a"), Sender("b")
    assert [a.envelope("t", "k").seq for _ in range(3)] == [1, 2, 3]
    assert a.envelope("u", "k").seq == 1
    assert b.envelope("t", "k").seq == 1


def test_codec_round_trips() -> None:
    """encode → decode gives back an equal envelope."""
    env = Sender("hub").envelope("gwa/r/broadcast", "request", {"x": [1, "ü"]}, cycle=4)
    assert decode(encode(env)) == env


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "malformed envelope"),
        (b'{"topic": "t"}', "malformed envelope"),
        (
            b'{"topic":"t","sender":"s","seq":1,"kind":"k","v":%d}' % (ENVELOPE_VERSION + 1),
            "newer than this GWA",
        ),
    ],
)
def test_decode_rejects_bad_input_clearly(data: bytes, message: str) -> None:
    """Broken or too-new envelopes raise BusError saying what is wrong."""
    with pytest.raises(BusError, match=message):
        decode(data)
