"""The chord predictor in front of the follower's anticipation: it answers without a chart,
the chart answers with one, a gap in the beats starts afresh, and the follower still runs."""

from __future__ import annotations

from stage.accompany.model.anticipator import ModelChordAnticipator, attach_chord_model
from stage.accompany.model.runtime import ChordRuntime
from stage.engine.chart import ChartSection, ChordChart
from stage.engine.events import MidiMessage
from stage.engine.follow.anticipate import ChordAnticipator
from stage.engine.follow.midi import MidiFollower
from stage.engine.harmony import Chord
from stage.engine.state import Meter
from stage.engine.time import TempoMap

PROGRESSION = [Chord(0, "maj"), Chord(9, "min"), Chord(5, "maj"), Chord(7, "maj")]


def _play(anticipator: ModelChordAnticipator, bars: int) -> list[Chord | None]:
    said = []
    for beat in range(bars * 4):
        anticipator.heard(beat, PROGRESSION[(beat // 4) % 4])
        said.append(anticipator.predict(beat + 1, PROGRESSION[(beat // 4) % 4]))
    return said


def test_without_a_chart_the_model_says_the_next_chord() -> None:
    runtime = ChordRuntime()
    anticipator = ModelChordAnticipator(ChordAnticipator(Meter()), runtime)
    said = _play(anticipator, 8)
    truth = [PROGRESSION[((b + 1) // 4) % 4] for b in range(32)]
    # after two rounds of a I-vi-IV-V loop the model holds within the bar and changes on it
    late = range(16, 32)
    right = sum(said[b] == truth[b] for b in late)
    assert right >= 12, list(zip(said[16:], truth[16:], strict=True))
    assert anticipator.source.startswith("model:chords@")


def test_with_a_chart_the_chart_answers() -> None:
    verse = ChartSection.parse("verse", ["D:min", "G:7", "C:maj7", "A:7"])
    chart = ChordChart({"verse": verse}, ("verse",))
    inner = ChordAnticipator(Meter(), chart)
    anticipator = ModelChordAnticipator(inner, ChordRuntime())
    for beat in range(8):
        heard = verse.bars[beat // 4][0]
        anticipator.heard(beat, heard)
        assert anticipator.predict(beat + 1, heard) == verse.bars[(beat + 1) // 4 % 4][0]


def test_a_gap_in_the_beats_starts_the_model_afresh() -> None:
    runtime = ChordRuntime()
    fresh = ModelChordAnticipator(ChordAnticipator(Meter()), runtime)
    fresh.heard(100, Chord(2, "min"))
    continued = ModelChordAnticipator(ChordAnticipator(Meter()), runtime)
    _play(continued, 2)
    continued.heard(100, Chord(2, "min"))  # beats 8-99 never came
    assert (continued._state == fresh._state).all()


def test_attached_to_a_follower_the_follower_plays_on() -> None:
    follower = MidiFollower(Meter(), 120.0)
    assert attach_chord_model(follower)
    assert isinstance(follower.anticipator, ModelChordAnticipator)
    tempo = TempoMap(120.0)
    for beat in range(24):
        now = beat * 500_000_000
        for pitch in (60, 64, 67) if (beat // 4) % 2 == 0 else (57, 60, 64):
            follower.hear(MidiMessage(now, bytes((0x90, pitch, 90))), now, tempo)
        follower.hear(MidiMessage(now + 400_000_000, bytes((0x80, 60, 0))), now + 400_000_000,
                      tempo)
    state = follower.state(24 * 500_000_000, tempo)
    assert state.chord is not None and state.next_chord is not None


def test_predictions_are_spelled_like_the_chords_heard() -> None:
    """The follower names a root-position chord's bass: a held chord comes back as heard
    (its inversion kept), a change in root position spelled the same way."""
    anticipator = ModelChordAnticipator(ChordAnticipator(Meter()), ChordRuntime())
    heard = [Chord(c.root, c.quality, c.root) for c in PROGRESSION]
    inverted = Chord(0, "maj", 4)  # C/E
    for beat in range(32):
        chord = inverted if beat % 16 < 4 else heard[(beat // 4) % 4]
        anticipator.heard(beat, chord)
        said = anticipator.predict(beat + 1, chord)
        assert said is not None and said.bass is not None
        if (said.root, said.quality) == (chord.root, chord.quality):
            assert said == chord
        else:
            assert said.bass == said.root


def test_the_follower_hands_the_top_line_to_the_model() -> None:
    follower = MidiFollower(Meter(), 120.0)
    assert attach_chord_model(follower)
    seen: list[object] = []
    model = follower.anticipator
    original = model.heard

    def heard(beat_index: int, chord: Chord | None, melody: object = None) -> None:
        seen.append(melody)
        original(beat_index, chord, melody)

    model.heard = heard  # type: ignore[method-assign]
    tempo = TempoMap(120.0)
    for beat in range(8):
        now = beat * 500_000_000
        for pitch in (48, 60, 64, 67, 76):  # E5 on top of a C chord
            follower.hear(MidiMessage(now, bytes((0x90, pitch, 90))), now, tempo)
        for pitch in (48, 60, 64, 67, 76):
            follower.hear(MidiMessage(now + 450_000_000, bytes((0x80, pitch, 0))),
                          now + 450_000_000, tempo)
    follower.state(8 * 500_000_000, tempo)
    melodies = [m for m in seen if m is not None]
    assert melodies, "the model never got the melody"
    last = melodies[-1]
    assert int(last.argmax()) == 4 and last[4] > 0.5  # type: ignore[attr-defined]
