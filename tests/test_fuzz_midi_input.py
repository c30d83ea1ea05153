"""Fuzzing MIDI input: whatever bytes arrive as a message (running-status data bytes with no
status, sysex with or without its end, truncated messages, real-time bytes, garbage), the
follower, the band's controller map and harmony voices, and the recorder take them without
an exception or a muted part, and the show ends with no note left sounding. MIDI files with
broken tracks (running status, sysex, cut-off events) load or fail with one clear line."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stage.commands._songs import song_plugins
from stage.engine.events import MidiMessage
from stage.engine.ports.base import MemoryOutput
from stage.engine.ports.midifile import MidiFileError, load_performance
from stage.engine.ports.recorder import MidiRecorder
from stage.engine.runner import Engine
from stage.engine.setlist import load_setlist
from stage.engine.time import TempoMap, VirtualClock

ROOT = Path(__file__).resolve().parents[1]
_FUNK = load_setlist(ROOT / "setlists" / "songs" / "late-night-funk.toml").songs[0]
# the funk song for its controller map (pads, CCs, pedal double tap); its pattern keys
SONG = dataclasses.replace(_FUNK, mix={
    part: dataclasses.replace(settings, engine="pattern") for part, settings in _FUNK.mix.items()})
FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

data_byte = st.integers(0, 0x7F)
status = st.integers(0x80, 0xFF)
message_bytes = st.one_of(
    st.tuples(st.sampled_from([0x80, 0x90, 0xA0, 0xB0, 0xE0]).flatmap(
        lambda s: st.integers(s, s + 15)), data_byte, data_byte).map(bytes),  # well formed
    st.lists(data_byte, min_size=1, max_size=3).map(bytes),  # running status: no status
    st.tuples(status).map(bytes),  # a status alone (truncated), or real-time
    st.tuples(status, data_byte).map(bytes),  # one data byte short
    st.lists(data_byte, max_size=20).map(lambda body: bytes([0xF0, *body, 0xF7])),  # sysex
    st.lists(data_byte, max_size=20).map(lambda body: bytes([0xF0, *body])),  # unended
    st.binary(max_size=12),  # anything at all, the empty message included
)


@FUZZ
@given(messages=st.lists(st.tuples(st.integers(0, 4_000_000_000), message_bytes),
                         max_size=40))
def test_any_input_bytes_leave_no_crash_no_muted_part_and_no_stuck_note(
        messages: list[tuple[int, bytes]]) -> None:
    plugins = song_plugins(SONG, None, follow=True, live=True)
    clock = VirtualClock()
    recorder = MidiRecorder()
    output = MemoryOutput()
    engine = Engine(clock, TempoMap(SONG.tempo), plugins.follower, plugins.generators,
                    [output], recorder=recorder)
    engine.start(origin_ns=0)
    for stamp, data in sorted(messages, key=lambda m: m[0]):
        clock.advance_to(max(stamp, clock.now_ns()))
        engine.step([MidiMessage(stamp, data, "fuzz")])
    engine.close()
    assert engine.stats.muted_parts == []
    band = plugins.generators[0].band  # type: ignore[attr-defined]
    assert band.muted == set()
    # the performer's own notes are theirs to end; every note the band played has ended
    for part, events in recorder.tracks.items():
        if part != "performer":
            assert _left_sounding(events) == set(), part
    assert output.sounding == frozenset()


def _left_sounding(events: list[tuple[int, bytes]]) -> set[tuple[int, int]]:
    sounding: set[tuple[int, int]] = set()
    for _, data in sorted(events, key=lambda e: e[0]):
        kind, key = data[0] & 0xF0, (data[0] & 0x0F, data[1])
        if kind == 0x90 and data[2] > 0:
            sounding.add(key)
        elif kind in (0x80, 0x90):
            sounding.discard(key)
    return sounding


def _midi_file(track: bytes) -> bytes:
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


event = st.one_of(
    st.tuples(st.integers(0, 0x7F), st.integers(0x80, 0xEF), data_byte, data_byte).map(bytes),
    st.tuples(st.integers(0, 0x7F), data_byte, data_byte).map(bytes),  # running status
    st.tuples(st.integers(0, 0x7F), st.lists(data_byte, max_size=8)).map(
        lambda d: bytes([d[0], 0xF0, len(d[1]) + 1, *d[1], 0xF7])),  # sysex event
    st.tuples(st.integers(0, 0x7F), st.binary(max_size=6)).map(
        lambda d: bytes([d[0], 0xFF, 0x51, 3]) + d[1][:3]),  # tempo, maybe cut short
    st.binary(max_size=5),  # cut off or garbage
)


@FUZZ
@given(events=st.lists(event, max_size=30), end=st.booleans())
def test_broken_midi_files_load_or_fail_on_one_line(tmp_path: Path, events: list[bytes],
                                                    end: bool) -> None:
    track = b"".join(events) + (b"\x00\xff\x2f\x00" if end else b"")
    path = tmp_path / "fuzz.mid"
    path.write_bytes(_midi_file(track))
    try:
        messages = load_performance(path)
    except MidiFileError as error:
        message = str(error)
        assert message.startswith(str(path)) and "\n" not in message
        return
    for timed in messages:
        assert timed.time_ns >= 0 and timed.data and timed.data[0] >= 0x80
