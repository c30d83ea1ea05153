"""The beat model's input: log filterbank magnitudes and their rise, 100 frames a second.

:class:`BeatFeatures` turns mono samples at any rate into frames that do not depend on the
rate: the window lasts ``WINDOW_S`` and the hop ``HOP_S`` whatever the rate, the magnitude
is normalised by the window's sum (a full-scale sine reads 0.5 at any rate) and the bands
are fixed in hertz (up to 7.6 kHz, under a 16 kHz render's Nyquist). So the model trained on
16 kHz renders hears the same features from a 48 kHz live input.

Frame ``i`` covers the samples up to the end of hop ``i`` and is stamped with that moment,
``(i + 1) * hop / rate`` seconds: nothing looks ahead. Each frame holds ``BANDS`` log band
magnitudes and their rise over the last ``DIFF_FRAMES`` frames (positive part only).
"""

from __future__ import annotations

import math

import numpy as np

WINDOW_S = 0.046
"""Window length (seconds): 2048 samples at 44.1 kHz, madmom's middle frame size."""
HOP_S = 0.01
"""Hop (seconds): 100 frames a second."""
DIFF_FRAMES = 2
"""The rise is taken against the frame this many hops back (windows overlapping < 60 %)."""
_LOG_GAIN = 1e6
_LINEAR_BINS = range(2, 9)
"""Below ~180 Hz a sixth of an octave is narrower than a bin: one band per bin (43-174 Hz)."""
_LOG_FROM_HZ, _LOG_TO_HZ, _PER_OCTAVE = 196.0, 7_600.0, 6


def _centres() -> np.ndarray:
    spacing = 1.0 / WINDOW_S
    linear = [k * spacing for k in _LINEAR_BINS]
    octaves = math.log2(_LOG_TO_HZ / _LOG_FROM_HZ)
    steps = int(octaves * _PER_OCTAVE)
    log = [_LOG_FROM_HZ * 2 ** (i / _PER_OCTAVE) for i in range(steps + 1)]
    return np.asarray(linear + log)


CENTRES_HZ = _centres()
BANDS = len(CENTRES_HZ)
FEATURES = 2 * BANDS
"""Values per frame: the band magnitudes, then their rises."""


def filterbank(freqs: np.ndarray) -> np.ndarray:
    """Triangular bands (rows sum to 1) at ``CENTRES_HZ`` over bins at ``freqs`` (Hz)."""
    edges = np.concatenate([[CENTRES_HZ[0] - (CENTRES_HZ[1] - CENTRES_HZ[0])], CENTRES_HZ,
                            [CENTRES_HZ[-1] * 2 ** (1 / _PER_OCTAVE)]])
    bank = np.zeros((BANDS, len(freqs)))
    for band in range(BANDS):
        low, mid, high = edges[band], edges[band + 1], edges[band + 2]
        rising = (freqs - low) / (mid - low)
        falling = (high - freqs) / (high - mid)
        weights = np.clip(np.minimum(rising, falling), 0.0, None)
        if weights.sum() <= 0:
            weights[int(np.argmin(np.abs(freqs - mid)))] = 1.0
        bank[band] = weights / weights.sum()
    return bank


class BeatFeatures:
    """Causal beat features of a mono signal at ``sample_rate`` Hz; see the module docstring."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.hop = max(1, round(sample_rate * HOP_S))
        self.size = max(self.hop, round(sample_rate * WINDOW_S))
        window = np.hanning(self.size)
        self._window = window / window.sum()
        freqs = np.fft.rfftfreq(self.size, 1.0 / sample_rate)
        self._bank = filterbank(freqs).T.copy()  # bins x bands
        self._history = np.zeros(self.size - self.hop)  # the samples before the next hop
        self._pending = np.zeros(0)
        self._previous = np.zeros((DIFF_FRAMES, BANDS))  # the last frames' log bands
        self.frames = 0

    @property
    def hop_s(self) -> float:
        """Seconds per frame (0.01 where the rate divides into 100 hops)."""
        return self.hop / self.sample_rate

    def push(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Analyse ``samples`` (mono, -1..1): the frames they complete (frames x FEATURES,
        float32) and each frame's time (seconds since the first sample pushed)."""
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.float64).ravel()])
        count = len(data) // self.hop
        if count == 0:
            self._pending = data
            return np.zeros((0, FEATURES), np.float32), np.zeros(0)
        used = count * self.hop
        signal = np.concatenate([self._history, data[:used]])
        self._pending = data[used:]
        starts = np.arange(count) * self.hop
        windows = np.lib.stride_tricks.sliding_window_view(signal, self.size)[starts]
        spectrum = np.abs(np.fft.rfft(windows * self._window, axis=1))
        bands = np.log10(1.0 + _LOG_GAIN * (spectrum @ self._bank))
        stacked = np.concatenate([self._previous, bands])
        rise = np.maximum(stacked[DIFF_FRAMES:] - stacked[:-DIFF_FRAMES], 0.0)
        self._previous = stacked[-DIFF_FRAMES:]
        self._history = signal[len(signal) - (self.size - self.hop):]
        times = (self.frames + 1 + np.arange(count)) * self.hop_s
        self.frames += count
        return np.concatenate([bands, rise], axis=1).astype(np.float32), times
