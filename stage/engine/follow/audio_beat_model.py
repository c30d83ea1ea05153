"""The beat model on the stage: beat features -> beat and downbeat activations, causally.

:class:`BeatListener` takes mono samples in blocks of any size (a live input's, or a file's
pushed in blocks) and returns, per 10 ms frame completed, its time and how likely a beat
and a downbeat start in it. The net is the shipped ``beats.onnx`` (see
:mod:`audio_beat_train`), run by onnxruntime on one thread, stepping its GRU state from
block to block: a frame's activation depends only on samples up to the frame's time.

No torch here. :func:`load_beat_model` returns None (and the follower's beat pointer hears
onsets alone) when the weights are missing or do not match their card.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stage.engine.follow.audio_beat_features import FEATURES, BeatFeatures

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "accompany" / "model" / "weights"
"""The shipped weights (one folder for every model); ``STAGE_MODEL_WEIGHTS`` names another."""


@dataclass(frozen=True, slots=True)
class BeatActivations:
    """Per frame: ``times`` (seconds, the end of each frame), ``beat`` and ``downbeat``
    (0-1): how likely a beat (a downbeat) starts within the frame."""

    times: np.ndarray
    beat: np.ndarray
    downbeat: np.ndarray

    def __len__(self) -> int:
        return len(self.times)


def weights_folder(weights: Path | None = None) -> Path:
    return weights or Path(os.environ.get("STAGE_MODEL_WEIGHTS", WEIGHTS_DIR))


class BeatModel:
    """One onnxruntime session of ``beats.onnx`` (verified against its card) and its state."""

    def __init__(self, weights: Path | None = None) -> None:
        import onnxruntime as ort

        folder = weights_folder(weights)
        card_path = folder / "beats.json"
        card: dict[str, Any] = json.loads(card_path.read_text())
        path = folder / card["onnx"]
        if hashlib.sha256(path.read_bytes()).hexdigest() != card["onnx_sha256"]:
            raise ValueError(f"{path} does not match its card {card_path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
        self.card = card
        config = card["config"]
        self.state_shape = (int(config["layers"]), 1, int(config["hidden"]))
        self.state = np.zeros(self.state_shape, np.float32)

    def reset(self) -> None:
        self.state = np.zeros(self.state_shape, np.float32)

    def step(self, features: np.ndarray) -> np.ndarray:
        """Frames x FEATURES -> frames x 2 (beat, downbeat), carrying the GRU state on."""
        if len(features) == 0:
            return np.zeros((0, 2), np.float32)
        out, self.state = self.session.run(
            None, {"features": features[None].astype(np.float32), "state": self.state})
        return np.asarray(out[0])


def load_beat_model(weights: Path | None = None) -> BeatModel | None:
    """The shipped beat model, or None (logged) when it cannot be loaded."""
    try:
        return BeatModel(weights)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("no beat model (%s): the audio follower tracks beats from onsets", exc)
        return None
    except Exception as exc:  # onnxruntime's own errors on a damaged file
        log.warning("beat model failed to load (%s): tracking beats from onsets", exc)
        return None


class BeatListener:
    """Samples -> beat activations, causally: :class:`BeatFeatures` then :class:`BeatModel`."""

    def __init__(self, sample_rate: int, model: BeatModel) -> None:
        self.features = BeatFeatures(sample_rate)
        self.model = model
        model.reset()

    @property
    def hop_s(self) -> float:
        return self.features.hop_s

    def push(self, samples: np.ndarray) -> BeatActivations:
        """The activations of the frames ``samples`` complete (times since the first sample)."""
        features, times = self.features.push(samples)
        assert features.shape[1] == FEATURES
        out = self.model.step(features)
        return BeatActivations(times, out[:, 0].astype(np.float64),
                               out[:, 1].astype(np.float64))
