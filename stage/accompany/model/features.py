"""Training examples from prepared POP909 songs: one bar of keys to play, its two bars of
context and its conditioning, optionally transposed (numpy only).

The same feature layout is built live by :mod:`stage.accompany.model.runtime` from the
performer's notes and the part's own notes, so what the model saw in training is what it
sees on the stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stage.accompany.model.data import SongGrid, keys_rolls, melody_rolls
from stage.accompany.model.vocab import (
    CHORD_STEP_FEATURES,
    CONTEXT_FEATURES,
    CONTEXT_STEPS,
    GAP_STEPS,
    PITCHES,
    SECTION_TOKENS,
    STEPS_PER_BAR,
    STEPS_PER_BEAT,
    TARGET_FEATURES,
    chord_class,
    chord_features,
    class_chord,
    global_features,
    texture,
    transpose_class,
)
from stage.engine.follow.anticipate import ProgressionMemory

QUANTILE_POINTS = np.linspace(0.0, 100.0, 21)


@dataclass(slots=True)
class SongArrays:
    """One song's arrays on the grid, and per bar the statistics the controls stand for."""

    grid: SongGrid
    melody: np.ndarray     # [S, 26]
    onset: np.ndarray      # [S, P] uint8
    held: np.ndarray       # [S, P] uint8
    velocity: np.ndarray   # [S]
    chords: np.ndarray     # [S, 36]
    notes: np.ndarray      # [bars] notes started in the bar
    loudness: np.ndarray   # [bars] mean onset velocity 0-1
    onsets: np.ndarray     # [bars] steps with an onset


def song_arrays(grid: SongGrid) -> SongArrays:
    onset, held, velocity = keys_rolls(grid)
    chords = np.stack([chord_features(c) for c in grid.chord_objs]).astype(np.float32)
    notes, loudness, onsets = [], [], []
    for bar in grid.bars:
        window = onset[bar:bar + STEPS_PER_BAR]
        vel = velocity[bar:bar + STEPS_PER_BAR]
        count = float(window.sum())
        notes.append(count)
        onsets.append(float((window.sum(axis=1) > 0).sum()))
        loudness.append(float((vel * window.sum(axis=1)).sum() / max(count, 1.0)))
    return SongArrays(grid, melody_rolls(grid), onset.astype(np.uint8), held.astype(np.uint8),
                      velocity, chords, np.array(notes), np.array(loudness), np.array(onsets))


@dataclass(frozen=True, slots=True)
class ControlScale:
    """Quantiles of bar statistics over the training songs: a bar's statistic -> 0-1."""

    notes: tuple[float, ...]
    loudness: tuple[float, ...]
    onsets: tuple[float, ...]

    @classmethod
    def fit(cls, songs: list[SongArrays]) -> ControlScale:
        def q(values: np.ndarray) -> tuple[float, ...]:
            return tuple(float(v) for v in np.percentile(values, QUANTILE_POINTS))
        return cls(q(np.concatenate([s.notes for s in songs])),
                   q(np.concatenate([s.loudness for s in songs])),
                   q(np.concatenate([s.onsets for s in songs])))

    def energy(self, notes: float, loudness: float) -> float:
        """Energy of a bar: half how loud, half how many notes (ranks, 0-1)."""
        return 0.5 * _rank(loudness, self.loudness) + 0.5 * _rank(notes, self.notes)

    def density(self, onsets: float) -> float:
        return _rank(onsets, self.onsets)


def _rank(value: float, table: tuple[float, ...]) -> float:
    """The rank of ``value`` among the quantiles (0-1); ties take the middle of their run."""
    xs = np.array(table)
    low = np.searchsorted(xs, value, side="left")
    high = np.searchsorted(xs, value, side="right")
    return float(min(1.0, (low + high) / (2.0 * (len(xs) - 1))))


def _shift_roll(roll: np.ndarray, shift: int) -> np.ndarray:
    out = np.zeros_like(roll)
    if shift >= 0:
        out[..., shift:] = roll[..., :roll.shape[-1] - shift]
    else:
        out[..., :shift] = roll[..., -shift:]
    return out


def _shift_pc(block: np.ndarray, shift: int) -> np.ndarray:
    return np.roll(block, shift, axis=-1)


@dataclass(frozen=True, slots=True)
class BarExample:
    context: np.ndarray      # [32, Fc]
    target: np.ndarray       # [16, Ft]
    conditioning: np.ndarray  # [Fg]
    onset: np.ndarray        # [16, P]
    held: np.ndarray         # [16, P]
    velocity: np.ndarray     # [16]


def bar_example(song: SongArrays, bar_index: int, scale: ControlScale, shift: int = 0,
                style: str | None = None) -> BarExample:
    """Bar ``bar_index`` of ``song`` transposed by ``shift`` semitones; ``style`` overrides
    the bar's own texture token."""
    grid = song.grid
    start = int(grid.bars[bar_index])
    context = np.zeros((CONTEXT_STEPS, CONTEXT_FEATURES), dtype=np.float32)
    lo = max(0, start - CONTEXT_STEPS)
    rows = slice(CONTEXT_STEPS - (start - lo), CONTEXT_STEPS)
    melody = song.melody[lo:start].copy()
    melody[max(0, len(melody) - GAP_STEPS):] = 0.0  # the last two beats are not heard yet
    melody[:, 0:12] = _shift_pc(melody[:, 0:12], shift)
    melody[:, 12:24] = _shift_pc(melody[:, 12:24], shift)
    melody[:, 24] = np.where(melody[:, 24] > 0, melody[:, 24] + shift / 127.0, 0.0)
    context[rows, 0:26] = melody
    context[rows, 26:26 + PITCHES] = _shift_roll(song.onset[lo:start].astype(np.float32), shift)
    context[rows, -1] = 1.0
    end = start + STEPS_PER_BAR
    target = song.chords[start:end].copy()
    for block in range(3):
        target[:, 12 * block:12 * block + 12] = _shift_pc(target[:, 12 * block:12 * block + 12],
                                                          shift)
    energy = scale.energy(song.notes[bar_index], song.loudness[bar_index])
    density = scale.density(song.onsets[bar_index])
    token = style or texture(int(song.notes[bar_index]), int(song.onsets[bar_index]))
    conditioning = global_features(
        energy, density, token, SECTION_TOKENS[int(grid.sections[bar_index])],
        int(grid.key_tonic[bar_index]) + shift, bool(grid.key_minor[bar_index]))
    return BarExample(context, target, conditioning,
                      _shift_roll(song.onset[start:end].astype(np.float32), shift),
                      _shift_roll(song.held[start:end].astype(np.float32), shift),
                      song.velocity[start:end].copy())


def stack(examples: list[BarExample]) -> dict[str, np.ndarray]:
    return {name: np.stack([getattr(e, name) for e in examples])
            for name in ("context", "target", "conditioning", "onset", "held", "velocity")}


def beat_sequence(song: SongGrid, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The chord predictor's input for ``song``: chord class per beat [B] and per-beat
    features [B, 16] (melody pitch-class weights over the beat, place in the bar)."""
    beats = song.steps // STEPS_PER_BEAT
    chords = transpose_class(song.chords[::STEPS_PER_BEAT][:beats], shift)
    features = np.zeros((beats, CHORD_STEP_FEATURES), dtype=np.float32)
    for note in song.melody:
        for step in range(note.start, min(note.end, song.steps)):
            features[step // STEPS_PER_BEAT, (note.pitch + shift) % 12] += 1.0 / STEPS_PER_BEAT
    np.minimum(features[:, :12], 1.0, out=features[:, :12])
    features[np.arange(beats), 12 + song.beat_pos[:beats]] = 1.0
    return chords, features


def memory_hints(chords: np.ndarray, beats_per_bar: int = 4) -> np.ndarray:
    """Per beat, the class of the chord the follower's own progression memory (which learns
    this song's progressions as they are played) expects on the next beat: the chord
    predictor's hint, so it learns when that memory is right."""
    memory = ProgressionMemory(beats_per_bar)
    hints = np.zeros_like(chords)
    for beat, index in enumerate(chords):
        chord = class_chord(int(index))
        memory.heard(beat, chord)
        hints[beat] = chord_class(memory.predict(beat + 1, chord))
    return hints


__all__ = ["TARGET_FEATURES", "BarExample", "ControlScale", "SongArrays", "bar_example",
           "beat_sequence", "memory_hints", "song_arrays", "stack"]
