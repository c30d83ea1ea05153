"""Training audio for the beat model: POP909 songs 001-700 rendered with FluidSynth.

Each song is rendered once at ``RATE`` (16 kHz: the beat features stop at 7.6 kHz, and
FluidSynth renders it ~200x real time here) with General MIDI programs drawn per track, a
random level, a synthetic room (an exponentially decaying noise burst, random decay and
mix) and pink-ish noise at a random level; then turned into beat features
(:mod:`audio_beat_features`) and per-frame targets from ``beat_midi.txt``. Most songs are
first played with a pianist's rubato (:mod:`audio_beat_rubato`: beat lengths that arc with
the phrase and vary beat to beat, held beats, rolled chords; the beat targets move with the
notes), and some on the piano alone: a solo pianist is the hardest performer to follow, and
POP909's own timing is a clock. Each song's arrays are cached as ``NNN.npz`` under the run's
folder. Songs 701-800 validate; ASAP is
never used for training (it is evaluation-only here).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stage.engine.follow.audio_beat_features import BeatFeatures
from stage.engine.follow.audio_beat_rubato import perform, rubato

log = logging.getLogger(__name__)

RATE = 16_000
TRAIN_SONGS = range(1, 701)
VALID_SONGS = range(701, 801)
TRAIN_LIMIT = 320
"""Songs of a seeded draw from ``TRAIN_SONGS`` the model trains on by default. On ASAP (every
third performance) 640 songs and 2400 steps did worse than 320 and 1600: AUC of the
activation at onsets on a beat 0.69 against 0.71, beat F 0.5026 against 0.5119."""
CALIBRATION = 60
"""The last songs of the draw: never trained on, they calibrate what the activation at an
onset says (:mod:`audio_onset_fit`)."""
PROGRAMS = (0, 1, 2, 4, 5, 6, 11, 12, 16, 19, 21, 24, 25, 26, 27, 40, 41, 42, 46, 48, 49, 52,
            56, 57, 60, 61, 64, 65, 66, 68, 71, 73, 74, 80, 81, 88, 89)
"""GM programs drawn per track: pianos, mallets, organs, accordion, guitars, strings, harp,
choir, brass, reeds, pipes, leads, pads."""
_DRUMS = 0.3
"""Share of the songs in strict time that get synthetic drums or a click (a band or a click
track live)."""
_RUBATO = 0.6
"""Share of songs played with rubato (never with drums: a band keeps time). Songs keep their
own tempo (POP909's beats run at 57-120 bpm, ASAP's at 55-153): moving 75 % of them to tempos
drawn from 60-190 bpm made the model worse on every ASAP piece, fast ones too (AUC of the
activation at on-beat onsets, ASAP every third, 0.60 against 0.70), and so did telling the
model the song's beat period as one more input (0.58-0.60)."""
_PIANO_ALONE = 0.35
"""Share of songs whose every track is played on an acoustic piano."""
_PIANOS = (0, 0, 1, 2)


@dataclass(frozen=True)
class SongAudio:
    """One rendered song: ``features`` frames x FEATURES (float16) and per frame ``beat``
    and ``downbeat`` targets (float32, 0-1)."""

    number: int
    features: np.ndarray
    beat: np.ndarray
    downbeat: np.ndarray


def targets(rows: np.ndarray, frames: int, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Beat and downbeat targets from ``beat_midi.txt`` rows (time, beat, downbeat): 1 on
    the frame a beat first reaches (frame ``i`` ends at ``(i + 1) * hop_s``), 0.5 on its
    neighbours (annotations are not sample-exact)."""
    beat, downbeat = np.zeros(frames, np.float32), np.zeros(frames, np.float32)
    for target, times in ((beat, rows[:, 0]), (downbeat, rows[rows[:, 2] > 0.5, 0])):
        index = np.floor(times / hop_s).astype(int)
        index = index[(index >= 0) & (index < frames)]
        for shift in (-1, 1):
            near = np.clip(index + shift, 0, frames - 1)
            target[near] = np.maximum(target[near], 0.5)
        target[index] = 1.0
    return beat, downbeat


def with_programs(midi_path: Path, rng: np.random.Generator, out: Path,
                  programs: tuple[int, ...] = PROGRAMS) -> Path:
    """A copy of ``midi_path`` whose note tracks play programs drawn from ``programs``."""
    import mido

    midi = mido.MidiFile(str(midi_path))
    for track in midi.tracks:
        channels = sorted({m.channel for m in track if m.type in ("note_on", "note_off")})
        if not channels:
            continue
        program = int(rng.choice(programs))
        kept = [m for m in track if m.type != "program_change"]
        track.clear()
        track.extend([mido.Message("program_change", channel=ch, program=program, time=0)
                      for ch in channels if ch != 9])
        track.extend(kept)
    midi.save(str(out))
    return out


def _hit(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One synthetic percussion hit at ``RATE``: kick, snare, hat or click."""
    n = int(0.25 * RATE)
    t = np.arange(n) / RATE
    if kind == "kick":
        sweep = 2 * np.pi * np.cumsum(45 + 90 * np.exp(-t / 0.03)) / RATE
        return np.asarray(np.sin(sweep) * np.exp(-t / 0.12))
    noise = rng.standard_normal(n)
    if kind == "snare":
        return np.asarray((0.6 * noise + 0.5 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.07))
    if kind == "hat":
        return np.asarray(np.diff(noise, prepend=0.0) * 0.5 * np.exp(-t / 0.02))
    return np.asarray(np.sin(2 * np.pi * 1500 * t) * np.exp(-t / 0.01))  # a click


def percussion(samples: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A drum kit (kick on 1 and 3, snare on 2 and 4, hats on eighths) or a metronome
    click, on the annotated beats (``beat_midi.txt`` rows) with a little timing noise; the
    audio it is mixed into is taken as is (POP909 has no drums)."""
    out = samples.copy()
    level = float(np.abs(samples).max()) * rng.uniform(0.3, 1.0)
    kit = rng.random() < 0.75
    hits = {name: _hit(name, rng) for name in ("kick", "snare", "hat", "click")}
    count = 0
    for i, (time, _, downbeat) in enumerate(rows):
        count = 0 if downbeat > 0.5 else count + 1
        step = rows[i + 1, 0] - time if i + 1 < len(rows) else 0.5
        if kit:
            layers = [("kick" if count % 2 == 0 else "snare", 0.0), ("hat", 0.0),
                      ("hat", 0.5 * step)]
        else:
            layers = [("click", 0.0)]
        for name, delay in layers:
            start = int((time + delay + rng.normal(0, 0.005)) * RATE)
            if start < 0 or start >= len(out):
                continue
            hit = hits[name][: len(out) - start]
            gain = level * (0.35 if name == "hat" else 1.0) * (1.5 if downbeat > 0.5 and
                                                                 not kit else 1.0)
            out[start:start + len(hit)] += gain * rng.uniform(0.7, 1.0) * hit
    return out


def room(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random room and noise floor: reverb (decay 0.2-1.6 s, mix 0-50 %), level -20..0 dB,
    noise -70..-35 dBFS (white, filtered towards pink)."""
    decay = rng.uniform(0.2, 1.6)
    length = int(decay * RATE)
    response = rng.standard_normal(length) * np.exp(-6.9 * np.arange(length) / length)
    response /= np.sqrt((response ** 2).sum())
    size = 1 << int(np.ceil(np.log2(len(samples) + length)))
    wet = np.fft.irfft(np.fft.rfft(samples, size) * np.fft.rfft(response, size), size)
    mix = rng.uniform(0.0, 0.5)
    out = (1 - mix) * samples + mix * wet[: len(samples)]
    out *= 10 ** (rng.uniform(-20, 0) / 20) / max(float(np.abs(out).max()), 1e-6) * 0.7
    noise = rng.standard_normal(len(out))
    noise = np.convolve(noise, [0.5, 0.3, 0.2], mode="same")  # tilt towards pink
    noise *= 10 ** (rng.uniform(-70, -35) / 20) / max(float(noise.std()), 1e-9)
    return np.asarray(out + noise)


def render_audio(number: int, pop909: Path, scratch: Path,
                 seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """POP909 song ``number`` as training audio: the mono samples at ``RATE`` (played, in a
    room) and its beat rows (time as played, beat, downbeat); None when missing. The same
    song and seed always give the same audio. ``scratch`` holds the render's files while
    it runs."""
    folder = pop909 / f"{number:03d}"
    if not (folder / "beat_midi.txt").exists():
        return None
    from stage.engine.follow.audio_offline import read_wav
    from stage.engine.ports.synth import render_wav

    rng = np.random.default_rng(seed * 1000 + number)
    scratch.mkdir(parents=True, exist_ok=True)
    rows = np.loadtxt(folder / "beat_midi.txt", ndmin=2)
    source = folder / f"{number:03d}.mid"
    played = rng.random() < _RUBATO
    if played and len(rows) > 2:
        performance = rubato(rows[:, 0], rng)
        source = perform(source, performance, rng, scratch / f"{number:03d}.played.mid")
        rows = np.column_stack([performance.warp(rows[:, 0]), rows[:, 1:]])
    programs = _PIANOS if rng.random() < _PIANO_ALONE else PROGRAMS
    midi = with_programs(source, rng, scratch / f"{number:03d}.mid", programs)
    wav = scratch / f"{number:03d}.wav"
    render_wav(midi, wav, sample_rate=RATE)
    samples, _ = read_wav(wav)
    for done in {wav, midi, source} - {folder / f"{number:03d}.mid"}:
        done.unlink()
    if not played and rng.random() < _DRUMS:
        samples = percussion(samples, rows, rng)
    return room(samples, rng), rows


def render_song(number: int, pop909: Path, cache: Path, seed: int) -> SongAudio | None:
    """Render, augment and featurise POP909 song ``number`` (cached); None when missing."""
    path = _cached(cache, number)
    if path.exists():
        data = np.load(path)
        return SongAudio(number, data["features"], data["beat"], data["downbeat"])
    rendered = render_audio(number, pop909, cache, seed)
    if rendered is None:
        return None
    samples, rows = rendered
    front = BeatFeatures(RATE)
    features, _ = front.push(samples)
    beat, downbeat = targets(rows, len(features), front.hop_s)
    features = features.astype(np.float16)
    np.savez(path, features=features, beat=beat, downbeat=downbeat)
    return SongAudio(number, features, beat, downbeat)


def drawn_songs(seed: int) -> list[int]:
    """``TRAIN_SONGS`` in the seeded order ``stage train beats`` takes them in."""
    return [int(n) for n in np.random.default_rng(seed).permutation(np.asarray(TRAIN_SONGS))]


def calibration_songs(seed: int) -> list[int]:
    """The training songs the model of this seed never trains on (the last ``CALIBRATION``)."""
    return sorted(drawn_songs(seed)[-CALIBRATION:])


def load_songs(numbers: range | list[int], pop909: Path, cache: Path, seed: int,
               jobs: int = 1) -> list[SongAudio]:
    """The songs ``numbers`` rendered (cached), in order; ``jobs`` processes render the
    missing ones (cached songs are read here: no process is started for them)."""
    missing = [(n, pop909, cache, seed) for n in numbers if not _cached(cache, n).exists()]
    if jobs > 1 and len(missing) > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(min(jobs, len(missing))) as pool:
            for _ in pool.imap_unordered(_cache_one, missing, chunksize=1):
                pass
    songs = []
    for number in numbers:
        song = render_song(number, pop909, cache, seed)
        if song is not None:
            songs.append(song)
            if len(songs) % 25 == 0:
                log.info("beat audio: %d songs ready (last %03d)", len(songs), number)
    return songs


def _cache_one(job: tuple[int, Path, Path, int]) -> None:
    """Render one song into the cache (in a worker: the arrays stay out of the pipe)."""
    render_song(*job)


def _cached(cache: Path, number: int) -> Path:
    return cache / f"{number:03d}.npz"
