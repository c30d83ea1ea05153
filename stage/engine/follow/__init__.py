"""The ears: tempo, beat, bar, chord, key and anticipation from the performer's MIDI.

:class:`MidiFollower` implements the engine's Follower protocol; the trackers it composes
(``beat``, ``bars``, ``chord``, ``key``, ``anticipate``, ``grid``) are pure and usable alone.
"""

from stage.engine.follow.midi import MidiFollower, TapConfig

__all__ = ["MidiFollower", "TapConfig"]
