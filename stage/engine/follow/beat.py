"""A decided beat: what every beat tracker (the MIDI beat pointer, the audio model's decoder)
hands the follower. Times are seconds on the performer's clock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Beat:
    """A decided beat: ``time`` and ``decided_at`` in seconds, ``index`` counted from the
    performer's first onset (beat 0, a downbeat), ``played`` when an onset marked it."""

    time: float
    decided_at: float
    index: int
    played: bool

    def is_downbeat(self, beats_per_bar: int) -> bool:
        return self.index % beats_per_bar == 0
