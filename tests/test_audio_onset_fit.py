"""The beat model's activation at audio onsets, counted by their place in the beat."""

from __future__ import annotations

import numpy as np
from audio_signals import RATE, clicks

from stage.engine.follow.audio_beat_model import BeatActivations, load_beat_model
from stage.engine.follow.audio_onset_fit import (
    ACTIVATION_BEFORE_S,
    ROWS,
    activation_at,
    song_counts,
)
from stage.engine.follow.metre_fit import CELLS, given_template
from stage.engine.follow.pointer import ACTIVATION_TEMPLATE, ATTACK_TEMPLATE, BASS_TEMPLATE


def test_an_onsets_activation_is_the_highest_until_its_group_closed_or_it_was_known() -> None:
    times = np.arange(1, 101) * 0.01  # frames end every 10 ms
    beat = np.zeros(100)
    beat[49], beat[52], beat[60], beat[70] = 0.9, 0.4, 0.7, 0.6  # 0.50, 0.53, 0.61, 0.71 s
    activations = BeatActivations(times, beat, np.zeros(100))
    found = activation_at(np.array([0.5 + ACTIVATION_BEFORE_S, 0.535, 0.59, 0.8]),
                          np.array([0.54, 0.56, 0.595, 0.805]), activations)
    # The first reaches back to 0.50 s; the second starts after it, is known and closes
    # before 0.61 s; the third is known before 0.61 s but its group closes after; the
    # fourth hears no activation at all.
    np.testing.assert_allclose(found, [0.9, 0.4, 0.7, 0.0])


def test_clicks_on_the_beat_are_counted_on_the_beat() -> None:
    model = load_beat_model()
    assert model is not None
    period = 0.5
    samples = clicks(120.0, 12.0, start_s=0.5)
    beats = 0.5 + period * np.arange(24)
    counts = song_counts(samples, RATE, beats, model)
    assert counts.shape == (ROWS["attack"].stop, CELLS)
    activation, bass, attack = (counts[ROWS[name]] for name in ("activation", "bass", "attack"))
    # Every onset is counted once by each reading: its activation, bass rise and attack.
    np.testing.assert_array_equal(activation.sum(axis=0), bass.sum(axis=0))
    np.testing.assert_array_equal(activation.sum(axis=0), attack.sum(axis=0))
    assert activation.sum() >= 18  # nearly every click heard between the first and last beat
    near = activation[:, list(range(0, 3)) + list(range(CELLS - 2, CELLS))].sum()
    assert near / activation.sum() > 0.9  # within 2 cells (21 ms) of the beat


def test_the_shipped_calibration_says_a_sure_model_is_on_the_beat() -> None:
    # A high activation raises the beat and a low one lowers it; and given_template is a
    # ratio to all onsets, so a bin of every onset is flat.
    assert ACTIVATION_TEMPLATE[-1, 0] > 1.5 and ACTIVATION_TEMPLATE[0, 0] < 0.5
    # A bass entering (the power many times what it was) is on the beat; a falling bass
    # (a note over a decaying one) is less often there than any onset.
    assert BASS_TEMPLATE[-1, 0] > 1.5 and BASS_TEMPLATE[0, 0] < 1.0
    # A strong attack (a chord struck) is on the beat more often than any onset, a weak one
    # (a passing note) less.
    assert ATTACK_TEMPLATE[-1, 0] > 1.2 and ATTACK_TEMPLATE[0, 0] < 1.0
    counts = np.ones((1, 3, CELLS))
    np.testing.assert_allclose(given_template(counts)[0], 1.0)
