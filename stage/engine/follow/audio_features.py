"""Causal audio features, one hop (~10 ms) at a time: onsets, pitch, chroma and loudness.

:class:`FrontEnd` takes mono samples in blocks of any size and returns, per hop, an
:class:`AudioFrame` (loudness, chroma, bass chroma, the monophonic pitch) and the onsets
decided by then (:class:`AudioOnset`). Nothing looks ahead of the samples pushed: an onset
is known one hop after the hop it rose in (a peak must fall again to be a peak), and every
onset records both the moment it happened and the moment it was known.

- Onsets: spectral flux of the log-compressed magnitude spectrum (positive differences
  only), against an adaptive threshold (a running median and mean of the recent flux); a
  peak must stand above both and above its neighbours. Onsets whose flux is mostly below
  ~250 Hz are marked ``low``: kick drums and bass notes, which mark the beat. Each onset
  also carries its ``bass_rise``: how much the 30-220 Hz power grew from two hops before
  the rise until the onset was known (log ratio). A new bass note grows it; a melody note
  over a held bass barely does, and a piano's left hand changes on the beat. And its
  ``attack``: how much the compressed 300-4000 Hz spectrum grew (positive differences) from
  three hops before the rise until it was known: a chord struck on the beat grows many
  partials at once; a passing note or a grace note few.
- Pitch: YIN (de Cheveigné & Kawahara 2002): the cumulative-mean-normalised difference
  function, first dip below the threshold, parabolic interpolation. ``pitch`` is None when
  the frame is too quiet or not periodic enough (chords, noise).
- Chroma: spectral peaks of a longer window (~85 ms at 48 kHz) folded onto pitch classes,
  loudness-weighted (seconds x loudness, like the MIDI note record's weights).

Times are seconds since the first sample pushed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_LOW_HZ = 250.0
"""Flux below this frequency is the low band (kick, bass)."""
_FLUX_MAX_HZ = 11_000.0
_CHROMA_MIN_HZ = 40.0
_CHROMA_MAX_HZ = 4_200.0
_BASS_MAX_HZ = 220.0
_BASS_MIN_HZ = 30.0
_BASS_FLOOR = 1e-6
"""Added to the bass power before a ratio is taken: silence before a note is no infinite rise."""
_ATTACK_MIN_HZ = 300.0
_ATTACK_MAX_HZ = 4_000.0
_ATTACK_HOPS = 3
"""An onset's attack is measured from this many hops before the hop it rose in."""
_SILENCE_DB = -55.0
"""Frames quieter than this (dBFS) carry no chroma and no pitch."""
_YIN_THRESHOLD = 0.15
_YIN_MIN_HZ = 65.0
_YIN_MAX_HZ = 1_400.0
_THRESHOLD_S = 0.35
"""The adaptive threshold looks back this far (seconds)."""
_THRESHOLD_MEDIAN = 1.4
_THRESHOLD_MEAN = 0.8
_MIN_GAP_S = 0.04
"""Onsets closer than this (seconds) are one onset."""
_STRENGTH_MEMORY_S = 8.0
_LOW_SHARE = 0.35
"""An onset is ``low`` when its low-band rise reaches this share of the recent loudest."""
_RELATIVE_FLOOR = 0.08
"""An onset's flux must reach this share of the recent loudest onset's."""
_MAX_RISE_HOPS = 2
"""A rise still growing after this many hops is decided anyway (bounded latency)."""


def hop_for(sample_rate: int) -> int:
    """Samples per hop: the power of two nearest 10.7 ms (512 at 48 kHz, 256 at 22.05 kHz)."""
    return int(2 ** round(math.log2(sample_rate * 0.0107)))


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One hop's features. ``time``: the end of the hop (seconds); ``rms_db`` dBFS;
    ``chroma``/``bass`` pitch-class weights over the hop (seconds x loudness); ``pitch`` a
    fractional MIDI pitch or None; ``confidence`` 0-1 (1 - YIN's dip)."""

    time: float
    rms_db: float
    chroma: np.ndarray
    bass: np.ndarray
    pitch: float | None
    confidence: float


@dataclass(frozen=True, slots=True)
class AudioOnset:
    """An onset at ``time``, known at ``known_at`` (seconds); ``strength`` 0-1 relative to
    the recent loudest; ``low`` when the kick or the bass made it; ``bass_rise`` the log
    ratio of the 30-220 Hz power when it was known to that two hops before it rose;
    ``attack`` how much the compressed 300-4000 Hz spectrum grew from three hops before it
    rose until it was known (summed over bins)."""

    time: float
    known_at: float
    strength: float
    low: bool
    bass_rise: float = 0.0
    attack: float = 0.0


@dataclass(slots=True)
class _Rise:
    """An onset candidate: the hop it rose in, its flux and low-band rise so far, and the
    bass power and attack band as they were before it rose."""

    time: float
    flux: float
    low: float
    bass_before: float
    attack_before: np.ndarray


class FrontEnd:
    """Causal features of a mono signal at ``sample_rate`` Hz; see the module docstring."""

    def __init__(self, sample_rate: int, pitch: bool = True) -> None:
        self.sample_rate = sample_rate
        self.hop = hop_for(sample_rate)
        self.flux_size = 4 * self.hop
        self.chroma_size = 8 * self.hop
        self.yin_size = 4 * self.hop
        self.track_pitch = pitch
        self._buffer = np.zeros(self.chroma_size, dtype=np.float64)
        self._pending = np.zeros(0, dtype=np.float64)
        self._hops = 0
        self._flux_window = np.hanning(self.flux_size)
        self._chroma_window = np.hanning(self.chroma_size)
        flux_freqs = np.fft.rfftfreq(self.flux_size, 1.0 / sample_rate)
        self._flux_bins = flux_freqs < _FLUX_MAX_HZ
        self._low_bins = flux_freqs[self._flux_bins] < _LOW_HZ
        kept = flux_freqs[self._flux_bins]
        self._bass_bins = (kept >= _BASS_MIN_HZ) & (kept < _BASS_MAX_HZ)
        self._bass_power = np.zeros(3)  # the last three hops' 30-220 Hz power, newest last
        self._attack_bins = (kept >= _ATTACK_MIN_HZ) & (kept < _ATTACK_MAX_HZ)
        # the attack band of the compressed spectrum, the last hops, newest last
        self._attack_band = np.zeros((_ATTACK_HOPS + 1, int(self._attack_bins.sum())))
        chroma_freqs = np.fft.rfftfreq(self.chroma_size, 1.0 / sample_rate)
        self._chroma_bins = (chroma_freqs >= _CHROMA_MIN_HZ) & (chroma_freqs < _CHROMA_MAX_HZ)
        self._previous: np.ndarray | None = None
        history = max(4, round(_THRESHOLD_S * sample_rate / self.hop))
        self._flux = np.zeros(history)
        self._candidate: _Rise | None = None
        self._last_onset = -math.inf
        self._loudest = 1e-9
        self._low_loudest = 1e-9
        self._min_lag = max(2, int(sample_rate / _YIN_MAX_HZ))
        self._max_lag = min(self.yin_size // 2, int(sample_rate / _YIN_MIN_HZ))

    @property
    def hop_s(self) -> float:
        return self.hop / self.sample_rate

    @property
    def now(self) -> float:
        """Seconds of signal analysed so far (the end of the last full hop)."""
        return self._hops * self.hop_s

    def push(self, samples: np.ndarray) -> tuple[list[AudioFrame], list[AudioOnset]]:
        """Analyse ``samples`` (mono, -1..1); returns the frames of every hop they complete
        and the onsets decided by the end of them."""
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.float64).ravel()])
        frames: list[AudioFrame] = []
        onsets: list[AudioOnset] = []
        start = 0
        while len(data) - start >= self.hop:
            hop = data[start:start + self.hop]
            start += self.hop
            frame, onset = self._step(hop)
            frames.append(frame)
            if onset is not None:
                onsets.append(onset)
        self._pending = data[start:]
        return frames, onsets

    # -- one hop ---------------------------------------------------------------------------
    def _step(self, hop: np.ndarray) -> tuple[AudioFrame, AudioOnset | None]:
        self._buffer = np.roll(self._buffer, -self.hop)
        self._buffer[-self.hop:] = hop
        self._hops += 1
        time = self.now
        recent = self._buffer[-self.flux_size:]
        rms = float(np.sqrt(np.mean(recent * recent)))
        rms_db = 20.0 * math.log10(max(rms, 1e-10))
        long = np.abs(np.fft.rfft(self._buffer * self._chroma_window))
        onset = self._onset(recent, time)
        if rms_db < _SILENCE_DB:
            zeros = np.zeros(12)
            return AudioFrame(time, rms_db, zeros, zeros.copy(), None, 0.0), onset
        chroma, bass = self._chroma(long, rms_db)
        pitch, confidence = self._yin(self._buffer[-self.yin_size:]) if self.track_pitch \
            else (None, 0.0)
        return AudioFrame(time, rms_db, chroma, bass, pitch, confidence), onset

    def _onset(self, recent: np.ndarray, time: float) -> AudioOnset | None:
        spectrum = np.abs(np.fft.rfft(recent * self._flux_window))[self._flux_bins]
        compressed = np.log1p(100.0 * spectrum)
        bass = spectrum[self._bass_bins]
        self._bass_power = np.roll(self._bass_power, -1)
        self._bass_power[-1] = float(bass @ bass)
        band = compressed[self._attack_bins]
        self._attack_band = np.roll(self._attack_band, -1, axis=0)
        self._attack_band[-1] = band
        previous, self._previous = self._previous, compressed
        if previous is None:
            return None
        rise = np.maximum(compressed - previous, 0.0)
        flux = float(rise.sum())
        low = float(rise[self._low_bins].sum())
        history = self._flux
        threshold = max(_THRESHOLD_MEDIAN * float(np.median(history)),
                        _THRESHOLD_MEAN * float(history.mean()) + 1e-3, 0.5)
        self._flux = np.roll(history, -1)
        self._flux[-1] = flux
        decided: AudioOnset | None = None
        candidate = self._candidate
        if candidate is not None and (flux < candidate.flux or time - candidate.time
                                      > (_MAX_RISE_HOPS + 0.5) * self.hop_s):
            # The candidate hop was a peak: it is an onset, known now.
            forget = math.exp(-self.hop_s / _STRENGTH_MEMORY_S)
            self._loudest = max(self._loudest * forget, candidate.flux)
            self._low_loudest = max(self._low_loudest * forget, candidate.low)
            bass_rise = math.log((self._bass_power[-1] + _BASS_FLOOR)
                                 / (candidate.bass_before + _BASS_FLOOR))
            attack = float(np.maximum(band - candidate.attack_before, 0.0).sum())
            decided = AudioOnset(candidate.time, time, min(1.0, candidate.flux / self._loudest),
                                 candidate.low >= _LOW_SHARE * self._low_loudest, bass_rise,
                                 attack)
            self._last_onset = candidate.time
            self._candidate = None
        elif candidate is not None:
            candidate.flux = flux
            candidate.low = max(candidate.low, low)
        if (self._candidate is None and decided is None and flux > threshold
                and flux > _RELATIVE_FLOOR * self._loudest
                and time - self.hop_s - self._last_onset >= _MIN_GAP_S):
            # The rise entered with the newest hop; the window's taper shows it about a hop
            # late (measured against MIDI note-ons on rendered piano).
            self._candidate = _Rise(time - 1.5 * self.hop_s, flux, low,
                                    float(self._bass_power[0]), self._attack_band[0].copy())
        return decided

    def _chroma(self, spectrum: np.ndarray, rms_db: float) -> tuple[np.ndarray, np.ndarray]:
        # Peaks only (a partial is a local maximum well above the frame's floor), each placed
        # by parabolic interpolation: bins are 12 Hz apart, a semitone at 55 Hz is 3 Hz.
        floor = 0.05 * float(spectrum.max())
        inner = spectrum[1:-1]
        bins = np.flatnonzero((inner > spectrum[:-2]) & (inner >= spectrum[2:]) & (inner > floor)
                              & self._chroma_bins[1:-1]) + 1
        chroma, bass = np.zeros(12), np.zeros(12)
        if len(bins):
            a, b, c = (np.log(spectrum[bins + d] + 1e-12) for d in (-1, 0, 1))
            curve = a - 2.0 * b + c
            shift = np.where(np.abs(curve) > 1e-12, 0.5 * (a - c) / np.where(
                curve == 0, 1.0, curve), 0.0)
            hz = (bins + np.clip(shift, -0.5, 0.5)) * self.sample_rate / self.chroma_size
            classes = np.round(69.0 + 12.0 * np.log2(hz / 440.0)).astype(int) % 12
            weight = np.sqrt(spectrum[bins])
            np.add.at(chroma, classes, weight)
            low = hz < _BASS_MAX_HZ
            np.add.at(bass, classes[low], weight[low])
        loudness = min(1.0, max(0.0, (rms_db - _SILENCE_DB) / -_SILENCE_DB))
        scale = 3.0 * self.hop_s * loudness
        total = float(chroma.sum())
        chroma = chroma * (scale / total) if total > 0 else chroma
        bass_total = float(bass.sum())
        bass = bass * (scale / bass_total) if bass_total > 0 else bass
        return chroma, bass

    def _yin(self, frame: np.ndarray) -> tuple[float | None, float]:
        """YIN on ``frame``: (fractional MIDI pitch or None, confidence 0-1)."""
        size = len(frame) // 2
        lags = self._max_lag
        x = frame - frame.mean()
        energy = np.concatenate([[0.0], np.cumsum(x * x)])
        # d(tau) = sum_{j<size} (x_j - x_{j+tau})^2 over a fixed window of ``size`` samples.
        taus = np.arange(lags + 1)
        first = energy[size]
        shifted = energy[taus + size] - energy[taus]
        cross = self._cross(x, size, lags)
        diff = first + shifted - 2.0 * cross
        diff[0] = 0.0
        running = np.cumsum(diff[1:])
        normalised = np.ones(lags + 1)
        normalised[1:] = diff[1:] * taus[1:] / np.maximum(running, 1e-12)
        below = np.flatnonzero(normalised[self._min_lag:] < _YIN_THRESHOLD)
        if len(below) == 0:
            return None, 0.0
        tau = int(below[0]) + self._min_lag
        while tau + 1 <= lags and normalised[tau + 1] < normalised[tau]:
            tau += 1
        if tau >= lags:
            return None, 0.0
        a, b, c = normalised[tau - 1], normalised[tau], normalised[tau + 1]
        shift = 0.5 * (a - c) / (a - 2.0 * b + c) if abs(a - 2.0 * b + c) > 1e-12 else 0.0
        period = tau + max(-1.0, min(1.0, shift))
        hz = self.sample_rate / period
        return 69.0 + 12.0 * math.log2(hz / 440.0), float(max(0.0, 1.0 - b))

    @staticmethod
    def _cross(x: np.ndarray, size: int, lags: int) -> np.ndarray:
        """sum_{j<size} x_j x_{j+tau} for tau in 0..lags, by FFT."""
        head = np.zeros(2 * len(x))
        head[:size] = x[:size]
        full = np.zeros(2 * len(x))
        full[: len(x)] = x
        spectrum = np.conj(np.fft.rfft(head)) * np.fft.rfft(full)
        return np.asarray(np.fft.irfft(spectrum)[: lags + 1])
