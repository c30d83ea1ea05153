"""Beat pointer: the belief over tempo and phase that the MIDI follower keeps."""

from __future__ import annotations

import numpy as np
import pytest

from stage.engine.follow import pointer as pointer_module
from stage.engine.follow.beat import Beat
from stage.engine.follow.onsets import BASS, CHORD, SINGLE, OnsetGroup, OnsetGrouper
from stage.engine.follow.pointer import (
    _LENGTH_FLAT,
    ACCENT_EDGES,
    ACCENT_TEMPLATE,
    CELLS,
    GAP_TEMPLATE,
    NOVEL_EDGES,
    NOVEL_TEMPLATE,
    TEMPLATE,
    BeatPointer,
    _load_given,
)

Onsets = list[tuple[float, int, int]]


def play(pointer: BeatPointer, onsets: Onsets, until: float) -> list[Beat]:
    beats: list[Beat] = []
    for time, velocity, pitch in sorted(onsets):
        beats += pointer.onset(time, velocity, pitch)
    return beats + pointer.advance(until)


def oompah(start: float, period: float, count: int) -> Onsets:
    """Bass on every beat, a louder three-note chord on every off-beat."""
    out: Onsets = []
    for k in range(count):
        out.append((start + k * period, 80, 40))
        for pitch in (60, 64, 67):
            out.append((start + (k + 0.5) * period, 110, pitch))
    return out


def on_beat(beats: list[Beat], truth: np.ndarray, tolerance: float = 0.07) -> float:
    times = np.array([b.time for b in beats])
    return float(np.mean([np.min(np.abs(times - t)) <= tolerance for t in truth]))


def test_the_template_puts_the_bass_on_the_beat() -> None:
    straight = TEMPLATE[0]
    assert straight.shape[1] == CELLS
    assert int(np.argmax(straight[BASS])) == 0
    assert straight[BASS, 0] > 3 * straight[BASS, CELLS // 2]


def test_onset_groups_are_classed_by_register_and_size() -> None:
    grouper = OnsetGrouper()
    grouper.note_on(0.0, 90, 40)
    first, _ = grouper.note_on(0.5, 90, 72)  # closes the bass group
    second, _ = grouper.note_on(1.0, 90, 60)
    assert first is not None and first.kind == BASS
    assert second is not None and second.kind == SINGLE


def chord_groups(chords: list[tuple[float, tuple[int, ...]]]) -> list[OnsetGroup]:
    """The closed groups of ``chords`` (time, pitches), each a spread of 10 ms."""
    grouper, closed = OnsetGrouper(), []
    for time, pitches in chords:
        for k, pitch in enumerate(pitches):
            group, _ = grouper.note_on(time + 0.01 * k, 90, pitch)
            if group is not None:
                closed.append(group)
    last = grouper.close()
    return [*closed, *([last] if last is not None else [])]


def test_a_group_knows_how_new_its_pitch_classes_are() -> None:
    c_major, f_major = (48, 64, 67), (53, 69, 72)  # F and A are new, C was heard
    groups = chord_groups([(0.0, c_major), (0.5, c_major), (1.0, f_major), (2.5, f_major)])
    assert [g.novel for g in groups] == pytest.approx([1.0, 0.0, 2 / 3, 1.0])
    # (the last: nothing heard in the second before it)


def test_new_harmony_leans_to_the_beat_and_repeats_away_from_it() -> None:
    straight = NOVEL_TEMPLATE[0]
    fresh, repeated = len(NOVEL_EDGES), 0  # the bins: all new, nothing new
    for kind in (BASS, CHORD):
        assert straight[kind, fresh, 0] > straight[kind, repeated, 0]
    assert straight[CHORD, fresh, 0] > straight[CHORD, fresh, CELLS // 2]
    assert straight[BASS, repeated, 0] < straight[BASS, repeated, CELLS // 2]
    assert np.all(straight[SINGLE, 1] == 1.0)  # a single note is never partly new


def test_audio_onsets_carry_no_harmony() -> None:
    """Onsets without note-offs (audio) have no real pitch: which pitch they carry beyond
    the bass mark must not move the beat."""
    def beats_of(pitches: list[int]) -> list[float]:
        pointer = BeatPointer(0.5, window_s=0.045)
        out: list[Beat] = []
        for k in range(48):
            out += pointer.onset(1.0 + 0.25 * k, 90, pitches[k % len(pitches)], held=False)
        return [b.time for b in out + pointer.advance(20.0)]

    assert beats_of([60]) == beats_of([60, 61, 62, 63])  # all bass; repeated or new


def test_loud_off_beat_chords_do_not_pull_the_beat_off_the_bass() -> None:
    pointer = BeatPointer(60 / 100)  # the setlist says 100, the band plays 96
    period = 60 / 96
    beats = play(pointer, oompah(1.0, period, 48), 1.0 + 48 * period)
    assert on_beat(beats[16:], 1.0 + period * np.arange(16, 48)) == 1.0
    assert pointer.bpm == pytest.approx(96, rel=0.02)


def test_a_song_that_starts_on_the_off_beat_finds_the_beat() -> None:
    pointer = BeatPointer(0.5)
    pickup: Onsets = [(0.25, 90, 72), (0.75, 90, 74)]  # the melody starts on off-beats
    beats = play(pointer, pickup + oompah(1.0, 0.5, 40), 21.0)
    assert on_beat(beats[-20:], 1.0 + 0.5 * np.arange(20, 40)) == 1.0


@pytest.mark.parametrize("window", [0.2, 0.35])
def test_every_beat_is_decided_after_it_falls_and_within_the_window(window: float) -> None:
    """Smoothing may place a beat up to half a beat before it was predicted, so the
    window counts from the prediction."""
    pointer = BeatPointer(0.5, window=window)
    beats = play(pointer, oompah(0.0, 0.5, 24), 12.0)
    assert len(beats) >= 23
    latest = (window + pointer_module._SMOOTH_WITHIN) * pointer.period
    for beat in beats[1:]:
        assert beat.time <= beat.decided_at <= beat.time + latest + 1e-9


PROGRESSION = ((36, (60, 64, 67)), (38, (62, 65, 69)), (40, (64, 67, 71)), (35, (62, 67, 71)))
"""Bass and chord, two beats each: C, Dm, Em, G."""


def lingering(period: float, count: int, held: int, delay: float) -> Onsets:
    """Bass and chord on the beat through :data:`PROGRESSION`, a melody note on the
    off-beat; the beat a little early or late each time (an expressive player), and from
    beat ``held`` on everything ``delay`` beats late (the performer lingers on that beat)."""
    rng = np.random.default_rng(3)
    out: Onsets = []
    for k in range(count):
        bass, chord = PROGRESSION[k // 2 % len(PROGRESSION)]
        start = 1.0 + (k + delay * (k >= held)) * period
        beat = start + float(np.clip(rng.normal(0.0, 0.1), -0.2, 0.2)) * period
        out += [(beat + 0.01 * i, 80, pitch) for i, pitch in enumerate((bass, *chord))]
        out.append((start + 0.5 * period, 90, 76))
    return out


@pytest.mark.parametrize("smoothing", [True, False])
def test_a_loose_player_s_beats_are_placed_on_the_notes(smoothing: bool) -> None:
    period = 0.5
    pointer = BeatPointer(period)
    pointer._smoothing = smoothing
    onsets = lingering(period, 40, 24, 0.3)
    beats = play(pointer, onsets, 30.0)
    basses = np.array([time for time, _, pitch in onsets if pitch < 48])
    on_the_note = on_beat(beats, basses[8:], tolerance=1e-6)
    nearest = min(beats, key=lambda b: abs(b.time - basses[24]))
    if smoothing:  # on the bass notes, the one lingered on too
        assert on_the_note >= 0.9
        assert nearest.time == pytest.approx(basses[24], abs=1e-6)
    else:  # the belief alone puts them on its grid, between the notes
        assert on_the_note < 0.2
        assert abs(nearest.time - basses[24]) > 0.03


def test_smoothing_moves_back_by_the_transpose_of_the_forward_move() -> None:
    """For beliefs b1, b2 and a message m, <M b, m> is what the backward message <b, M'm>
    must reproduce. Both sides normalise (the move by the belief's sum, the backward
    message by its maximum), so the ratio compared is one where the scales cancel."""
    rng = np.random.default_rng(7)
    pointer = BeatPointer(0.5)
    every = slice(0, pointer_module.TEMPI)
    shape = (pointer_module.TEMPI, CELLS)
    beliefs = [rng.random((1, *shape)) for _ in range(2)]
    message, ones = rng.random(shape), np.ones(shape)
    forward = []
    for belief in beliefs:
        pointer._belief = belief.copy()
        pointer._move(0.37)
        forward.append(float((pointer._belief[0] * message).sum()))
    back, back_ones = (pointer._carry(m, 0.37, every, back=True) for m in (message, ones))
    backward = [float((b[0] * back).sum() / (b[0] * back_ones).sum()) for b in beliefs]
    assert forward[0] / forward[1] == pytest.approx(backward[0] / backward[1], rel=1e-9)


def test_a_window_in_seconds_holds_whatever_the_tempo() -> None:
    pointer = BeatPointer(0.6, window_s=0.045)  # the performer is 20 % faster than the prior
    beats = play(pointer, oompah(0.0, 0.5, 24), 12.0)
    assert pointer.period < 0.55
    for beat in beats[1:]:
        assert beat.decided_at - beat.time == pytest.approx(0.045)


def test_a_sudden_tempo_change_is_followed() -> None:
    pointer = BeatPointer(0.6)
    change_at = 24 * 0.6
    onsets = oompah(0.0, 0.6, 24) + oompah(change_at, 0.5, 40)  # 20 % faster
    beats = play(pointer, onsets, change_at + 40 * 0.5)
    assert on_beat(beats, change_at + 0.5 * np.arange(16, 40)) >= 0.9
    assert pointer.bpm == pytest.approx(120, rel=0.03)


def test_the_tempo_drift_allowed_sets_how_closely_an_accelerando_is_followed() -> None:
    # Bass notes whose beats shorten 1 % each: 0.6 s to 0.45 s over 30 beats.
    lengths = 0.6 * 0.99 ** np.arange(30)
    onsets = [(float(t), 90, 40) for t in np.cumsum(lengths)]
    loose, strict = BeatPointer(0.6, tempo_sd=0.05), BeatPointer(0.6, tempo_sd=0.005)
    for pointer in (loose, strict):
        play(pointer, onsets, onsets[-1][0] + 0.1)
    assert abs(loose.period - lengths[-1]) < 0.5 * abs(strict.period - lengths[-1])


def test_after_a_fermata_the_performer_s_return_is_a_beat() -> None:
    pointer = BeatPointer(0.5)
    resume = 16 * 0.5 + 1.3  # held 2.6 beats longer than written
    onsets = oompah(0.0, 0.5, 16) + oompah(resume, 0.5, 12)
    beats = play(pointer, onsets, resume + 6.0)
    assert on_beat(beats, resume + 0.5 * np.arange(0, 12)) == 1.0


def test_a_shuffle_keeps_its_tempo() -> None:
    """Bass on the beat, a melody on the beat's thirds: triplet feel at 80 bpm, not the
    0.75x grid that puts every other triplet on a straight off-beat."""
    period = 0.75
    onsets: Onsets = []
    for k in range(48):
        onsets.append((k * period, 80, 40))
        onsets.append((k * period + period / 3, 70, 72 + k % 3))
        onsets.append((k * period + 2 * period / 3, 70, 67 + k % 2))
    pointer = BeatPointer(period)
    beats = play(pointer, onsets, 48 * period)
    assert pointer.bpm == pytest.approx(80, rel=0.03)
    assert on_beat(beats[16:], period * np.arange(16, 48)) == 1.0


def test_tap_tempo_sets_the_tempo_even_far_from_the_prior() -> None:
    pointer = BeatPointer(0.5)  # 120 bpm prior; the performer taps 75
    beats = pointer.tap([0.0, 0.8, 1.6, 2.4])
    assert pointer.bpm == pytest.approx(75, rel=0.01)
    assert beats[-1].time == pytest.approx(2.4)
    later = pointer.advance(3.2 + pointer.window * pointer.period + 0.01)
    assert later[0].time == pytest.approx(3.2, abs=0.02)


def dotted(start: float, period: float, count: int) -> Onsets:
    """A one-line dotted rhythm at one loudness: a long note on each beat, a short one on
    its last sixteenth. Only how long each note is followed by silence shows the beat."""
    out: Onsets = []
    for k in range(count):
        out.append((start + k * period, 90, 62))
        out.append((start + (k + 0.75) * period, 90, 62))
    return out


def settled_at(beats: list[Beat], start: float, period: float) -> int:
    """Index of the first beat from which every beat is on the true grid."""
    on = [abs((b.time - start) / period - round((b.time - start) / period)) < 0.1
          for b in beats]
    off = [i for i, good in enumerate(on) if not good]
    return off[-1] + 1 if off else 0


def test_the_gap_after_a_note_shows_which_note_is_on_the_beat(
        monkeypatch: pytest.MonkeyPatch) -> None:
    period = 0.5
    onsets = dotted(1.0, period, 40)[1:]  # it starts on the short pickup note
    # The gap evidence alone, fully trusted (the follower tempers it), against none: every
    # other evidence flat (the class, the accent, the pitch classes' novelty, and the held
    # lengths: no note-offs here, so each onset would end its pitch's earlier note).
    for name in ("TEMPLATE", "ACCENT_TEMPLATE", "NOVEL_TEMPLATE", "_LENGTH_FLAT"):
        flat = np.ones_like(getattr(pointer_module, name))
        monkeypatch.setattr(f"stage.engine.follow.pointer.{name}", flat)
    monkeypatch.setattr("stage.engine.follow.pointer.GAP_TEMPLATE", _load_given("gap")[1])
    heard = play(BeatPointer(period, 0.2), onsets, 21.0)
    monkeypatch.setattr("stage.engine.follow.pointer.GAP_TEMPLATE", np.ones_like(GAP_TEMPLATE))
    blind = play(BeatPointer(period, 0.2), onsets, 21.0)
    assert settled_at(heard, 1.0, period) < 20  # within ten bars the long notes are the beat
    assert settled_at(blind, 1.0, period) == len(blind)  # without: still on the pickup's grid


def test_accents_lean_to_the_beat() -> None:
    loud = int(np.searchsorted(ACCENT_EDGES, 1.3))
    soft = int(np.searchsorted(ACCENT_EDGES, 0.7))
    for kind in (BASS, SINGLE):
        assert ACCENT_TEMPLATE[0, kind, loud, 0] > ACCENT_TEMPLATE[0, kind, soft, 0]


def held_eighths(start: float, period: float, count: int) -> list[tuple[float, float, int]]:
    """Even eighths at one loudness, the first one off the beat: the note on each beat is
    held nearly to the next beat, the one off it is let go at once (notes: on, off, pitch).
    Onsets, gaps and accents are the same for every note: only the note-offs show the beat."""
    notes = []
    for k in range(count):
        on = start + (k - 0.5) * period
        notes.append((on, on + 0.12 * period, 74))
        notes.append((on + 0.5 * period, on + 0.95 * period, 72))
    return notes


def play_held(pointer: BeatPointer, notes: list[tuple[float, float, int]],
              until: float) -> list[Beat]:
    events = sorted([(on, 1, pitch) for on, _, pitch in notes]
                    + [(off, 0, pitch) for _, off, pitch in notes])
    beats: list[Beat] = []
    for time, is_on, pitch in events:
        beats += (pointer.onset(time, 90, pitch) if is_on else pointer.release(time, pitch))
    return beats + pointer.advance(until)


def test_how_long_notes_are_held_shows_which_is_on_the_beat(
        monkeypatch: pytest.MonkeyPatch) -> None:
    period = 0.5
    notes = held_eighths(1.0, period, 40)
    heard = settled_at(play_held(BeatPointer(period), notes, 21.0), 1.0, period)
    monkeypatch.setattr("stage.engine.follow.pointer._LENGTH_FLAT",
                        np.ones_like(_LENGTH_FLAT))
    blind = play_held(BeatPointer(period), notes, 21.0)
    assert heard < 20  # within ten bars the held notes are taken for the beat
    assert settled_at(blind, 1.0, period) == len(blind)  # without: still on the short ones


def test_a_note_struck_again_while_held_is_not_counted_twice() -> None:
    pointer = BeatPointer(0.5)
    pointer.onset(0.0, 90, 60)
    pointer.onset(0.5, 90, 60)  # struck again: its first sounding ends here
    assert list(pointer._sounding.values()) == [1]
    pointer.release(0.7, 60)
    assert pointer._held == {} and pointer._sounding == {}


def pedalled_eighths(start: float, period: float, count: int,
                     pedal: bool) -> list[tuple[float, str]]:
    """Even eighths of one pitch at one loudness, the first one off the beat: onsets, gaps
    and lengths are the same for every note. With ``pedal``, the sustain pedal is changed
    with each beat as a pianist does (let up just before it, pressed again just after)."""
    events = []
    for k in range(count):
        events += [(start + (k - 0.5) * period, "note"), (start + k * period, "note")]
        if pedal:
            events += [(start + (k - 0.1) * period, "up"), (start + (k + 0.1) * period, "down")]
    return sorted(events)


def play_pedalled(events: list[tuple[float, str]], period: float, until: float) -> list[Beat]:
    pointer = BeatPointer(period)
    beats: list[Beat] = []
    for time, what in events:
        beats += (pointer.onset(time, 90, 72) if what == "note"
                  else pointer.pedal(time, what == "down"))
    return beats + pointer.advance(until)


def test_the_pedal_shows_where_the_beat_is() -> None:
    period = 0.5
    heard = play_pedalled(pedalled_eighths(1.0, period, 40, pedal=True), period, 21.0)
    blind = play_pedalled(pedalled_eighths(1.0, period, 40, pedal=False), period, 21.0)
    assert settled_at(heard, 1.0, period) < 20  # within ten bars, the beats the pedal shows
    assert settled_at(blind, 1.0, period) == len(blind)  # without: still where it started


def test_only_a_change_of_the_pedal_is_evidence() -> None:
    pointer = BeatPointer(0.5)
    pointer.onset(0.0, 90, 60)
    pointer.pedal(0.1, True)
    belief = pointer._belief.copy()
    pointer.pedal(0.12, True)  # a continuous pedal's next value, still down
    np.testing.assert_array_equal(pointer._belief, belief)
    pointer.pedal(0.3, False)
    assert not np.array_equal(pointer._belief, belief)


def test_any_number_of_pedal_changes_between_onsets_keeps_the_belief() -> None:
    pointer = BeatPointer(0.5)
    pointer.onset(0.0, 90, 60)
    for k in range(4000):  # a pedal pumped (or a faulty one chattering) under a held chord
        pointer.pedal(0.1 + k * 1e-6, k % 2 == 0)
    assert np.isfinite(pointer._belief).all() and pointer._belief.sum() > 0
    beats = pointer.onset(1.0, 90, 60) + pointer.advance(3.0)
    assert all(np.isfinite(b.time) for b in beats) and len(beats) >= 3


def play_heard(period: float, count: int, heard: tuple[float, float] | None,
               until: float, evidence: str = "heard_beat") -> list[Beat]:
    """Even eighths from audio (no pitch, no note-off), the first one off the beat, decided
    45 ms after each beat as the audio follower does; ``heard``: the ``evidence`` (what the
    beat model heard, the bass rise or the attack) at the off-beat and the on-beat onsets."""
    pointer = BeatPointer(period, window_s=0.045, phase_sd=0.04)
    beats: list[Beat] = []
    for k in range(count):
        for time, on_beat in ((1.0 + (k - 0.5) * period, 0), (1.0 + k * period, 1)):
            value = None if heard is None else heard[on_beat]
            beats += pointer.onset(time, 90, 72, held=False, **{evidence: value})
    return beats + pointer.advance(until)


def test_the_beat_model_heard_at_audio_onsets_shows_where_the_beat_is() -> None:
    period = 0.5
    heard = play_heard(period, 40, (0.1, 0.8), 21.0)
    blind = play_heard(period, 40, None, 21.0)
    unsure = play_heard(period, 40, (0.5, 0.5), 21.0)  # the same everywhere: no evidence
    assert settled_at(heard, 1.0, period) < 20  # within ten bars, the beats the model heard
    assert settled_at(blind, 1.0, period) == len(blind)  # without: still where it started
    assert settled_at(unsure, 1.0, period) == len(unsure)


def test_a_bass_entering_at_audio_onsets_shows_where_the_beat_is() -> None:
    period = 0.5
    heard = play_heard(period, 40, (0.0, 3.5), 21.0, "bass_rise")  # a new bass note on it
    flat = play_heard(period, 40, (0.2, 0.2), 21.0, "bass_rise")
    assert settled_at(heard, 1.0, period) < 20
    assert settled_at(flat, 1.0, period) == len(flat)


def test_a_stronger_attack_at_audio_onsets_shows_where_the_beat_is() -> None:
    period = 0.5
    heard = play_heard(period, 40, (60.0, 170.0), 21.0, "attack")  # a chord struck on it
    flat = play_heard(period, 40, (100.0, 100.0), 21.0, "attack")
    assert settled_at(heard, 1.0, period) < 20
    assert settled_at(flat, 1.0, period) == len(flat)


def play_audio(onsets: list[float], period: float, until: float, late: float) -> list[Beat]:
    """Audio onsets (no pitch, no note-off), each heard as on a beat by the beat model,
    decided 45 ms after each beat as the audio follower does."""
    pointer = BeatPointer(period, window_s=0.045, phase_sd=0.04, late=late)
    beats: list[Beat] = []
    for time in onsets:
        beats += pointer.onset(time, 90, 36, held=False, heard_beat=0.9)
    return beats + pointer.advance(until)


def test_a_performer_lingering_into_a_beat_is_heard_on_the_late_note() -> None:
    period = 0.5
    onsets = [1.0 + k * period for k in range(24)]
    onsets[16] += 0.15 * period  # lingers: past what counts as on the beat (0.1 beat)
    waiting = play_audio(onsets, period, 12.9, late=0.4)
    on_grid = play_audio(onsets, period, 12.9, late=0.0)
    assert len(waiting) == len(on_grid) == 24  # no beat added, none lost
    lingered = min(waiting, key=lambda b: abs(b.time - onsets[16]))
    assert lingered.time == pytest.approx(onsets[16], abs=1e-9)  # the note itself
    assert lingered.decided_at == pytest.approx(onsets[16])  # decided when it is heard
    assert lingered.played
    gridded = min(on_grid, key=lambda b: abs(b.time - onsets[16]))
    assert abs(gridded.time - onsets[16]) > 0.05  # without waiting: on the grid, early
    assert gridded.decided_at == pytest.approx(gridded.time + 0.045)
    for beat in waiting[1:]:  # every other beat as before: on its note, 45 ms after
        if beat is not lingered:
            assert beat.played
            assert beat.decided_at == pytest.approx(beat.time + 0.045)


def test_a_rest_is_decided_where_it_was_predicted_once_the_wait_is_over() -> None:
    period = 0.5
    onsets = [1.0 + k * period for k in range(24) if k != 16]  # nothing on beat 16
    beats = play_audio(onsets, period, 12.9, late=0.4)
    assert len(beats) == 24
    rest = min(beats, key=lambda b: abs(b.time - (1.0 + 16 * period)))
    assert rest.time == pytest.approx(1.0 + 16 * period, abs=0.01)
    assert not rest.played
    assert rest.decided_at == pytest.approx(rest.time + 0.4 * period, abs=0.01)
    assert all(b.played for b in beats if b is not rest)


def test_a_beat_waits_no_longer_than_its_wait_and_a_late_note_is_decided_at_once() -> None:
    # A free player: beats up to a quarter beat early or late, some not played, an off-beat
    # note now and then; whatever the belief makes of it, a beat placed on a note is decided
    # within the window of that note, and a rest within the wait.
    period, rng = 0.5, np.random.default_rng(7)
    onsets: list[float] = []
    for k in range(80):
        if rng.random() < 0.85:
            onsets.append(1.0 + (k + float(rng.uniform(-0.25, 0.25))) * period)
        if rng.random() < 0.3:
            onsets.append(1.0 + (k + 0.5) * period)
    beats = play_audio(sorted(onsets), period, 42.0, late=0.4)
    assert len(beats) > 70
    assert any(not b.played for b in beats) and any(
        b.decided_at < b.time + 0.045 - 1e-6 for b in beats)  # rests, and late notes, met
    for beat in beats[1:]:
        latest = 0.045 if beat.played else 0.4 * period * 1.45  # the believed period moves
        assert beat.time <= beat.decided_at <= beat.time + latest + 1e-9


def test_a_note_heard_longer_ago_than_a_window_is_not_made_a_late_beat() -> None:
    # The belief may move a waiting beat's prediction earlier, so that a note heard a while
    # ago falls after it (seen on an ASAP render: a beat placed 261 ms after its note was
    # heard). The beat goes only on a note heard within a window, or it would be decided late.
    pointer = BeatPointer(0.5, window_s=0.045, late=0.4)
    period = pointer.period
    note = 10.0 + 0.2 * period  # a fifth of a beat after the beat predicted at 10 s
    pointer._onset_times.append(note)
    assert pointer._late_onset(10.0, now=note) == note  # just heard: the beat, decided now
    assert pointer._late_onset(10.0, now=note + 0.04) == note
    assert pointer._late_onset(10.0, now=note + 0.1) is None  # heard 100 ms ago: not now
    assert pointer._late_onset(note - 0.05 * period, now=note) is None  # on it: played
    assert pointer._late_onset(note - 0.5 * period, now=note) is None  # past the wait
