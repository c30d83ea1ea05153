"""Decided beats and the bar finder that counts them into bars."""

from __future__ import annotations

from stage.engine.follow.bars import BarFinder
from stage.engine.follow.beat import Beat


def test_beats_count_bars_from_the_first_onset() -> None:
    beats = [Beat(0.5 * k, 0.5 * k + 0.1, k, True) for k in range(7)]
    assert [b.is_downbeat(3) for b in beats] == [True, False, False, True, False, False, True]


def test_the_downbeat_moves_to_where_the_harmony_changes() -> None:
    bars = BarFinder(4)
    moves = []
    for beat in range(40):  # a one-beat pickup: chords change on beats 1, 5, 9, ...
        moves.append(bars.heard(beat, chord_changed=beat % 4 == 1))
    assert [m for m in moves if m] == [1]
    assert bars.is_downbeat(41) and not bars.is_downbeat(40)
