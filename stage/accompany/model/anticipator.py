"""The chord predictor feeding the follower's anticipation, through the anticipator's own
two calls (``heard(beat_index, chord)``, ``predict(next_beat_index, current)``).

:func:`attach_chord_model` wraps a follower's anticipator: with a chord chart the chart's
reading wins (it knows the song); without one the model says the next beat's chord. The
engine never imports this module: the command layer attaches it when a song asks for a
model part. A follower that knows the melody's pitch classes over the beat may pass them
as ``heard(beat_index, chord, melody)``; without them the model (trained with melody
dropped 15 % of the time) reads the chords alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from stage.accompany.model.runtime import ChordRuntime, shared_chords
from stage.engine.harmony import Chord

log = logging.getLogger(__name__)


class Anticipator(Protocol):
    def heard(self, beat_index: int, chord: Chord | None) -> None: ...

    def predict(self, next_beat_index: int, current: Chord | None) -> Chord | None: ...


class ModelChordAnticipator:
    """Wraps ``inner`` (the follower's ChordAnticipator): every heard beat steps the chord
    predictor (one onnxruntime call); :meth:`predict` answers from the chart when ``inner``
    has one, else from the model. ``beats_per_bar`` places beats in the bar."""

    wants_melody = True

    def __init__(self, inner: Anticipator, runtime: ChordRuntime | None = None,
                 beats_per_bar: int = 4) -> None:
        self.inner = inner
        self.runtime = runtime or shared_chords()
        self.source = self.runtime.source
        self.beats_per_bar = beats_per_bar
        self._state = self.runtime.initial_state()
        self._last_beat: int | None = None
        self._predicted: tuple[int, Chord | None] | None = None

    @property
    def chart(self) -> Any:
        return getattr(self.inner, "chart", None)

    def heard(self, beat_index: int, chord: Chord | None,
              melody: Sequence[float] | np.ndarray | None = None) -> None:
        """The chord decided for performed beat ``beat_index``, and optionally the melody's
        12 pitch-class weights (0-1) over that beat."""
        self.inner.heard(beat_index, chord)
        if self._last_beat is not None and beat_index != self._last_beat + 1:
            self._state = self.runtime.initial_state()  # a gap: start the phrase afresh
        self._last_beat = beat_index
        try:
            hint = self.inner.predict(beat_index + 1, chord)  # the song's own memory
            predicted, self._state = self.runtime.step(
                self._state, chord, hint, melody, beat_index % self.beats_per_bar,
                self.beats_per_bar)
        except Exception:
            log.exception("chord model failed; the follower's own anticipation answers")
            self._predicted = None
            return
        self._predicted = (beat_index + 1, predicted)

    def predict(self, next_beat_index: int, current: Chord | None) -> Chord | None:
        if self.chart is not None or self._predicted is None:
            return self.inner.predict(next_beat_index, current)
        beat, chord = self._predicted
        if beat != next_beat_index:
            return self.inner.predict(next_beat_index, current)
        if chord is None or current is None:
            return chord
        if (chord.root, chord.quality) == (current.root, current.quality):
            return current  # held: keep the bass the performer plays under it
        # A change: root position, spelled as the chord heard now is (the MIDI follower
        # names the bass of a root-position chord; a plain chord leaves it out).
        return Chord(chord.root, chord.quality, None if current.bass is None else chord.root)


def attach_chord_model(follower: Any, runtime: ChordRuntime | None = None) -> bool:
    """Put the chord model in front of ``follower.anticipator`` (a MidiFollower's); False
    (logged) when the follower has none or the weights cannot load."""
    inner = getattr(follower, "anticipator", None)
    if inner is None:
        return False
    try:
        meter = getattr(follower, "meter", None)
        beats = meter.beats_per_bar if meter is not None else 4
        follower.anticipator = ModelChordAnticipator(inner, runtime, beats)
    except Exception:
        log.exception("chord model not attached; the follower anticipates on its own")
        return False
    return True
