"""Following a recording offline: what ``stage analyze PERFORMANCE.wav`` and the benchmark run.

The recording is pushed through the causal front-end in blocks as a live input would deliver
them; after each block the follower hears what was analysed, at the time the block ended. The
decisions come out in the same JSON object as for MIDI (see :func:`offline.analysis`).
"""

from __future__ import annotations

import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stage.engine.chart import ChordChart
from stage.engine.follow.audio_beat_model import BeatListener, BeatModel, load_beat_model
from stage.engine.follow.audio_features import FrontEnd
from stage.engine.follow.audio_follow import AUDIO_BEAT_WINDOW_S, AudioFollower
from stage.engine.follow.offline import analysis
from stage.engine.harmony import Key
from stage.engine.state import Meter
from stage.engine.time import NS_PER_S, PPQ, TempoMap

BLOCK = 256
"""Samples per block handed to the front-end (a live input's block size)."""
_TAIL_S = 2.0


class AudioFileError(ValueError):
    """A file that is not a readable PCM WAV."""


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float samples (-1..1) and the sample rate of a 16/24/32-bit PCM WAV."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            raw = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise AudioFileError(f"{path}: {exc}") from None
    if width == 2:
        data = np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0
    elif width == 4:
        data = np.frombuffer(raw, "<i4").astype(np.float64) / 2147483648.0
    elif width == 3:
        bytes3 = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = bytes3[:, 0] | (bytes3[:, 1] << 8) | (bytes3[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        data = ints.astype(np.float64) / 8388608.0
    else:
        raise AudioFileError(f"{path}: {8 * width}-bit samples are not supported")
    return data.reshape(-1, channels).mean(axis=1), rate


@dataclass(frozen=True, slots=True)
class AudioAnalysis:
    """The analysis dict, and the CPU seconds the analysis took for ``audio_s`` of audio."""

    result: dict[str, Any]
    cpu_s: float
    audio_s: float


def follow_samples(samples: np.ndarray, sample_rate: int, meter: Meter, tempo_prior_bpm: float,
                   chart: ChordChart | None = None, key_prior: Key | None = None,
                   beat_window_s: float = AUDIO_BEAT_WINDOW_S,
                   beat_model: BeatModel | bool | None = True,
                   model_decoder: bool = False) -> AudioAnalysis:
    """Follow ``samples`` (mono) block by block; ``tempo_prior_bpm`` in beats of ``meter``.
    ``beat_model``: True for the shipped beat model (onsets alone when it is missing), False
    for onsets alone, or a loaded model. ``model_decoder``: beats from the model's own
    decoder rather than the beat pointer (see :class:`AudioFollower`)."""
    front = FrontEnd(sample_rate)
    model = load_beat_model() if beat_model is True else beat_model or None
    listener = BeatListener(sample_rate, model) if model is not None else None
    follower = AudioFollower(meter, tempo_prior_bpm, chart, key_prior, log_decisions=True,
                             beat_window_s=beat_window_s, hop_s=front.hop_s,
                             neural_beats=model_decoder and listener is not None)
    tempo = TempoMap(tempo_prior_bpm * meter.ticks_per_beat / PPQ)
    started = time.process_time()
    for start in range(0, len(samples), BLOCK):
        block = samples[start:start + BLOCK]
        frames, onsets = front.push(block)
        activations = listener.push(block) if listener is not None else None
        if frames or onsets or activations is not None:
            follower.hear_audio(frames, onsets, int(front.now * NS_PER_S), tempo, activations)
    audio_s = len(samples) / sample_rate
    follower.state(int((audio_s + _TAIL_S) * NS_PER_S), tempo)
    cpu_s = time.process_time() - started
    return AudioAnalysis(analysis(follower, tempo, audio_s + _TAIL_S), cpu_s, audio_s)


def analyze_wav(path: str | Path, meter: Meter, tempo_prior_bpm: float,
                key_prior: Key | None = None) -> dict[str, Any]:
    """The ``stage analyze`` JSON object for a WAV file."""
    samples, rate = read_wav(path)
    done = follow_samples(samples, rate, meter, tempo_prior_bpm, key_prior=key_prior)
    result = dict(done.result)
    result["audio"] = {"seconds": round(done.audio_s, 3), "sample_rate": rate,
                       "cpu_share": round(done.cpu_s / done.audio_s, 4) if done.audio_s else 0.0}
    return result
