"""The models' vocabularies: the step grid, the keys register, chord classes, style and
section tokens, and the control features. Shared by data preparation, training and the
onnxruntime path, so a feature means the same thing everywhere (numpy only, no torch)."""

from __future__ import annotations

import numpy as np

from stage.engine.harmony import CHORD_INTERVALS, Chord

STEPS_PER_BEAT = 4
"""The grid the models see: sixteenth notes in 4/4."""
BEATS_PER_BAR = 4
STEPS_PER_BAR = STEPS_PER_BEAT * BEATS_PER_BAR
CONTEXT_BARS = 2
CONTEXT_STEPS = CONTEXT_BARS * STEPS_PER_BAR
GAP_STEPS = 2 * STEPS_PER_BEAT
"""The performer's notes of the last two beats before the generated bar are never seen: the
bar is asked for about a beat and a half ahead, so training hides them too (causal)."""

LOW_PITCH = 33
PITCHES = 64
"""The keys register: A1 .. C7 (MIDI 33-96). Notes outside are folded in by octaves."""

QUALITIES = tuple(CHORD_INTERVALS)
CHORD_CLASSES = 1 + 12 * len(QUALITIES)
"""Class 0 is N (no chord); then root * len(QUALITIES) + quality index."""

STYLE_TOKENS = ("block", "broken", "mixed")
"""Texture of the comping, measured per bar in POP909 (notes per onset): block chords,
broken chords / arpeggios, or a mix. The band's styles choose one (``STYLE_TEXTURE``)."""
STYLE_TEXTURE = {"pop-rock": "block", "house": "block", "funk": "mixed", "bossa": "mixed",
                 "jazz-swing": "mixed", "ballad": "mixed", "waltz": "broken"}
SECTION_TOKENS = ("intro", "main", "ending")
"""POP909 has no form labels: bars before the melody's first note are intro, after its
last note ending, the rest main. The arranger's sections map onto these."""
ARRANGER_SECTION = {"intro": "intro", "ending": "ending"}

CONTEXT_FEATURES = 12 + 12 + 1 + 1 + PITCHES + 1
"""Per context step: melody onset pitch classes, sounding pitch classes, top pitch, onset
velocity, the keys' own onsets (register), and whether the step is inside the song."""
TARGET_FEATURES = 12 + 12 + 12
"""Per generated step: the chord's pitch classes, its root and its bass."""
GLOBAL_FEATURES = 2 + len(STYLE_TOKENS) + len(SECTION_TOKENS) + 12 + 1
"""Energy, density, style token, section token, key tonic and mode."""

CHORD_STEP_FEATURES = 12 + BEATS_PER_BAR
"""Per beat for the chord predictor (beside the chord class): the melody's pitch-class
weights over the beat, and the beat's place in the bar."""


def chord_class(chord: Chord | None) -> int:
    """The class of ``chord`` (0 for None); the bass note is not part of the class."""
    if chord is None:
        return 0
    return 1 + chord.root * len(QUALITIES) + QUALITIES.index(chord.quality)


def class_chord(index: int) -> Chord | None:
    """The chord of class ``index`` (None for 0)."""
    if index <= 0:
        return None
    root, quality = divmod(index - 1, len(QUALITIES))
    return Chord(root, QUALITIES[quality])


def transpose_class(index: np.ndarray, shift: int) -> np.ndarray:
    """Chord classes moved by ``shift`` semitones (N stays N)."""
    out = index.copy()
    some = index > 0
    root, quality = np.divmod(index[some] - 1, len(QUALITIES))
    out[some] = 1 + ((root + shift) % 12) * len(QUALITIES) + quality
    return out


def chord_features(chord: Chord | None) -> np.ndarray:
    """Pitch classes, root and bass of ``chord`` as 36 numbers (all zero for N.C.)."""
    out = np.zeros(TARGET_FEATURES, dtype=np.float32)
    if chord is not None:
        out[list(chord.pitch_classes)] = 1.0
        out[12 + chord.root] = 1.0
        out[24 + chord.bass_pc] = 1.0
    return out


def global_features(energy: float, density: float, style: str, section: str,
                    key_tonic: int, key_minor: bool) -> np.ndarray:
    """The bar's conditioning: controls (0-1), style and section tokens, key."""
    out = np.zeros(GLOBAL_FEATURES, dtype=np.float32)
    out[0], out[1] = energy, density
    out[2 + STYLE_TOKENS.index(style)] = 1.0
    out[2 + len(STYLE_TOKENS) + SECTION_TOKENS.index(section)] = 1.0
    out[2 + len(STYLE_TOKENS) + len(SECTION_TOKENS) + key_tonic % 12] = 1.0
    out[-1] = 1.0 if key_minor else 0.0
    return out


def fold_pitch(pitch: int) -> int:
    """``pitch`` moved by octaves into the keys register."""
    while pitch < LOW_PITCH:
        pitch += 12
    while pitch >= LOW_PITCH + PITCHES:
        pitch -= 12
    return pitch


def texture(notes: int, onsets: int) -> str:
    """The style token of a bar with ``notes`` notes on ``onsets`` distinct steps."""
    if onsets == 0:
        return "mixed"
    ratio = notes / onsets
    if ratio >= 2.5:
        return "block"
    if ratio < 1.5:
        return "broken"
    return "mixed"
