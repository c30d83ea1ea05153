"""Following offline on the virtual clock: what ``stage analyze`` and the benchmark run.

The performance's messages are heard at their file times (ns since the first message of the
file, the show's origin), exactly as the engine would hand them to the follower live; the
follower's decisions, each stamped with its moment, are collected into one JSON-ready dict.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from stage.engine.chart import ChordChart
from stage.engine.events import MidiMessage
from stage.engine.follow.midi import MidiFollower, TapConfig
from stage.engine.harmony import Key
from stage.engine.state import Meter
from stage.engine.time import NS_PER_S, PPQ, TempoMap

_TAIL_S = 2.0
"""After the last message, time runs on this long (seconds) so pending decisions close."""


def follow_messages(
    messages: Sequence[tuple[int, bytes]],
    meter: Meter,
    tempo_prior_bpm: float,
    chart: ChordChart | None = None,
    key_prior: Key | None = None,
    tap: TapConfig | None = None,
) -> tuple[MidiFollower, TempoMap]:
    """Hear ``messages`` (time ns, MIDI bytes) in order; returns the follower and its map."""
    follower = MidiFollower(meter, tempo_prior_bpm, chart, key_prior, tap, log_decisions=True)
    tempo = TempoMap(tempo_prior_bpm * meter.ticks_per_beat / PPQ)
    last_ns = 0
    for time_ns, data in messages:
        follower.hear(MidiMessage(time_ns, data, "performer"), time_ns, tempo)
        last_ns = time_ns
    follower.state(last_ns + int(_TAIL_S * NS_PER_S), tempo)
    return follower, tempo


def grid_beats(follower: MidiFollower, tempo: TempoMap, until_s: float) -> list[dict[str, Any]]:
    """The tempo map's beats (what the band played to), each with the moment it was fixed:
    the start of the tempo segment it fell in."""
    origin = follower.first_onset_tick
    if origin is None:
        return []
    out: list[dict[str, Any]] = []
    per_beat = follower.meter.ticks_per_beat
    segments = tempo.segments
    starts = [s.start_tick for s in segments]
    index = 0
    while True:
        tick = origin + index * per_beat
        seconds = tempo.seconds_at(tick)
        if seconds > until_s:
            return out
        index += 1
        if tick < 0:  # the downbeat moved back past the show's start
            continue
        segment = segments[max(bisect.bisect_right(starts, tick) - 1, 0)]
        out.append({"time": round(seconds, 4), "decided_at": round(segment.start_ns / NS_PER_S, 4),
                    "downbeat": tick % follower.meter.ticks_per_bar == 0})


def anticipation_score(follower: MidiFollower) -> dict[str, float | int]:
    """How often the chord anticipated for a beat was the chord then heard on it, and how
    often simply holding the previous beat's chord would have been, at chord changes and
    overall."""
    log = follower.log
    assert log is not None
    hits = holds = changes = change_hits = 0
    for index, predicted in log.anticipated.items():
        if index not in log.heard or index - 1 not in log.heard:
            continue
        heard, before = log.heard[index], log.heard[index - 1]
        hits += predicted == heard
        holds += before == heard
        if heard != before:
            changes += 1
            change_hits += predicted == heard
    total = sum(1 for i in log.anticipated if i in log.heard and i - 1 in log.heard)
    return {"beats": total, "accuracy": round(hits / total, 4) if total else 0.0,
            "hold_accuracy": round(holds / total, 4) if total else 0.0,
            "changes": changes,
            "change_accuracy": round(change_hits / changes, 4) if changes else 0.0}


def analysis(follower: MidiFollower, tempo: TempoMap, until_s: float) -> dict[str, Any]:
    """The follower's logged decisions as the ``stage analyze`` JSON object."""
    log = follower.log
    assert log is not None, "the follower was not logging decisions"
    return {
        "beats": [{"time": round(b.time, 4), "decided_at": round(b.decided_at, 4),
                   "downbeat": b.downbeat, "played": b.played} for b in log.beats],
        "chords": [{"start": round(c.time, 4), "label": c.label,
                    "decided_at": round(c.decided_at, 4)} for c in log.chords],
        "key": [{"start": round(k.time, 4), "label": k.label,
                 "decided_at": round(k.decided_at, 4)} for k in log.keys],
        "tempo": [{"time": round(t, 4), "bpm": round(bpm, 3)} for t, bpm in log.tempo],
        "grid": grid_beats(follower, tempo, until_s),
        "anticipation": anticipation_score(follower),
        "meter": str(follower.meter),
    }


def analyze_messages(messages: Sequence[tuple[int, bytes]], meter: Meter,
                     tempo_prior_bpm: float, chart: ChordChart | None = None,
                     key_prior: Key | None = None) -> dict[str, Any]:
    """Follow ``messages`` (time ns, bytes) and return the analysis dict."""
    follower, tempo = follow_messages(messages, meter, tempo_prior_bpm, chart, key_prior)
    until = (messages[-1][0] / NS_PER_S if messages else 0.0) + _TAIL_S
    return analysis(follower, tempo, until)
