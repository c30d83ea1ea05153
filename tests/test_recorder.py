"""The recorder: a song cut mid-phrase never leaves the performer's notes hanging in the file."""

from __future__ import annotations

from stage.engine.ports.recorder import MidiRecorder


def test_held_performer_notes_are_closed_where_the_song_ends() -> None:
    recorder = MidiRecorder()
    recorder.record_input(0, bytes((0x90, 60, 100)))
    recorder.record_input(10, bytes((0x90, 64, 100)))
    recorder.record_input(20, bytes((0x80, 60, 0)))
    recorder.record_input(30, bytes((0x91, 40, 90)))  # another channel, still held
    recorder.record_input(40, bytes((0x90, 67, 0)))  # a note-off as velocity 0, never opened
    assert recorder.note_balance()["performer"] == 1
    assert recorder.close_input_notes(3840) == 2
    closed = [(t, d) for t, d in recorder.tracks["performer"] if t == 3840]
    assert sorted(closed) == [(3840, bytes((0x80, 64, 0))), (3840, bytes((0x81, 40, 0)))]
    assert recorder.close_input_notes(3840) == 0  # nothing left to close
