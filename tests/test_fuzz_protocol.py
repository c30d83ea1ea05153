"""Fuzzing the phones' websocket protocol: any frame a phone (or a console) can send either
parses to a typed message or fails with a ProtocolError: a known code and one clear line."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stage.audience.protocol import (
    MAX_MESSAGE_BYTES,
    VERSION,
    Ping,
    ProtocolError,
    React,
    Tap,
    Vote,
    parse_phone,
    parse_poll_spec,
)

CODES = {"too_big", "bad_json", "bad_version", "bad_type", "bad_field", "bad_poll"}
FUZZ = settings(max_examples=150, deadline=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=60),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=8)
FIELDS = ["v", "type", "poll", "choice", "value", "seq", "count", "emoji", "id", "kind",
          "options", "question", "close_bar", "close_on_section"]


def _one_clear_line(error: ProtocolError) -> None:
    assert error.code in CODES
    message = str(error)
    assert message and "\n" not in message and len(message) < 200


def _frame(fields: dict[str, Any]) -> str:
    return json.dumps(fields, allow_nan=True)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_any_bytes_parse_or_fail_with_one_clear_line(raw: str | bytes) -> None:
    try:
        message = parse_phone(raw)
    except ProtocolError as error:
        _one_clear_line(error)
    else:
        assert isinstance(message, Vote | Tap | React | Ping)


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
       kind=st.sampled_from(["vote", "tap", "react", "ping", "hello", 7, None]),
       version=st.sampled_from([VERSION, VERSION + 1, "1", None]))
def test_frames_with_any_fields_parse_or_fail_with_one_clear_line(
        fields: dict[str, Any], kind: Any, version: Any) -> None:
    frame = {**fields, "v": version, "type": kind}
    try:
        message = parse_phone(_frame(frame))
    except ProtocolError as error:
        _one_clear_line(error)
        return
    # what parses is what the phone meant, within the protocol's bounds
    if isinstance(message, Vote):
        assert (message.choice is None) != (message.value is None)
        assert message.value is None or 0.0 <= message.value <= 1.0
    elif isinstance(message, Tap):
        assert message.count >= 1


@FUZZ
@given(spec=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=7)
       | json_values)
def test_poll_specs_validate_or_fail_with_one_clear_line(spec: Any) -> None:
    try:
        poll = parse_poll_spec(spec)
    except ProtocolError as error:
        _one_clear_line(error)
        return
    assert poll.kind in ("choice", "scale", "tap", "reactions")
    if poll.kind == "choice":
        assert 2 <= len(poll.options) <= 6


def test_an_oversized_frame_is_refused_before_it_is_parsed() -> None:
    frame = _frame({"v": VERSION, "type": "ping", "pad": "x" * MAX_MESSAGE_BYTES})
    try:
        parse_phone(frame)
    except ProtocolError as error:
        assert error.code == "too_big"
    else:
        raise AssertionError("an oversized frame was parsed")
