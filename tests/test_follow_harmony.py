"""Chord recognition, the key tracker and chord anticipation."""

from __future__ import annotations

import numpy as np
import pytest

from stage.engine.chart import ChartSection, ChordChart
from stage.engine.follow.anticipate import ChordAnticipator
from stage.engine.follow.chord import QUALITIES, recognise
from stage.engine.follow.key import KeyTracker
from stage.engine.follow.notes import NoteRecord
from stage.engine.harmony import CHORD_INTERVALS, Chord, Key
from stage.engine.state import Meter


def chroma_of(pitches: list[int]) -> np.ndarray:
    chroma = np.zeros(12)
    for pitch in pitches:
        chroma[pitch % 12] += 1.0
    return chroma


@pytest.mark.parametrize("quality", QUALITIES)
@pytest.mark.parametrize("root", [0, 6, 10])
def test_every_quality_is_named_from_its_notes(quality: str, root: int) -> None:
    pitches = [48 + root + i for i in CHORD_INTERVALS[quality]]
    guess = recognise(chroma_of(pitches), min(pitches))
    assert guess.chord == Chord(root, quality, root)


def test_the_bass_note_makes_an_inversion() -> None:
    # C major with E in the bass: C:maj/3
    guess = recognise(chroma_of([40, 48, 52, 55, 60]), 40)
    assert guess.chord is not None
    assert guess.chord.label == "C:maj/3"


def test_silence_is_no_chord() -> None:
    assert recognise(np.zeros(12), None).chord is None


def test_sustain_pedal_keeps_released_notes_sounding() -> None:
    record = NoteRecord()
    record.set_pedal(0.0, True)
    for pitch in (48, 52, 55):
        record.note_on(0.0, pitch, 90)
        record.note_off(0.2, pitch)
    assert record.sounding() == {48, 52, 55}
    chroma, bass = record.weights(0.5, 1.0)  # keys up, pedal down: still C major
    assert recognise(chroma, bass).chord == Chord(0, "maj", 0)
    record.set_pedal(1.0, False)
    assert record.sounding() == frozenset()
    assert record.weights(1.5, 2.0)[0].sum() == 0


def test_key_tracker_finds_the_key_and_follows_a_modulation() -> None:
    tracker = KeyTracker(confirm_s=4.0)
    c_major = [Chord(0), Chord(5), Chord(7), Chord(9, "min")]
    d_major = [Chord(2), Chord(7), Chord(9), Chord(11, "min")]
    time = 0.0
    for bar in range(8):
        time += 2.0
        key = tracker.update(time, chroma_of(list(c_major[bar % 4].pitch_classes)))
    assert key == Key(0, "maj")
    for bar in range(24):
        time += 2.0
        key = tracker.update(time, chroma_of(list(d_major[bar % 4].pitch_classes)))
        if bar == 0:
            assert key == Key(0, "maj")  # one bar is not a modulation
    assert key == Key(2, "maj")


def test_anticipation_reads_the_chart_ahead_and_finds_its_place() -> None:
    chart = ChordChart({"verse": ChartSection.parse("verse", ["C", "A:min", "F", "G"])},
                       ("verse",))
    meter = Meter(4, 4)
    anticipator = ChordAnticipator(meter, chart)
    # The performer starts on the chart's third bar (F), not the first.
    played = [Chord(5), Chord(7), Chord(0), Chord(9, "min")]
    for beat in range(16):
        anticipator.heard(beat, played[beat // 4 % 4])
    # Next beat 16 starts bar 5, which is F again in the performer's order.
    assert anticipator.predict(16, played[3]) == Chord(5)


def test_anticipation_without_a_chart_learns_the_progression() -> None:
    anticipator = ChordAnticipator(Meter(4, 4))
    loop = [Chord(0), Chord(7), Chord(9, "min"), Chord(5)]
    for beat in range(16):  # once round the loop: nothing is foretold yet
        anticipator.heard(beat, loop[beat // 4 % 4])
    assert anticipator.predict(16, loop[3]) == loop[3]
    for beat in range(16, 48):
        anticipator.heard(beat, loop[beat // 4 % 4])
    # Beat 47 is the last of F's bar: the next downbeat brings C back.
    assert anticipator.predict(48, loop[3]) == Chord(0)
    # Mid-bar, the chord holds.
    assert anticipator.predict(50, loop[0]) == Chord(0)


def test_training_measures_notes_exactly_as_the_live_follower() -> None:
    from stage.engine.follow.notes import note_arrays, span_weights

    messages = []
    for k, pitch in enumerate((48, 52, 55, 59, 62, 41)):
        messages.append((k * 300_000_000, bytes((0x90, pitch, 40 + 10 * k))))
        messages.append((k * 300_000_000 + 700_000_000, bytes((0x80, pitch, 0))))
    messages.insert(3, (250_000_000, bytes((0xB0, 64, 127))))
    messages.append((1_500_000_000, bytes((0xB0, 64, 0))))
    messages.sort(key=lambda m: m[0])
    record = NoteRecord()
    for time_ns, data in messages:
        t = time_ns / 1e9
        if data[0] == 0x90:
            record.note_on(t, data[1], data[2])
        elif data[0] == 0x80:
            record.note_off(t, data[1])
        else:
            record.set_pedal(t, data[2] >= 64)
    arrays = note_arrays(messages)
    for begin, end in ((0.0, 0.5), (0.4, 1.1), (1.0, 2.5)):
        live, live_bass = record.weights(begin, end)
        offline, offline_bass = span_weights(*arrays, begin, end)
        assert np.allclose(live, offline) and live_bass == offline_bass


def test_the_top_line_is_the_highest_note_sounding() -> None:
    from stage.engine.follow.notes import NoteRecord

    record = NoteRecord()
    record.note_on(0.0, 48, 80)  # C3 held all along
    record.note_on(0.0, 76, 80)  # E5 for the first half
    record.note_off(0.5, 76)
    record.note_on(0.5, 67, 80)  # then G4 on top
    line = record.top_line(0.0, 1.0)
    assert line[4] == pytest.approx(0.5) and line[7] == pytest.approx(0.5)
    assert line[0] == 0.0  # the bass is never the top while something sounds above it
    assert record.top_line(2.0, 1.0).sum() == 0.0
