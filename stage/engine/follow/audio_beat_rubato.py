"""Expressive timing for the beat model's training audio: POP909 played as a pianist would.

POP909's MIDI keeps one tempo per song, so a model trained on its renders learns that beats
come like a clock. A pianist lingers at a phrase's end, hurries into its climax, stretches a
single beat, rolls a chord and swells the dynamics. :func:`rubato` draws such a performance
as a map from the file's seconds to the performance's, beat by beat (every beat's length is
scaled: a slow phrase arc, beat-to-beat variation and now and then a held beat); the notes
(:func:`perform`) and the beat annotations (:meth:`Rubato.warp`) go through the same map, so
the targets stay on the notes. Only ever applied to training audio (POP909 001-700).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

_ARC_BEATS = (8, 32)
"""A phrase arc's length, in beats (two to eight bars of 4/4)."""
_ARC_DEPTH = (0.03, 0.2)
"""How far the arc moves the beat's length (log scale) at its peak."""
_BEAT_SPREAD = (0.01, 0.15)
"""Beat-to-beat variation of the log beat length: ASAP's pianists range 0.09-0.27 per piece
(smoothed phrase motion included), a strict player near 0."""
_HOLD_CHANCE = 0.02
"""The chance that a beat is held (a fermata, a breath): 1.3-2.5 times its length."""
_CHORD_SPREAD_S = 0.012
"""Notes of one chord do not land together: each note-on moves by this much (s.d.)."""
_SWELL = 0.25
"""Phrase dynamics: the velocity scale's log s.d., moving with the phrase arc."""
_TICKS, _TEMPO = 960, 500_000
"""The performed file's resolution: 960 ticks per 0.5 s quarter note (about half a ms)."""


@dataclass(frozen=True)
class Rubato:
    """A performance of a file: the file's beat times and where the performer plays them."""

    score: np.ndarray
    played: np.ndarray

    def warp(self, times: np.ndarray) -> np.ndarray:
        """File seconds -> performance seconds (beyond the beats, at the outer beats' pace)."""
        times = np.asarray(times, dtype=float)
        out = np.interp(times, self.score, self.played)
        before, after = times < self.score[0], times > self.score[-1]
        first = (self.played[1] - self.played[0]) / (self.score[1] - self.score[0])
        last = (self.played[-1] - self.played[-2]) / (self.score[-1] - self.score[-2])
        out[before] = self.played[0] + (times[before] - self.score[0]) * first
        out[after] = self.played[-1] + (times[after] - self.score[-1]) * last
        return np.maximum(out, 0.0)


def rubato(beats: np.ndarray, rng: np.random.Generator) -> Rubato:
    """A random performance of the beats at ``beats`` (seconds, rising; two at least)."""
    beats = np.asarray(beats, dtype=float)
    count = len(beats) - 1
    index = np.arange(count)
    length = rng.uniform(*_ARC_BEATS)
    arc = rng.uniform(*_ARC_DEPTH) * np.sin(2 * np.pi * index / length + rng.uniform(0, 6.3))
    spread = rng.uniform(*_BEAT_SPREAD)
    # Beat-to-beat variation carries a little from one beat to the next (AR(1), 0.5).
    noise = rng.normal(0.0, spread, count)
    for i in range(1, count):
        noise[i] += 0.5 * noise[i - 1]
    scale = np.exp(arc + noise * np.sqrt(0.75))
    held = rng.random(count) < _HOLD_CHANCE
    scale[held] *= rng.uniform(1.3, 2.5, int(held.sum()))
    played = beats[0] + np.concatenate([[0.0], np.cumsum(np.diff(beats) * scale)])
    return Rubato(beats, played)


def perform(midi_path: Path, performance: Rubato, rng: np.random.Generator,
            out: Path) -> Path:
    """Write ``midi_path`` as played in ``performance``: every note and controller at its
    performed time, note-ons spread within a chord, velocities swelling with the phrase."""
    midi = mido.MidiFile(str(midi_path))
    result = mido.MidiFile(type=1, ticks_per_beat=_TICKS)
    tempo = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=_TEMPO, time=0)])
    result.tracks.append(tempo)
    phase = rng.uniform(0, 6.3)
    first = next((m.tempo for t in midi.tracks for m in t if m.type == "set_tempo"), _TEMPO)
    for track in midi.tracks:
        timed = _seconds(track, midi.ticks_per_beat, first)
        if not any(m.type in ("note_on", "note_off") for _, m in timed):
            continue
        times = performance.warp(np.array([t for t, _ in timed]))
        events: list[tuple[float, int, mido.Message]] = []
        starts: dict[tuple[int, int], float] = {}
        for when, (_, message) in zip(times, timed, strict=True):
            if message.type == "note_on" and message.velocity > 0:
                when = max(0.0, when + rng.normal(0.0, _CHORD_SPREAD_S))
                swell = np.exp(_SWELL * np.sin(when / 4.0 + phase))
                message = message.copy(velocity=int(np.clip(message.velocity * swell, 1, 127)))
                starts[(message.channel, message.note)] = when
                events.append((when, 1, message))
            elif message.type in ("note_on", "note_off"):
                # A note is never let go before it starts (the spread may move its start).
                begun = starts.pop((message.channel, message.note), 0.0)
                events.append((max(when, begun + 0.01), 0, message))
            elif not isinstance(message, mido.MetaMessage):
                events.append((when, 0, message))
        events.sort(key=lambda e: (e[0], e[1]))
        out_track = mido.MidiTrack()
        last = 0
        for when, _, message in events:
            tick = round(when * _TICKS * 1e6 / _TEMPO)
            out_track.append(message.copy(time=max(0, tick - last)))
            last = max(last, tick)
        result.tracks.append(out_track)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.save(str(out))
    return out


def _seconds(track: mido.MidiTrack, ticks_per_beat: int,
             tempo: int) -> list[tuple[float, mido.Message]]:
    """The track's messages with their times in seconds, at the file's first ``tempo``
    (POP909 has one, in track 0; a track's own tempo change is followed too)."""
    now, out = 0.0, []
    for message in track:
        now += mido.tick2second(message.time, ticks_per_beat, tempo)
        if message.type == "set_tempo":
            tempo = message.tempo
        out.append((now, message))
    return out
