"""Measuring the models on POP909 songs the way the stage runs them (onnxruntime, the live
feature path), beside the pattern part and simple chord baselines. Used by
benchmarks/model.py and the tests (numpy, mido, onnxruntime; no torch)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from stage.accompany.arranger import FormBar
from stage.accompany.controls import ControlValues
from stage.accompany.model.data import SongGrid
from stage.accompany.model.features import beat_sequence
from stage.accompany.model.runtime import (
    STEP_TICKS,
    AccompanistRuntime,
    BarNote,
    BarRequest,
    ChordRuntime,
    HeardNote,
)
from stage.accompany.model.vocab import (
    CONTEXT_STEPS,
    STEPS_PER_BAR,
    STYLE_TEXTURE,
    chord_class,
    class_chord,
)
from stage.accompany.parts.base import BarPlan
from stage.accompany.parts.chords import ChordPart
from stage.accompany.style import load_style
from stage.engine.events import Event, Note
from stage.engine.follow.anticipate import ProgressionMemory
from stage.engine.harmony import Chord, Key
from stage.engine.state import Meter


@dataclass(frozen=True, slots=True)
class PlayedNote:
    """A note on the song's grid: absolute step, pitch, velocity."""

    step: int
    pitch: int
    velocity: int


class GridHarmony:
    """A song's annotated chords as the band's HarmonyView (ticks = steps * STEP_TICKS)."""

    def __init__(self, song: SongGrid, bar: int = 0) -> None:
        self.song = song
        self.key = Key(int(song.key_tonic[bar]), "min" if song.key_minor[bar] else "maj")

    def chord_at(self, tick: int) -> Chord | None:
        step = min(max(0, tick // STEP_TICKS), self.song.steps - 1)
        return self.song.chord_objs[step]


def _heard(song: SongGrid, lo: int, hi: int) -> tuple[HeardNote, ...]:
    return tuple(HeardNote(n.start * STEP_TICKS, n.end * STEP_TICKS, n.pitch, n.velocity)
                 for n in song.melody if n.end >= lo and n.start < hi)


def bar_request(song: SongGrid, bar: int, own: Iterable[PlayedNote], energy: float,
                density: float, texture: str) -> BarRequest:
    """The request the model part would send for ``bar`` of ``song`` (performer = melody)."""
    start = int(song.bars[bar])
    lo = start - CONTEXT_STEPS
    chords = tuple(song.chord_objs[min(s, song.steps - 1)]
                   for s in range(start, start + STEPS_PER_BAR))
    section = ("intro", "main_a", "ending")[int(song.sections[bar])]
    return BarRequest(
        bar_tick=start * STEP_TICKS, melody=_heard(song, lo, start),
        own=tuple((n.step * STEP_TICKS, n.pitch) for n in own if lo <= n.step < start),
        chords=chords, energy=energy, density=density, style=texture, section=section,
        key=GridHarmony(song, bar).key)


def model_song(runtime: AccompanistRuntime, song: SongGrid, energy: float = 0.5,
               density: float = 0.5, texture: str = "block", bars: int | None = None
               ) -> dict[int, list[PlayedNote]]:
    """The model playing ``song`` bar by bar, its own notes as its context (as on stage)."""
    played: dict[int, list[PlayedNote]] = {}
    own: list[PlayedNote] = []
    for bar in range(len(song.bars) if bars is None else min(bars, len(song.bars))):
        start = int(song.bars[bar])
        notes = runtime.generate(bar_request(song, bar, own, energy, density, texture))
        played[bar] = [PlayedNote(start + n.step, n.pitch, n.velocity) for n in notes]
        own.extend(played[bar])
    return played


def pattern_song(song: SongGrid, style_name: str = "pop-rock",
                 controls: ControlValues | None = None, bars: int | None = None,
                 timings: list[float] | None = None) -> dict[int, list[PlayedNote]]:
    """The pattern keys part of ``style_name`` over the song's annotated chords; with
    ``timings``, each bar's wall time (ms) is appended to it."""
    style = load_style(style_name)
    part = ChordPart("keys", style, seed=0)
    section = "main_a"
    lines = style.sections[section].lines("keys")
    values = controls or ControlValues()
    played: dict[int, list[PlayedNote]] = {}
    for bar in range(len(song.bars) if bars is None else min(bars, len(song.bars))):
        start = int(song.bars[bar]) * STEP_TICKS
        plan = BarPlan(start, Meter(), FormBar(section, bar, bar == 0, section), values, 0.0)
        out: list[Event] = []
        began = time.perf_counter_ns()
        part.play_bar(plan, lines, GridHarmony(song, bar), start, start + Meter().ticks_per_bar,
                      out)
        if timings is not None:
            timings.append((time.perf_counter_ns() - began) / 1e6)
        played[bar] = [PlayedNote(round(e.tick / STEP_TICKS), e.pitch, e.velocity)
                       for e in out if isinstance(e, Note)]
    return played


def real_song(song: SongGrid, bars: Iterable[int]) -> dict[int, list[PlayedNote]]:
    out: dict[int, list[PlayedNote]] = {}
    for bar in bars:
        start = int(song.bars[bar])
        out[bar] = [PlayedNote(n.start, n.pitch, n.velocity) for n in song.keys
                    if start <= n.start < start + STEPS_PER_BAR]
    return out


def note_in_chord(song: SongGrid, played: dict[int, list[PlayedNote]]) -> tuple[int, int]:
    """(notes whose pitch class is in the annotated chord at their onset, notes under a
    chord) — N.C. steps are not counted."""
    hits = total = 0
    for notes in played.values():
        for note in notes:
            chord = song.chord_objs[min(max(note.step, 0), song.steps - 1)]
            if chord is None:
                continue
            total += 1
            hits += (note.pitch % 12) in chord.pitch_classes
    return hits, total


def onset_f(song: SongGrid, played: dict[int, list[PlayedNote]], beat_s: float = 0.5,
            window_s: float = 0.05) -> float:
    """mir_eval onset F-measure of the played onsets against the real PIANO's, over the
    same bars (times on the grid at ``beat_s`` seconds per beat)."""
    import mir_eval

    real = real_song(song, played)
    step_s = beat_s / 4

    def times(notes: dict[int, list[PlayedNote]]) -> np.ndarray:
        return np.array(sorted({n.step for bar in notes.values() for n in bar}),
                        dtype=np.float64) * step_s

    reference, estimate = times(real), times(played)
    if len(reference) == 0 or len(estimate) == 0:
        return 0.0
    f, _, _ = mir_eval.onset.f_measure(reference, estimate, window=window_s)
    return float(f)


def chord_scores(runtime: ChordRuntime, songs: Iterable[SongGrid]) -> dict[str, float | int]:
    """Next-beat chord accuracy (root and quality) on every beat of ``songs``, the true
    chords so far given (as the follower would give its own): the model with and without
    the melody, the previous chord, the song's most frequent chord so far, and the
    follower's own progression memory."""
    right: Counter[str] = Counter()
    on_change: Counter[str] = Counter()
    total = changes = 0
    for song in songs:
        chords, features = beat_sequence(song)
        state_m, state_c = runtime.initial_state(), runtime.initial_state()
        memory = ProgressionMemory(4)
        seen: Counter[int] = Counter()
        for beat in range(len(chords) - 1):
            chord = class_chord(int(chords[beat]))
            pos = int(np.argmax(features[beat, 12:]))
            memory.heard(beat, chord)
            hint = memory.predict(beat + 1, chord)
            with_melody, state_m = runtime.step(state_m, chord, hint, features[beat, :12], pos)
            chords_only, state_c = runtime.step(state_c, chord, hint, None, pos)
            seen[int(chords[beat])] += 1
            guesses = {"model": chord_class(with_melody),
                       "model_chords_only": chord_class(chords_only),
                       "previous_chord": int(chords[beat]),
                       "most_frequent_chord": seen.most_common(1)[0][0],
                       "progression_memory": chord_class(hint)}
            truth = int(chords[beat + 1])
            changed = truth != int(chords[beat])
            total += 1
            changes += changed
            for name, guess in guesses.items():
                right[name] += guess == truth
                on_change[name] += changed and guess == truth
    out: dict[str, float | int] = {"beats": total, "changes": changes}
    for name in right:
        out[f"{name}_accuracy"] = round(right[name] / max(total, 1), 4)
        out[f"{name}_accuracy_on_changes"] = round(on_change[name] / max(changes, 1), 4)
    return out


def texture_of(style_name: str) -> str:
    return STYLE_TEXTURE.get(style_name, "mixed")


__all__ = ["BarNote", "GridHarmony", "PlayedNote", "bar_request", "chord_scores",
           "model_song", "note_in_chord", "onset_f", "pattern_song", "real_song"]
