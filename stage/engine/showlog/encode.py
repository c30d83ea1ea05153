"""Raw records (tuples the engine thread hands off) -> JSON-ready dicts, on the writer thread.

Record kinds (the ``t`` field): header, song, in, state, bar, note, midi, cue, controls,
steer, poll, tally, result, console, song_end, end. README "Show log" lists their fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from stage.engine.events import Cue, MidiBytes, Note
from stage.engine.state import PerformanceState

FORMAT = 1
"""The log format's version, in the header."""


def encode(item: tuple[Any, ...]) -> dict[str, Any] | None:
    """One raw record as a dict; the first two fields are the kind and the song index."""
    kind = item[0]
    handler = _HANDLERS.get(kind)
    if handler is not None:
        return handler(item)
    record = item[1]
    assert isinstance(record, dict)
    return record


def _heard(item: tuple[Any, ...]) -> dict[str, Any]:
    _, song, message, show_ns, tick = item
    return {"t": "in", "song": song, "ns": show_ns, "tick": tick, "data": message.data.hex(),
            "port": message.port}


def _state(item: tuple[Any, ...]) -> dict[str, Any]:
    _, song, state, show_ns = item
    assert isinstance(state, PerformanceState)
    return {"t": "state", "song": song, "ns": show_ns, "tick": state.tick,
            "bpm": state.bpm, "meter": str(state.meter), "bar_start": state.bar_start_tick,
            "chord": state.chord.label if state.chord else None,
            "next": state.next_chord.label if state.next_chord else None,
            "key": state.key.label if state.key else None}


def _event(item: tuple[Any, ...]) -> dict[str, Any]:
    _, song, event, show_ns, source, ctl = item
    if isinstance(event, Note):
        return {"t": "note", "song": song, "ns": show_ns, "tick": event.tick,
                "dur": event.duration, "pitch": event.pitch, "vel": event.velocity,
                "ch": event.channel, "part": event.part, "src": source, "ctl": ctl}
    if isinstance(event, Cue):
        return {"t": "cue", "song": song, "ns": show_ns, "tick": event.tick,
                "address": event.address, "args": list(event.args), "part": event.part}
    data = event.data if isinstance(event, MidiBytes) else event.to_bytes()
    return {"t": "midi", "song": song, "ns": show_ns, "tick": event.tick, "part": event.part,
            "data": data.hex(), "src": source, "ctl": ctl}


def _controls(item: tuple[Any, ...]) -> dict[str, Any]:
    _, song, ident, values, polls = item
    fields = (dataclasses.asdict(values) if dataclasses.is_dataclass(values)
              and not isinstance(values, type) else dict(values))
    return {"t": "controls", "song": song, "id": ident, "values": fields,
            "steer": list(polls)}


_HANDLERS = {"in": _heard, "state": _state, "event": _event, "controls": _controls}


def label_of(value: Any) -> Any:
    return getattr(value, "label", value)
