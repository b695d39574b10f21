"""Envelopes: per-sender numbering and the JSON wire codec."""

from __future__ import annotations

import json

import pytest

from gwa.broadcast import ENVELOPE_VERSION, Envelope, Sender, decode, encode
from gwa.broadcast.envelope import BATCH_VERSION, encode_batch, is_batch, unbatch
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


def test_a_batch_frame_carries_envelopes_of_one_topic_in_order() -> None:
    """encode_batch → decode gives a batch frame; unbatch gives back the envelopes, equal and
    in order, each with its own sender and number."""
    a, b = Sender("agent:a@w"), Sender("agent:b@w")
    envs = [a.envelope("gwa/r/proposal", "reply", {"i": 1}), b.envelope("gwa/r/proposal", "reply")]
    envs.append(a.envelope("gwa/r/proposal", "reply", {"ü": [1.5, None]}, cycle=3))
    frame = decode(encode_batch(envs, "gwa-worker"))
    assert is_batch(frame)
    assert (frame.topic, frame.sender, frame.v) == ("gwa/r/proposal", "gwa-worker", BATCH_VERSION)
    assert unbatch(frame) == (envs, [])
    with pytest.raises(ValueError, match="one topic"):
        encode_batch([envs[0], a.envelope("gwa/r/broadcast", "request")], "w")


def test_a_receiver_from_before_batches_refuses_a_frame_as_too_new() -> None:
    """A frame's version is above ENVELOPE_VERSION, which receivers older than batches check
    (with the message to upgrade); only the batch kind may carry it."""
    frame = json.loads(encode_batch([Sender("s").envelope("t", "k")] * 2, "w"))
    assert frame["v"] > ENVELOPE_VERSION
    frame["kind"] = "reply"
    with pytest.raises(BusError, match="newer than this GWA"):
        decode(json.dumps(frame))


def test_unbatch_names_each_bad_envelope_and_keeps_the_good_ones() -> None:
    """A malformed inner envelope, one of another topic and one too new are each reported and
    left out; the rest are delivered. A frame whose payload holds no list is reported."""
    good = Sender("s").envelope("t", "k", {"x": 1})
    items = [
        {"topic": "t"},
        {"topic": "u", "sender": "s", "seq": 2, "kind": "k"},
        {"topic": "t", "sender": "s", "seq": 3, "kind": "k", "v": ENVELOPE_VERSION + 1},
    ]
    frame = Envelope("t", "w", 0, "batch", {"envelopes": [*items, encode_dict(good)]}, v=2)
    envelopes, errors = unbatch(frame)
    assert envelopes == [good]
    assert len(errors) == 3
    assert "malformed envelope 0 of a batch" in errors[0]
    assert "envelope 1 of a batch is for 'u', not 't'" in errors[1]
    assert "envelope 2 of a batch: envelope version 2 is newer than this GWA" in errors[2]
    assert unbatch(Envelope("t", "w", 0, "batch", {"envelopes": "x"}, v=2))[0] == []


def encode_dict(envelope: Envelope) -> dict[str, object]:
    return dict(json.loads(encode(envelope)))
