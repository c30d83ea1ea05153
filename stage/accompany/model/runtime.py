"""The models on the stage: onnxruntime sessions (one thread each), the live feature layout
and the decoding of a bar. No torch here: this is the only model code the show imports.

:class:`AccompanistRuntime` turns a :class:`BarRequest` (the performer's recent notes, the
part's own recent notes, the bar's chords, controls, style, section, key) into the notes of
one bar. :class:`ChordRuntime` steps the chord predictor one beat at a time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from stage.accompany.model.vocab import (
    ARRANGER_SECTION,
    CHORD_STEP_FEATURES,
    CONTEXT_FEATURES,
    CONTEXT_STEPS,
    GAP_STEPS,
    LOW_PITCH,
    STEPS_PER_BAR,
    STEPS_PER_BEAT,
    chord_class,
    chord_features,
    class_chord,
    fold_pitch,
    global_features,
)
from stage.engine.harmony import Chord, Key
from stage.engine.time import PPQ

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).parent / "weights"
"""The shipped weights; ``STAGE_MODEL_WEIGHTS`` names another folder of the same files."""
STEP_TICKS = PPQ // STEPS_PER_BEAT
"""Ticks per sixteenth: the models' grid on the engine's clock (4/4, quarter beats)."""
HELD_THRESHOLD = 0.5
ANY_ONSET = 0.5
"""A step plays when an onset there is more likely than not, however its pitch is spread."""
MAX_VOICES_PER_STEP = 6


class WeightsError(RuntimeError):
    """The shipped weights are missing or do not match their card."""


def load_card(name: str, weights: Path | None = None) -> tuple[dict[str, Any], Path]:
    """The JSON card of ``name`` and the verified path of its ONNX file."""
    folder = weights_folder(weights)
    card_path = folder / f"{name}.json"
    if not card_path.exists():
        raise WeightsError(f"no {name} weights in {folder} (run: stage train {name} --ship)")
    card: dict[str, Any] = json.loads(card_path.read_text())
    onnx_path = folder / card["onnx"]
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    if digest != card["onnx_sha256"]:
        raise WeightsError(f"{onnx_path} does not match its card (sha256 {digest[:12]})")
    return card, onnx_path


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True, slots=True)
class HeardNote:
    """A performer note: onset and end ticks (end None while held), pitch, velocity."""

    tick: int
    end: int | None
    pitch: int
    velocity: int


@dataclass(frozen=True, slots=True)
class BarRequest:
    """Everything the accompanist needs for the bar starting ``bar_tick`` (ticks), copied on
    the engine thread so the worker reads nothing that changes under it."""

    bar_tick: int
    melody: tuple[HeardNote, ...]
    own: tuple[tuple[int, int], ...]          # (tick, pitch) of the part's recent notes
    chords: tuple[Chord | None, ...]          # one per sixteenth of the bar
    energy: float
    density: float
    style: str
    section: str
    key: Key


@dataclass(frozen=True, slots=True)
class BarNote:
    """A generated note: ``step`` (sixteenth of the bar), length in steps, pitch, velocity."""

    step: int
    length: int
    pitch: int
    velocity: int


def request_features(request: BarRequest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(context [1,32,Fc], target [1,16,Ft], conditioning [1,Fg]) as in training."""
    context = np.zeros((1, CONTEXT_STEPS, CONTEXT_FEATURES), dtype=np.float32)
    origin = request.bar_tick - CONTEXT_STEPS * STEP_TICKS
    hidden_from = CONTEXT_STEPS - GAP_STEPS
    for note in request.melody:
        first = _step(note.tick - origin)
        if first >= hidden_from:
            continue
        last = hidden_from if note.end is None else min(hidden_from, max(first + 1, _step(
            note.end - origin)))
        pc = note.pitch % 12
        if first >= 0:
            context[0, first, pc] = 1.0
            context[0, first, 25] = max(context[0, first, 25], note.velocity / 127.0)
        rows = context[0, max(0, first):max(0, last)]
        rows[:, 12 + pc] = 1.0
        np.maximum(rows[:, 24], note.pitch / 127.0, out=rows[:, 24])
    for tick, pitch in request.own:
        step = _step(tick - origin)
        if 0 <= step < CONTEXT_STEPS:
            context[0, step, 26 + fold_pitch(pitch) - LOW_PITCH] = 1.0
    first_valid = max(0, -_step(origin)) if origin < 0 else 0
    context[0, first_valid:, -1] = 1.0
    target = np.stack([chord_features(c) for c in request.chords])[None]
    section = ARRANGER_SECTION.get(request.section, "main")
    conditioning = global_features(request.energy, request.density, request.style, section,
                                   request.key.tonic, request.key.mode == "min")[None]
    return context, target.astype(np.float32), conditioning


def _step(ticks: int) -> int:
    return int(np.floor(ticks / STEP_TICKS + 0.5))


def decode_bar(onset: np.ndarray, held: np.ndarray, velocity: np.ndarray, threshold: float
               ) -> list[BarNote]:
    """Notes from the model's [16,P] onset and sounding probabilities and [16] velocities:
    a pitch starts where its onset probability passes ``threshold`` (never a semitone from
    a stronger one at the same step, at most six at once) and sounds while it stays held.
    Where no pitch passes but an onset at the step is likely (its probability spread over
    several pitches, as in a broken chord), the likeliest pitches play: as many as expected."""
    notes = []
    for step in range(STEPS_PER_BAR):
        candidates = np.flatnonzero(onset[step] > threshold)
        if len(candidates) == 0 and 1.0 - np.prod(1.0 - onset[step]) > ANY_ONSET:
            expected = max(1, round(float(onset[step].sum())))
            candidates = np.argsort(-onset[step])[:expected]
        chosen: list[int] = []
        for index in candidates[np.argsort(-onset[step, candidates])]:
            if len(chosen) >= MAX_VOICES_PER_STEP:
                break
            if any(abs(int(index) - c) == 1 for c in chosen):
                continue
            chosen.append(int(index))
        vel = max(1, min(127, round(float(velocity[step]) * 127)))
        for index in sorted(chosen):
            length = 1
            while (step + length < STEPS_PER_BAR and held[step + length, index] > HELD_THRESHOLD
                   and onset[step + length, index] <= threshold):
                length += 1
            notes.append(BarNote(step, length, LOW_PITCH + index, vel))
    return notes


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float32)


class AccompanistRuntime:
    """The shipped accompanist on onnxruntime (one thread)."""

    def __init__(self, weights: Path | None = None, threads: int = 1) -> None:
        self.card, path = load_card("accompanist", weights)
        self.session = session(path, threads)
        self.threshold = float(self.card["threshold"])
        self.checkpoint = str(self.card["checkpoint_sha256"])[:12]
        self.source = f"model:accompanist@{self.checkpoint}"

    def probabilities(self, context: np.ndarray, target: np.ndarray, conditioning: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(onset, sounding) probabilities [B,16,P] and velocity [B,16]."""
        onset, held, velocity = self.session.run(
            None, {"context": context, "target": target, "conditioning": conditioning})
        return _sigmoid(onset), _sigmoid(held), np.asarray(velocity)

    def generate(self, request: BarRequest) -> list[BarNote]:
        onset, held, velocity = self.probabilities(*request_features(request))
        return decode_bar(onset[0], held[0], velocity[0], self.threshold)


class ChordRuntime:
    """The shipped chord predictor on onnxruntime, stepped one beat at a time."""

    def __init__(self, weights: Path | None = None, threads: int = 1) -> None:
        self.card, path = load_card("chords", weights)
        self.session = session(path, threads)
        self.hidden = int(self.card["config"]["hidden"])
        self.checkpoint = str(self.card["checkpoint_sha256"])[:12]
        self.source = f"model:chords@{self.checkpoint}"

    def initial_state(self) -> np.ndarray:
        return np.zeros((1, 1, self.hidden), dtype=np.float32)

    def step(self, state: np.ndarray, chord: Chord | None, hint: Chord | None,
             melody: Sequence[float] | np.ndarray | None,
             beat_in_bar: int, beats_per_bar: int = 4) -> tuple[Chord | None, np.ndarray]:
        """Hear one beat (its chord, the progression memory's guess for the next beat, the
        melody's 12 pitch-class weights over the beat, its place in the bar); returns (the
        next beat's chord, the new state)."""
        features = np.zeros((1, 1, CHORD_STEP_FEATURES), dtype=np.float32)
        if melody is not None:
            features[0, 0, :12] = np.clip(np.asarray(melody, dtype=np.float32), 0.0, 1.0)
        features[0, 0, 12 + min(3, beat_in_bar % max(1, beats_per_bar))] = 1.0
        chords = np.array([[chord_class(_plain(chord))]], dtype=np.int64)
        hints = np.array([[chord_class(_plain(hint))]], dtype=np.int64)
        logits, state = self.session.run(None, {"chords": chords, "hints": hints,
                                                "features": features, "state": state})
        return class_chord(int(np.argmax(logits[0, -1]))), state


def _plain(chord: Chord | None) -> Chord | None:
    return None if chord is None else Chord(chord.root, chord.quality)


def weights_folder(weights: Path | None = None) -> Path:
    """``weights``, else ``STAGE_MODEL_WEIGHTS``, else the shipped folder."""
    return weights or Path(os.environ.get("STAGE_MODEL_WEIGHTS", WEIGHTS_DIR))


def shared_accompanist(weights: Path | None = None) -> AccompanistRuntime:
    """One session per weights folder and process for every model part (an onnxruntime
    session may be run from several threads)."""
    return _accompanist(str(weights_folder(weights)))


def shared_chords(weights: Path | None = None) -> ChordRuntime:
    return _chords(str(weights_folder(weights)))


@lru_cache(maxsize=4)
def _accompanist(folder: str) -> AccompanistRuntime:
    return AccompanistRuntime(Path(folder))


@lru_cache(maxsize=4)
def _chords(folder: str) -> ChordRuntime:
    return ChordRuntime(Path(folder))
