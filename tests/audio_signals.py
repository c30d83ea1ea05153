"""Synthesized test signals for the audio tests: clicks at a tempo, tones, chords, and MIDI
files to render."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np

RATE = 48_000


def clicks(bpm: float, seconds: float, rate: int = RATE, start_s: float = 0.5,
           accent_every: int = 0) -> np.ndarray:
    """Decaying noise bursts (a wood-block click) every beat from ``start_s`` (seconds)."""
    out = np.zeros(int(seconds * rate))
    rng = np.random.default_rng(7)
    length = int(0.04 * rate)
    envelope = np.exp(-np.arange(length) / (0.006 * rate))
    beat = 0
    at = start_s
    while at + 0.05 < seconds:
        gain = 0.6 if accent_every and beat % accent_every == 0 else 0.35
        i = int(at * rate)
        out[i:i + length] += gain * rng.standard_normal(length) * envelope
        at += 60.0 / bpm
        beat += 1
    return out


def tone(midi_pitch: float, seconds: float, rate: int = RATE, level: float = 0.3,
         harmonics: int = 4) -> np.ndarray:
    """A harmonic tone (``harmonics`` partials, 1/k amplitudes) with 10 ms fades."""
    t = np.arange(int(seconds * rate)) / rate
    hz = 440.0 * 2 ** ((midi_pitch - 69) / 12)
    wave = sum(np.sin(2 * np.pi * hz * k * t) / k for k in range(1, harmonics + 1))
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)
    return np.asarray(level * wave * fade / harmonics)


def chord(pitches: list[int], seconds: float, rate: int = RATE) -> np.ndarray:
    return np.asarray(sum(tone(p, seconds, rate, level=0.5 / len(pitches)) for p in pitches))


def write_midi(path: Path, bpm: float, notes: list[tuple[int, int, int, int]]) -> Path:
    """A one-track MIDI file at ``bpm`` (480 ticks a beat) of ``notes``: (tick, length in
    ticks, pitch, velocity)."""
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    events: list[tuple[int, mido.Message]] = []
    for tick, length, pitch, velocity in notes:
        events.append((tick, mido.Message("note_on", note=pitch, velocity=velocity)))
        events.append((tick + length, mido.Message("note_off", note=pitch)))
    now = 0
    for tick, message in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
        track.append(message.copy(time=tick - now))
        now = tick
    midi.save(str(path))
    return path
