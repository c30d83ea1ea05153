"""Rubato for the beat model's training audio: notes and beat targets move together."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np

from stage.engine.follow.audio_beat_rubato import _CHORD_SPREAD_S, perform, rubato

TEMPO = 600_000  # 100 bpm: a beat is 0.6 s
BEATS = 0.6 * np.arange(64) + 0.5


def _score(path: Path) -> Path:
    """A type-1 file as POP909 writes one: the tempo in track 0; a bass note on every beat
    and a three-note chord on every other beat in track 1."""
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO, time=0)]))
    events = []
    for i, time in enumerate(BEATS):
        tick = round(time / 0.6 * 480)
        notes = [36] + ([60, 64, 67] if i % 2 == 0 else [])
        for note in notes:
            events += [(tick, 1, note), (tick + 400, 0, note)]
    track, last = mido.MidiTrack(), 0
    for tick, on, note in sorted(events, key=lambda e: (e[0], e[1])):
        kind = "note_on" if on else "note_off"
        track.append(mido.Message(kind, note=note, velocity=80 if on else 0, time=tick - last))
        last = tick
    midi.tracks.append(track)
    midi.save(str(path))
    return path


def _notes(path: Path) -> list[tuple[float, float, int]]:
    """(start, end, pitch) of every note, in seconds."""
    now, starts, notes = 0.0, {}, []
    for message in mido.MidiFile(str(path)):
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            starts[message.note] = now
        elif message.type in ("note_on", "note_off"):
            notes.append((starts.pop(message.note), now, message.note))
    return sorted(notes)


def test_the_performance_moves_the_beats_and_keeps_their_order() -> None:
    played = rubato(BEATS, np.random.default_rng(3))
    assert np.allclose(played.warp(BEATS), played.played)
    lengths = np.diff(played.played)
    assert np.all(lengths > 0)
    assert np.std(np.diff(np.log(lengths))) > 0.01  # not a clock any more
    assert not np.allclose(lengths, lengths[0])
    # Before the first beat and after the last the pace of the outer beats goes on.
    ahead = played.warp(np.array([BEATS[-1] + 0.3]))[0] - played.played[-1]
    assert np.isclose(ahead, 0.3 * lengths[-1] / 0.6)
    assert played.warp(np.array([0.0]))[0] >= 0.0


def test_every_note_is_played_where_its_beat_went(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    played = rubato(BEATS, rng)
    out = perform(_score(tmp_path / "score.mid"), played, rng, tmp_path / "played.mid")
    score, performed = _notes(tmp_path / "score.mid"), _notes(out)
    assert len(performed) == len(score)
    assert all(end > start for start, end, _ in performed)  # no note let go before it starts
    for pitch in (36, 60):
        starts = np.array([s for s, _, p in performed if p == pitch])
        wanted = played.warp(np.array([s for s, _, p in score if p == pitch]))
        # Each note within the chord spread of its beat's new place (the file's ticks are
        # about half a millisecond).
        assert np.max(np.abs(starts - wanted)) < 5 * _CHORD_SPREAD_S
    # The bass notes land on the performed beats, not on the score's.
    bass = np.array([s for s, _, p in performed if p == 36])
    assert np.median(np.abs(bass - played.played)) < _CHORD_SPREAD_S
    assert np.median(np.abs(bass - BEATS)) > 3 * _CHORD_SPREAD_S
