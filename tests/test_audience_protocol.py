"""Protocol core without sockets: parsing, validation, identity, rate limits."""

from __future__ import annotations

import json

import pytest

from stage.audience.identity import DeviceSigner, token_ok
from stage.audience.protocol import (
    MAX_MESSAGE_BYTES,
    Ping,
    ProtocolError,
    React,
    Tap,
    Vote,
    encode,
    parse_phone,
    parse_poll_spec,
)
from stage.audience.ratelimit import AbuseCounter, AddressLimits, TokenBucket


def frame(**fields: object) -> str:
    return json.dumps({"v": 1, **fields})


def test_parses_each_phone_message() -> None:
    assert parse_phone(frame(type="vote", poll="p", choice=2, seq=7)) == Vote("p", 2, None, 7)
    assert parse_phone(frame(type="vote", poll="p", value=0.25)) == Vote("p", value=0.25)
    assert parse_phone(frame(type="tap", poll="p", count=3)) == Tap("p", 3)
    assert parse_phone(frame(type="react", emoji="🔥")) == React("🔥")
    assert parse_phone(frame(type="ping", seq=1)) == Ping(1)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        (json.dumps({"type": "vote", "poll": "p", "choice": 1}), "bad_version"),
        (json.dumps({"v": 2, "type": "vote", "poll": "p", "choice": 1}), "bad_version"),
        (frame(type="open_poll", poll={}), "bad_type"),
        (frame(type="state", bar=1), "bad_type"),
        (frame(type="vote", poll="p"), "bad_field"),
        (frame(type="vote", poll="p", choice=1, value=0.5), "bad_field"),
        (frame(type="vote", poll="p", choice=True), "bad_field"),
        (frame(type="vote", poll="p", choice=9), "bad_field"),
        (frame(type="vote", poll="p", value=1.5), "bad_field"),
        (frame(type="vote", poll="p", value="NaN"), "bad_field"),
        ('{"v":1,"type":"vote","poll":"p","value":NaN}', "bad_field"),
        (frame(type="vote", poll="x" * 41, choice=1), "bad_field"),
        (frame(type="tap", poll="p", count=0), "bad_field"),
        (frame(type="tap", poll="p", count=51), "bad_field"),
        (frame(type="react", emoji="<script>"), "bad_field"),
        (frame(type="vote", poll="p", choice=1, pad="x" * MAX_MESSAGE_BYTES), "too_big"),
    ],
)
def test_rejects_bad_frames_with_a_code(raw: str, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_phone(raw)
    assert caught.value.code == code


def test_poll_spec_validation() -> None:
    spec = parse_poll_spec({"id": "next", "kind": "choice", "options": ["A", "B"],
                            "close_bar": 8})
    assert spec.options == ("A", "B") and spec.close_bar == 8
    for bad in ({"id": "x", "kind": "choice", "options": ["A"]},
                {"id": "x", "kind": "choice", "options": list("ABCDEFG")},
                {"id": "x", "kind": "vote"}, {"kind": "scale"}, "nope",
                {"id": "x", "kind": "scale", "close_bar": -1}):
        with pytest.raises(ProtocolError):
            parse_poll_spec(bad)


def test_encode_is_versioned_json() -> None:
    assert json.loads(encode("ack", seq=3)) == {"v": 1, "type": "ack", "seq": 3}


def test_signed_device_ids() -> None:
    signer = DeviceSigner(b"k" * 32, "show-a")
    device, cookie = signer.issue()
    assert signer.verify(cookie) == device
    assert signer.verify(cookie[:-1] + ("0" if cookie[-1] != "0" else "1")) is None
    assert signer.verify(f"{'0' * 24}.{cookie.split('.')[1]}") is None
    assert DeviceSigner(b"k" * 32, "show-b").verify(cookie) is None
    assert signer.verify(None) is None and signer.verify("x" * 500) is None
    assert token_ok("abc", "abc") and not token_ok("abc", "abd") and not token_ok("abc", None)


def test_token_bucket_refills_with_time() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, now_ns=0)
    assert [bucket.take(0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(500_000_000)  # half a second earns one token
    assert not bucket.take(500_000_000)


def test_address_limits_are_per_address_and_bounded() -> None:
    limits = AddressLimits(rate=1.0, burst=1.0, capacity=2)
    assert limits.take("a", 0) and not limits.take("a", 0)
    assert limits.take("b", 0)
    limits.take("c", 0)
    assert len(limits._buckets) == 2


def test_abuse_counter_closes_past_its_limit() -> None:
    abuse = AbuseCounter(limit=2)
    assert [abuse.strike() for _ in range(3)] == [False, False, True]
