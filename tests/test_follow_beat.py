"""Beat tracker: steady time, tempo changes, fermatas, off-beat starts, and tapping."""

from __future__ import annotations

import numpy as np
import pytest

from stage.engine.follow.beat import Beat, BeatTracker


def run(tracker: BeatTracker, onsets: list[tuple[float, int, int]], until: float) -> list[Beat]:
    beats: list[Beat] = []
    for time, velocity, pitch in onsets:
        beats += tracker.onset(time, velocity, pitch)
    beats += tracker.advance(until)
    return beats


def steady(start: float, period: float, count: int, offbeats: bool = True
           ) -> list[tuple[float, int, int]]:
    """Bass on every beat, a quieter chord on every off-beat."""
    out = []
    for k in range(count):
        out.append((start + k * period, 100, 40))
        if offbeats:
            out.append((start + (k + 0.5) * period, 60, 67))
    return out


def matched(beats: list[Beat], truth: np.ndarray, tolerance: float = 0.07) -> float:
    times = np.array([b.time for b in beats])
    hits = sum(np.min(np.abs(times - t)) <= tolerance for t in truth)
    return hits / len(truth)


def test_first_onset_is_a_downbeat_and_steady_time_is_locked() -> None:
    tracker = BeatTracker(60 / 100)  # prior 100 bpm, performer at 96
    period = 60 / 96
    beats = run(tracker, steady(1.0, period, 32), 1.0 + 32 * period)
    assert beats[0].time == pytest.approx(1.0)
    assert beats[0].is_downbeat(4)
    assert matched(beats[4:], 1.0 + period * np.arange(4, 32)) == 1.0
    assert tracker.bpm == pytest.approx(96, rel=0.02)


def test_every_beat_is_decided_after_it_happens_but_within_a_window() -> None:
    tracker = BeatTracker(0.5)
    beats = run(tracker, steady(0.0, 0.5, 16), 8.0)
    for beat in beats:
        assert beat.time <= beat.decided_at <= beat.time + 0.2 * 0.5 + 1e-9


def test_sudden_tempo_change_is_followed() -> None:
    tracker = BeatTracker(0.6)
    first = steady(0.0, 0.6, 16)
    change_at = 16 * 0.6
    second = steady(change_at, 0.5, 24)  # 20 % faster
    beats = run(tracker, first + second, change_at + 24 * 0.5)
    truth = change_at + 0.5 * np.arange(8, 24)
    assert matched(beats, truth) >= 0.9
    assert tracker.bpm == pytest.approx(120, rel=0.05)


def test_fermata_then_the_performer_comes_back() -> None:
    tracker = BeatTracker(0.5)
    before = steady(0.0, 0.5, 8, offbeats=False)
    resume = 8 * 0.5 + 1.3  # held 2.6 beats longer than written
    after = steady(resume, 0.5, 8, offbeats=False)
    beats = run(tracker, before + after, resume + 4.0)
    assert matched(beats, resume + 0.5 * np.arange(0, 8)) == 1.0


def test_a_pickup_on_the_offbeat_is_corrected_to_the_beat() -> None:
    tracker = BeatTracker(0.5)
    pickup = [(0.25, 70, 72)]  # an eighth-note pickup, then the song on the beat
    beats = run(tracker, pickup + steady(0.5, 0.5, 24), 0.5 + 24 * 0.5)
    assert matched(beats[-12:], 0.5 + 0.5 * np.arange(12, 24)) == 1.0


def test_tap_tempo_overrides_the_prior() -> None:
    tracker = BeatTracker(0.5)
    beats = tracker.tap([0.0, 0.75, 1.5, 2.25])
    assert tracker.period == pytest.approx(0.75)
    assert beats[-1].time == pytest.approx(2.25)
    later = tracker.advance(3.5)
    assert later[0].time == pytest.approx(3.0)


def test_the_downbeat_moves_to_where_the_harmony_changes() -> None:
    from stage.engine.follow.bars import BarFinder

    bars = BarFinder(4)
    moves = []
    for beat in range(40):  # a one-beat pickup: chords change on beats 1, 5, 9, ...
        moves.append(bars.heard(beat, chord_changed=beat % 4 == 1))
    assert [m for m in moves if m] == [1]
    assert bars.is_downbeat(41) and not bars.is_downbeat(40)
