"""The key tracker: names the key at once, tells a key from its relative, follows a
modulation but not a borrowed chord, and decides only from what it has heard."""

from __future__ import annotations

import mido
import numpy as np
import pytest
from conftest import data_dir

from stage.engine.events import MidiMessage
from stage.engine.follow.key import KEYS, KeyTracker, default_model, key_index
from stage.engine.follow.key_model import KeyEvidence
from stage.engine.follow.midi import MidiFollower
from stage.engine.harmony import Chord, Key
from stage.engine.state import Meter
from stage.engine.time import NS_PER_S, PPQ, TempoMap

BEAT_S = 0.5


def parse(labels: str) -> list[Chord]:
    chords = [Chord.parse(label) for label in labels.split()]
    assert all(c is not None for c in chords)
    return [c for c in chords if c is not None]


def play(tracker: KeyTracker, bars: list[Chord], start: float = 0.0,
         beats_per_bar: int = 4) -> tuple[float, list[Key | None]]:
    """Feed each chord for a bar, beat by beat, as the follower does: the beat's notes, its
    bass (the root, two octaves down) and the chord decided on the beat before."""
    time, keys = start, []
    previous: Chord | None = None
    for chord in bars:
        for _ in range(beats_per_bar):
            time += BEAT_S
            chroma = np.zeros(12)
            for pc in chord.pitch_classes:
                chroma[pc] += BEAT_S
            keys.append(tracker.update(time, chroma, 36 + chord.bass_pc, previous))
            previous = chord
    return time, keys


def test_the_key_is_named_on_the_first_beat_heard() -> None:
    tracker = KeyTracker()
    assert tracker.update(0.5, np.zeros(12)) is None  # silence names nothing
    _, keys = play(tracker, parse("G:maj"), start=0.5, beats_per_bar=1)
    assert keys[0] is not None


@pytest.mark.parametrize("tonic", [0, 3, 8])
def test_a_major_progression_names_its_key(tonic: int) -> None:
    bars = [Chord((tonic + step) % 12, quality) for step, quality in
            ((0, "maj"), (9, "min"), (5, "maj"), (7, "maj"))] * 4
    _, keys = play(KeyTracker(), bars)
    assert keys[-1] == Key(tonic, "maj")


def test_a_minor_song_is_not_taken_for_its_relative_major() -> None:
    # The same seven notes in both; the minor song's bass and chords come home to A.
    _, minor = play(KeyTracker(), parse("A:min F:maj G:maj A:min D:min E:min F:maj A:min") * 3)
    _, major = play(KeyTracker(), parse("C:maj A:min F:maj G:maj C:maj F:maj G:maj C:maj") * 3)
    assert minor[-1] == Key(9, "min")
    assert major[-1] == Key(0, "maj")


def test_a_modulation_is_followed_and_a_borrowed_chord_is_not() -> None:
    tracker = KeyTracker()
    verse = parse("C:maj A:min F:maj G:maj")
    time, keys = play(tracker, verse * 4)
    assert keys[-1] == Key(0, "maj")
    # One bar of a borrowed chord (bVII) does not change the key.
    time, keys = play(tracker, [*parse("Bb:maj"), *verse], start=time)
    assert set(keys) == {Key(0, "maj")}
    # The last choruses a tone up: followed within eight bars (on the way the tracker may
    # pass G major, which holds the new F sharp and the old C), and held.
    up = [Chord((c.root + 2) % 12, c.quality) for c in verse]
    _, keys = play(tracker, up * 6, start=time)
    assert Key(2, "maj") in keys[:32]
    assert keys[32:] == [Key(2, "maj")] * len(keys[32:])


def test_a_semitone_lift_is_followed_within_four_bars() -> None:
    tracker = KeyTracker()
    verse = parse("E:maj C#:min A:maj B:maj")
    time, _ = play(tracker, verse * 4)
    lifted = [Chord((c.root + 1) % 12, c.quality) for c in verse]
    _, keys = play(tracker, lifted * 4, start=time)
    assert keys[0] == Key(4, "maj")  # one beat is not a modulation
    assert keys[16:] == [Key(5, "maj")] * 48


def test_transposing_everything_transposes_the_key() -> None:
    # The model is shared by the twelve tonics: it knows intervals, not pitches.
    model = default_model()
    evidence = KeyEvidence(model.taus)
    rng = np.random.default_rng(1)
    for beat in range(12):
        evidence.add(0.5 * (beat + 1), rng.random(12), int(rng.integers(12)),
                     Chord(int(rng.integers(12)), "min" if beat % 3 else "7"))
    shares = evidence.shares()
    posterior = model.log_posterior(shares)
    moved = model.log_posterior(np.roll(shares, 5, axis=1))
    for key in KEYS:
        up = Key((key.tonic + 5) % 12, key.mode)
        assert moved[key_index(up)] == pytest.approx(posterior[key_index(key)], abs=1e-9)


def test_a_prior_is_the_key_until_playing_outweighs_it() -> None:
    tracker = KeyTracker(prior=Key(7, "maj"))
    assert tracker.key == Key(7, "maj")
    _, keys = play(tracker, parse("E:min C:maj D:maj G:maj"), beats_per_bar=1)
    assert keys[-1] == Key(7, "maj")
    _, keys = play(tracker, parse("Db:maj Bb:min Gb:maj Ab:maj") * 4, start=2.0)
    assert keys[-1] == Key(1, "maj")


def song_messages(bars: list[Chord], bpm: float = 120.0) -> list[tuple[int, bytes]]:
    """Block chords on every beat (a bass note, three chord tones) as MIDI messages."""
    messages = []
    beat_ns = int(60 / bpm * NS_PER_S)
    for beat in range(4 * len(bars)):
        chord, at = bars[beat // 4], beat * beat_ns
        pitches = [36 + chord.bass_pc, *(60 + pc for pc in chord.pitch_classes)]
        for pitch in pitches:
            messages.append((at, bytes([0x90, pitch, 90 if pitch < 48 else 70])))
            messages.append((at + beat_ns * 9 // 10, bytes([0x80, pitch, 0])))
    return sorted(messages, key=lambda m: m[0])


def follow(messages: list[tuple[int, bytes]]) -> list[tuple[float, str]]:
    follower = MidiFollower(Meter(4, 4), 120.0, log_decisions=True)
    tempo = TempoMap(120.0 * Meter(4, 4).ticks_per_beat / PPQ)
    for time_ns, data in messages:
        follower.hear(MidiMessage(time_ns, data), time_ns, tempo)
    assert follower.log is not None
    return [(k.decided_at, k.label) for k in follower.log.keys]


def test_the_follower_decides_keys_only_from_what_it_has_heard() -> None:
    verse = parse("A:min F:maj G:maj E:min")
    full = song_messages(verse * 6 + [Chord((c.root + 1) % 12, c.quality) for c in verse] * 6)
    cut_s = 50.0  # the modulation comes at 48 s: the cut hears only two seconds of it
    heard = follow([m for m in full if m[0] < cut_s * NS_PER_S])
    whole = follow(full)
    assert heard  # named early
    assert heard[0][1] == "A:min"
    assert [k for k in whole if k[0] < cut_s - 1.0] == [k for k in heard if k[0] < cut_s - 1.0]
    assert whole[-1][1] == "Bb:min"  # and the modulation a semitone up is followed


def test_a_real_song_s_semitone_lift_is_followed() -> None:
    # POP909 012 (a training song): E flat major, then the last minute a semitone up at 222 s.
    folder = data_dir() / "pop909" / "012"
    if not folder.is_dir():
        pytest.skip(f"POP909 data not found at {folder} (set STAGE_DATA)")
    from stage.engine.follow.offline import analyze_messages
    from stage.engine.ports.midifile import load_performance

    path = folder / "012.mid"
    first_tempo = next(m.tempo for m in mido.MidiFile(str(path)).tracks[0]
                       if m.type == "set_tempo")
    messages = [(m.time_ns, m.data) for m in load_performance(path)]
    keys = analyze_messages(messages, Meter(4, 4), mido.tempo2bpm(first_tempo))["key"]

    def key_at(seconds: float) -> str:
        return [k["label"] for k in keys if k["decided_at"] <= seconds][-1]

    assert key_at(60.0) == key_at(220.0) == "Eb:maj"
    assert key_at(222.0 + 16.0) == "E:maj"
    assert keys[-1]["label"] == "E:maj"
