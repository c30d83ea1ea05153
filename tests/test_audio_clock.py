"""The live input's sample clock: callback stamps, jitter filtered, the card's drift followed."""

from __future__ import annotations

import numpy as np
import pytest

from stage.engine.audio_clock import SampleClock
from stage.engine.time import NS_PER_S

RATE = 48_000
BLOCK = 128


def _stream(seconds: float, ppm: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Block ends (samples) and their callback stamps (ns) of a card whose clock runs ``ppm``
    fast: each stamp is late by the callback's wait (mostly under a millisecond, sometimes
    several)."""
    rng = np.random.default_rng(seed)
    ends = np.arange(1, int(seconds * RATE / BLOCK) + 1) * BLOCK
    true_ns = 5e9 + ends / (RATE * (1 + ppm * 1e-6)) * NS_PER_S
    wait = rng.exponential(0.4e6, len(ends)) + (rng.random(len(ends)) < 0.02) * 6e6
    return ends, (true_ns + wait).astype(np.int64)


def test_the_first_block_anchors_the_clock_at_once() -> None:
    clock = SampleClock(RATE)
    assert clock.first_sample_ns() is None
    clock.stamp(BLOCK, 10 * NS_PER_S)
    assert clock.time_ns(BLOCK) == pytest.approx(10 * NS_PER_S)


def test_drift_is_followed_and_jitter_filtered() -> None:
    ends, stamps = _stream(120.0, ppm=100.0)
    clock = SampleClock(RATE)
    anchors = []
    for end, stamp in zip(ends, stamps, strict=True):
        clock.stamp(int(end), int(stamp))
        if end % (RATE // 10) < BLOCK:  # the engine drains often
            anchors.append(clock.first_sample_ns())
    true_last = 5e9 + ends[-1] / (RATE * (1 + 1e-4)) * NS_PER_S
    once = float(stamps[0]) - BLOCK / RATE * NS_PER_S  # anchored once, at the first block
    followed = clock.time_ns(int(ends[-1]))
    assert followed is not None
    assert abs(once + ends[-1] / RATE * NS_PER_S - true_last) > 10e6  # 12 ms off by 2 min
    assert abs(followed - true_last) < 0.5e6  # within half a millisecond
    steps = np.abs(np.diff(np.array(anchors[20:], dtype=float)))
    assert steps.max() < 0.5e6  # it glides, never jumps


def test_a_steady_card_stays_put_under_jitter() -> None:
    ends, stamps = _stream(60.0, ppm=0.0, seed=4)
    clock = SampleClock(RATE)
    for end, stamp in zip(ends, stamps, strict=True):
        clock.stamp(int(end), int(stamp))
    first = clock.first_sample_ns()
    assert first is not None and abs(first - 5e9) < 0.2e6


def test_the_input_callback_stamps_every_block() -> None:
    from stage.engine.audio import AudioInput

    audio = AudioInput(sample_rate=RATE, blocksize=BLOCK, pitch=False, beat_model=False)
    block = np.zeros((BLOCK, 1), dtype=np.float32)
    for _ in range(3):
        audio._callback(block, BLOCK, None, None)
    assert audio.clock.stamps == 3 and audio.ring.written == 3 * BLOCK
    assert audio._offset_s() == pytest.approx(
        (audio.clock.first_sample_ns() - audio.origin_ns) / NS_PER_S)
