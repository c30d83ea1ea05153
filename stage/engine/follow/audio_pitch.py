"""Notes from a monophonic pitch track: a singer or a lead instrument as note-ons and note-offs.

:class:`PitchNotes` turns per-hop pitch estimates (:class:`AudioFrame`) into notes, so the
harmony voices can answer a voice as they answer a keyboard. A note starts when the same
semitone has held, confidently and loud enough, for ``settle`` hops (about 20 ms: no voice
crack or consonant starts a note); it ends when the pitch is lost for ``release`` hops or
another semitone has settled (legato: the old note ends where the new one starts). Every
note that started ends: :meth:`flush` closes the one sounding.
"""

from __future__ import annotations

from dataclasses import dataclass

from stage.engine.follow.audio_features import AudioFrame

_MIN_DB = -45.0
_MAX_DB = -6.0


@dataclass(frozen=True, slots=True)
class PitchEvent:
    """A note-on (``velocity`` > 0) or note-off (``velocity`` 0) at ``time`` seconds."""

    time: float
    pitch: int
    velocity: int


def velocity_for(rms_db: float) -> int:
    """MIDI velocity 20-127 for a level in dBFS (-45 dB and below: 20; -6 dB and up: 127)."""
    share = (rms_db - _MIN_DB) / (_MAX_DB - _MIN_DB)
    return max(20, min(127, round(20 + 107 * share)))


class PitchNotes:
    """``confidence``: the least YIN confidence (0-1) a hop needs to count."""

    def __init__(self, confidence: float = 0.8, settle: int = 2, release: int = 3) -> None:
        self.confidence = confidence
        self.settle = settle
        self.release = release
        self.sounding: int | None = None
        self._candidate: int | None = None
        self._candidate_hops = 0
        self._candidate_since = 0.0
        self._missing = 0

    def update(self, frame: AudioFrame) -> list[PitchEvent]:
        """The notes started and ended by this hop."""
        heard = self._heard(frame)
        events: list[PitchEvent] = []
        if heard is None:
            self._candidate, self._candidate_hops = None, 0
            self._missing += 1
            if self.sounding is not None and self._missing >= self.release:
                events.append(PitchEvent(frame.time, self.sounding, 0))
                self.sounding = None
            return events
        self._missing = 0
        if heard == self.sounding:
            self._candidate, self._candidate_hops = None, 0
            return events
        if heard != self._candidate:
            self._candidate, self._candidate_hops = heard, 0
            self._candidate_since = frame.time
        self._candidate_hops += 1
        if self._candidate_hops >= self.settle:
            if self.sounding is not None:
                events.append(PitchEvent(self._candidate_since, self.sounding, 0))
            events.append(PitchEvent(self._candidate_since, heard, velocity_for(frame.rms_db)))
            self.sounding, self._candidate, self._candidate_hops = heard, None, 0
        return events

    def flush(self, time: float) -> list[PitchEvent]:
        """End the note sounding, if any, at ``time`` seconds."""
        if self.sounding is None:
            return []
        event = PitchEvent(time, self.sounding, 0)
        self.sounding = None
        return [event]

    def _heard(self, frame: AudioFrame) -> int | None:
        if frame.pitch is None or frame.confidence < self.confidence or frame.rms_db < _MIN_DB:
            return None
        return max(0, min(127, round(frame.pitch)))
