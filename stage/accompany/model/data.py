"""POP909 as the models see it: each song on a sixteenth-note grid laid over its annotated
beats, MELODY and BRIDGE as the performer, PIANO as the keys part, chord_midi.txt as the
harmony. Used for training and the benchmark, never on the stage (numpy and mido only).

Data: ``STAGE_DATA`` (default ``../shared/data``)/pop909/NNN/. Prepared songs are cached as
one pickle per split under ``cache_dir`` (``STAGE_CACHE``, default ``out/model-cache``).
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from stage.accompany.model.vocab import (
    BEATS_PER_BAR,
    PITCHES,
    STEPS_PER_BEAT,
    chord_class,
    fold_pitch,
)
from stage.engine.harmony import Chord, Key

log = logging.getLogger(__name__)

PERFORMER_TRACKS = ("MELODY", "BRIDGE")
KEYS_TRACK = "PIANO"
TRAIN_SONGS = range(1, 701)
VALID_SONGS = range(701, 801)
CACHE_VERSION = 1


def data_root() -> Path:
    return Path(os.environ.get("STAGE_DATA", Path.cwd().parent / "shared" / "data"))


def cache_dir() -> Path:
    return Path(os.environ.get("STAGE_CACHE", Path.cwd() / "out" / "model-cache"))


@dataclass(frozen=True, slots=True)
class SongNote:
    """A note on the grid: onset and end steps (sixteenths), pitch, velocity."""

    start: int
    end: int
    pitch: int
    velocity: int


@dataclass(slots=True)
class SongGrid:
    """One song on the step grid (S steps = 4 per annotated beat).

    ``bars``: start steps of the 4-beat bars; ``sections``: per bar 0 intro, 1 main,
    2 ending; ``chords``: chord class per step; ``beat_pos``: each beat's place in its bar.
    """

    number: int
    steps: int
    melody: list[SongNote]
    keys: list[SongNote]
    chords: np.ndarray          # [S] int: chord class at each step
    chord_objs: list[Chord | None]  # per step, for features (root, bass)
    bars: np.ndarray            # [bars] int start steps
    sections: np.ndarray        # [bars] int
    key_tonic: np.ndarray       # [bars] int
    key_minor: np.ndarray       # [bars] bool
    beat_pos: np.ndarray        # [S // 4] int


def _track_notes(midi: mido.MidiFile, names: Iterable[str]) -> list[tuple[float, float, int, int]]:
    """(onset s, end s, pitch, velocity) of every note on the named tracks."""
    wanted = set(names)
    tempo_map: list[tuple[int, int]] = []  # (tick, tempo) from any track
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                tempo_map.append((tick, msg.tempo))
    tempo_map.sort()
    if not tempo_map or tempo_map[0][0] > 0:
        tempo_map.insert(0, (0, 500_000))

    def seconds(tick: int) -> float:
        total, last_tick, last_tempo = 0.0, 0, tempo_map[0][1]
        for at, tempo in tempo_map[1:]:
            if at >= tick:
                break
            total += (at - last_tick) * last_tempo / 1e6 / midi.ticks_per_beat
            last_tick, last_tempo = at, tempo
        return total + (tick - last_tick) * last_tempo / 1e6 / midi.ticks_per_beat

    notes = []
    for track in midi.tracks:
        if track.name not in wanted:
            continue
        tick, sounding = 0, {}
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                sounding[msg.note] = (tick, msg.velocity)
            elif msg.type in ("note_off", "note_on") and msg.note in sounding:
                start, vel = sounding.pop(msg.note)
                notes.append((seconds(start), seconds(tick), msg.note, vel))
    return notes


def _on_grid(notes: list[tuple[float, float, int, int]], beat_times: np.ndarray,
             steps: int) -> list[SongNote]:
    beat_index = np.arange(len(beat_times), dtype=np.float64)
    period = float(np.median(np.diff(beat_times)))
    out = []
    for start_s, end_s, pitch, vel in notes:
        start = _beat_of(start_s, beat_times, beat_index, period) * STEPS_PER_BEAT
        end = _beat_of(end_s, beat_times, beat_index, period) * STEPS_PER_BEAT
        first = round(start)
        if first < 0 or first >= steps:
            continue
        out.append(SongNote(first, max(first + 1, min(steps, round(end))), pitch, vel))
    out.sort(key=lambda n: (n.start, n.pitch))
    return out


def _beat_of(t: float, beat_times: np.ndarray, beat_index: np.ndarray, period: float) -> float:
    if t < beat_times[0]:
        return (t - beat_times[0]) / period
    if t > beat_times[-1]:
        return float(beat_index[-1]) + (t - beat_times[-1]) / period
    return float(np.interp(t, beat_times, beat_index))


def _labels(path: Path) -> list[tuple[float, float, str]]:
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3:
            rows.append((float(parts[0]), float(parts[1]), parts[2]))
    return rows


def _parse_chord(label: str) -> Chord | None:
    try:
        return Chord.parse(label)
    except ValueError:
        return None


def load_song(folder: Path) -> SongGrid | None:
    """``folder`` (pop909/NNN) on the grid, or None when it has no 4-beat bars."""
    number = int(folder.name)
    beats = np.loadtxt(folder / "beat_midi.txt", ndmin=2)
    beat_times = beats[:, 0]
    downbeat = beats[:, 2] > 0.5
    steps = len(beat_times) * STEPS_PER_BEAT
    midi = mido.MidiFile(folder / f"{folder.name}.mid")
    melody = _on_grid(_track_notes(midi, PERFORMER_TRACKS), beat_times, steps)
    keys = _on_grid(_track_notes(midi, (KEYS_TRACK,)), beat_times, steps)
    step_times = _step_times(beat_times)
    chord_objs: list[Chord | None] = [None] * steps
    for start_s, end_s, label in _labels(folder / "chord_midi.txt"):
        chord = _parse_chord(label)
        lo, hi = np.searchsorted(step_times, [start_s - 0.02, end_s - 0.02])
        for s in range(int(lo), int(hi)):
            chord_objs[s] = chord
    chords = np.array([chord_class(c) for c in chord_objs], dtype=np.int64)
    down = np.flatnonzero(downbeat)
    bar_beats = [int(d) for d, gap in zip(down[:-1], np.diff(down), strict=True)
                 if gap == BEATS_PER_BAR]
    if not bar_beats:
        return None
    bars = np.array(bar_beats, dtype=np.int64) * STEPS_PER_BEAT
    sections = _sections(bars, melody)
    tonic, minor = _keys(folder / "key_audio.txt", step_times, bars)
    beat_pos = np.zeros(len(beat_times), dtype=np.int64)
    last = -BEATS_PER_BAR
    for i in range(len(beat_times)):
        if downbeat[i]:
            last = i
        beat_pos[i] = min(BEATS_PER_BAR - 1, max(0, i - last)) if last >= 0 else i % 4
    return SongGrid(number, steps, melody, keys, chords, chord_objs, bars, sections,
                    tonic, minor, beat_pos)


def _step_times(beat_times: np.ndarray) -> np.ndarray:
    period = float(np.median(np.diff(beat_times)))
    extended = np.append(beat_times, beat_times[-1] + period)
    frac = np.arange(STEPS_PER_BEAT) / STEPS_PER_BEAT
    out = (extended[:-1, None] + np.diff(extended)[:, None] * frac[None, :]).reshape(-1)
    return np.asarray(out, dtype=np.float64)


def _sections(bars: np.ndarray, melody: list[SongNote]) -> np.ndarray:
    out = np.ones(len(bars), dtype=np.int64)
    if not melody:
        return out
    first = melody[0].start
    last = max(n.end for n in melody)
    bar_steps = BEATS_PER_BAR * STEPS_PER_BEAT
    out[bars + bar_steps <= first] = 0
    out[bars >= last] = 2
    return out


def _keys(path: Path, step_times: np.ndarray, bars: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    tonic = np.zeros(len(bars), dtype=np.int64)
    minor = np.zeros(len(bars), dtype=bool)
    rows = []
    for start_s, _, label in _labels(path) if path.exists() else []:
        try:
            rows.append((start_s, Key.parse(label)))
        except ValueError:
            continue
    if not rows:
        return tonic, minor
    starts = np.array([r[0] for r in rows]) - 0.05
    for i, bar in enumerate(bars):
        t = step_times[min(int(bar), len(step_times) - 1)]
        key = rows[max(0, int(np.searchsorted(starts, t, side="right")) - 1)][1]
        tonic[i], minor[i] = key.tonic, key.mode == "min"
    return tonic, minor


def keys_rolls(song: SongGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The PIANO part as [S, PITCHES] onset and sounding rolls and [S] onset velocity 0-1."""
    onset = np.zeros((song.steps, PITCHES), dtype=np.float32)
    held = np.zeros((song.steps, PITCHES), dtype=np.float32)
    vel_sum = np.zeros(song.steps, dtype=np.float32)
    count = np.zeros(song.steps, dtype=np.float32)
    from stage.accompany.model.vocab import LOW_PITCH
    for note in song.keys:
        p = fold_pitch(note.pitch) - LOW_PITCH
        onset[note.start, p] = 1.0
        held[note.start:note.end, p] = 1.0
        vel_sum[note.start] += note.velocity / 127.0
        count[note.start] += 1
    velocity = np.where(count > 0, vel_sum / np.maximum(count, 1), 0.0).astype(np.float32)
    return onset, held, velocity


def melody_rolls(song: SongGrid) -> np.ndarray:
    """The performer as [S, 26]: onset pitch classes, sounding pitch classes, top pitch
    (0-1), onset velocity (0-1)."""
    out = np.zeros((song.steps, 26), dtype=np.float32)
    for note in song.melody:
        pc = note.pitch % 12
        out[note.start, pc] = 1.0
        out[note.start:note.end, 12 + pc] = 1.0
        top = out[note.start:note.end, 24]
        np.maximum(top, note.pitch / 127.0, out=top)
        out[note.start, 25] = max(out[note.start, 25], note.velocity / 127.0)
    return out


def load_split(numbers: Iterable[int], root: Path | None = None) -> list[SongGrid]:
    """The songs ``numbers`` (those present), cached per split as a pickle."""
    wanted = list(numbers)
    base = (root or data_root()) / "pop909"
    tag = f"v{CACHE_VERSION}-{wanted[0]:03d}-{wanted[-1]:03d}-{len(wanted)}"
    cache = cache_dir() / f"pop909-{tag}.pkl"
    if cache.exists():
        with cache.open("rb") as handle:
            songs: list[SongGrid] = pickle.load(handle)
        return songs
    songs = []
    for number in wanted:
        folder = base / f"{number:03d}"
        if not (folder / f"{number:03d}.mid").exists():
            continue
        song = load_song(folder)
        if song is not None:
            songs.append(song)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("wb") as handle:
        pickle.dump(songs, handle)
    log.info("prepared %d POP909 songs -> %s", len(songs), cache)
    return songs
