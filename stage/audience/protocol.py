"""Websocket protocol v1: message parsing and validation, no I/O.

Every frame is one JSON object with ``"v": 1`` and a ``"type"``. Phones may send only
``vote``, ``tap``, ``react`` and ``ping``; the engine link may also send ``state``,
``open_poll`` and ``close_poll``. Anything else, anything malformed and anything over
``MAX_MESSAGE_BYTES`` is answered with an ``error`` frame (see the README's
"Websocket protocol" section).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
MAX_MESSAGE_BYTES = 512
"""Largest phone frame accepted (bytes); a vote is about 60."""
MAX_ENGINE_MESSAGE_BYTES = 64 * 1024
MAX_TAPS_PER_FRAME = 50
"""A phone batches taps; more than this in one frame is not a person tapping."""
MAX_ID_CHARS = 40
MAX_TEXT_CHARS = 120
MIN_OPTIONS, MAX_OPTIONS = 2, 6

POLL_KINDS = ("choice", "scale", "tap", "reactions")
REACTIONS = ("🔥", "👏", "❤️", "😮", "🎉", "🙌")
"""The only emoji a phone can send: crowd text never reaches other screens."""

PHONE_TYPES = frozenset({"vote", "tap", "react", "ping"})


class ProtocolError(ValueError):
    """A frame that breaks the protocol; ``code`` goes back in the error frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Vote:
    """A phone's vote: ``choice`` (option index) for choice polls, ``value`` 0-1 for scale."""

    poll_id: str
    choice: int | None = None
    value: float | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Tap:
    """``count`` taps since the phone's previous tap frame."""

    poll_id: str
    count: int


@dataclass(frozen=True, slots=True)
class React:
    emoji: str


@dataclass(frozen=True, slots=True)
class Ping:
    seq: int | None = None


PhoneMessage = Vote | Tap | React | Ping


@dataclass(frozen=True, slots=True)
class PollSpec:
    """A poll as opened by the setlist, the console or the controller.

    ``close_bar``: the poll closes when the engine reports this bar (0-based bar number)
    has started; ``close_on_section``: it closes at the next section change. Either,
    both or neither (then only an explicit close ends it).
    """

    poll_id: str
    kind: str
    question: str = ""
    options: tuple[str, ...] = ()
    close_bar: int | None = None
    close_on_section: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.poll_id,
            "kind": self.kind,
            "question": self.question,
            "options": list(self.options),
            "close_bar": self.close_bar,
            "close_on_section": self.close_on_section,
        }


def _text(value: Any, name: str, limit: int, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise ProtocolError("bad_field", f"{name} must be a string of 1..{limit} characters")
    return value


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ProtocolError("bad_field", f"{name} must be an integer in {lo}..{hi}")
    return value


def _unit(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError("bad_field", f"{name} must be a number in 0..1")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ProtocolError("bad_field", f"{name} must be a number in 0..1")
    return number


def decode_frame(raw: str | bytes, limit: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Parse one frame into a dict with the right version, or raise ProtocolError."""
    if len(raw) > limit:
        raise ProtocolError("too_big", f"frame over {limit} bytes")
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_json", "frame is not JSON") from exc
    if not isinstance(message, dict):
        raise ProtocolError("bad_json", "frame is not a JSON object")
    if message.get("v") != VERSION:
        raise ProtocolError("bad_version", f"protocol version must be {VERSION}")
    if not isinstance(message.get("type"), str):
        raise ProtocolError("bad_type", "missing type")
    return message


def parse_phone(raw: str | bytes) -> PhoneMessage:
    """A phone frame -> a typed message. Raises ProtocolError with a code for the client."""
    message = decode_frame(raw)
    kind = message["type"]
    seq = message.get("seq")
    if seq is not None:
        seq = _int(seq, "seq", 0, 2**31)
    if kind == "vote":
        poll_id = _text(message.get("poll"), "poll", MAX_ID_CHARS)
        has_choice, has_value = "choice" in message, "value" in message
        if has_choice == has_value:
            raise ProtocolError("bad_field", "a vote carries exactly one of choice, value")
        if has_choice:
            return Vote(poll_id, choice=_int(message["choice"], "choice", 0, MAX_OPTIONS - 1),
                        seq=seq)
        return Vote(poll_id, value=_unit(message["value"], "value"), seq=seq)
    if kind == "tap":
        poll_id = _text(message.get("poll"), "poll", MAX_ID_CHARS)
        return Tap(poll_id, _int(message.get("count"), "count", 1, MAX_TAPS_PER_FRAME))
    if kind == "react":
        emoji = message.get("emoji")
        if emoji not in REACTIONS:
            raise ProtocolError("bad_field", "unknown reaction")
        return React(emoji)
    if kind == "ping":
        return Ping(seq)
    raise ProtocolError("bad_type", "phones may send vote, tap, react or ping")


def parse_poll_spec(data: Any) -> PollSpec:
    """Validate a poll description from the engine or the console."""
    if not isinstance(data, dict):
        raise ProtocolError("bad_poll", "poll must be an object")
    poll_id = _text(data.get("id"), "id", MAX_ID_CHARS)
    kind = data.get("kind")
    if kind not in POLL_KINDS:
        raise ProtocolError("bad_poll", f"kind must be one of {', '.join(POLL_KINDS)}")
    options_raw = data.get("options") or []
    if not isinstance(options_raw, list):
        raise ProtocolError("bad_poll", "options must be a list")
    options = tuple(_text(o, "option", MAX_TEXT_CHARS) for o in options_raw)
    if kind == "choice" and not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise ProtocolError("bad_poll", f"a choice poll has {MIN_OPTIONS}..{MAX_OPTIONS} options")
    close_bar = data.get("close_bar")
    if close_bar is not None:
        close_bar = _int(close_bar, "close_bar", 0, 2**31)
    return PollSpec(
        poll_id=poll_id,
        kind=kind,
        question=_text(data.get("question"), "question", MAX_TEXT_CHARS, required=False),
        options=options,
        close_bar=close_bar,
        close_on_section=bool(data.get("close_on_section", False)),
    )


def service_ms(now_ns: int) -> float:
    """The service clock on the wire: ``perf_counter_ns`` in milliseconds (3 decimals).

    Phones estimate their offset to it from ``pong`` and place the beat pulse with it."""
    return round(now_ns / 1e6, 3)


MUSIC_TEXT_FIELDS = ("song", "section", "chord")
MUSIC_NUMBER_FIELDS = ("bpm", "at", "energy")


def music_view(state: dict[str, Any]) -> dict[str, Any]:
    """What phones and big screens may see of an engine ``state``: text cut to
    MAX_TEXT_CHARS, finite numbers only, the meter as ``[beats, unit]``; never anything else."""
    view: dict[str, Any] = {"bar": state.get("bar")}
    for name in MUSIC_TEXT_FIELDS:
        value = state.get(name)
        view[name] = value[:MAX_TEXT_CHARS] if isinstance(value, str) else ""
    for name in MUSIC_NUMBER_FIELDS:
        number = state.get(name)
        finite = (isinstance(number, int | float) and not isinstance(number, bool)
                  and math.isfinite(number))
        view[name] = float(number) if finite else None  # type: ignore[arg-type]
    meter = state.get("meter")
    if (isinstance(meter, list) and len(meter) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 32
                    for x in meter)):
        view["meter"] = meter
    else:
        view["meter"] = [4, 4]
    return view


def encode(message_type: str, /, **fields: Any) -> str:
    """One outgoing frame (``ensure_ascii``: only ASCII on the wire)."""
    return json.dumps({"v": VERSION, "type": message_type, **fields}, separators=(",", ":"))


def error_frame(code: str, message: str) -> str:
    return encode("error", code=code, message=message)
