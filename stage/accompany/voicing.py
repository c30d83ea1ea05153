"""Chord colour and voicing: mood inflection, extensions, and smooth voice leading.

Pitch classes are 0-11; pitches are MIDI note numbers. All functions here are cheap (tens of
microseconds) so every part can call them per step.
"""

from __future__ import annotations

from collections.abc import Sequence

from stage.engine.harmony import CHORD_INTERVALS, Chord, Key

EXTENSION_FROM = 0.6
"""Complexity at which extensions (9ths, 6ths, 7ths beyond the chart) colour the chords."""


def colour(chord: Chord, key: Key, mood: float) -> Chord:
    """The chord the band plays for ``chord`` at ``mood`` (0 dark .. 1 bright).

    At the dark end a major subdominant in a major key turns minor (the borrowed iv); at the
    bright end a minor subdominant in a minor key turns major (the Dorian IV). Between, the
    chart's chord is played as written.
    """
    degree = (chord.root - key.tonic) % 12
    if mood < 0.25 and key.mode == "maj" and degree == 5 and chord.quality == "maj":
        return Chord(chord.root, "min", chord.bass)
    if mood > 0.75 and key.mode == "min" and degree == 5 and chord.quality == "min":
        return Chord(chord.root, "maj", chord.bass)
    return chord


_EXTENSIONS: dict[str, tuple[tuple[int, float], ...]] = {
    # (interval above the root, the mood it suits: 1 bright .. 0 dark)
    "maj": ((2, 0.7), (11, 0.9), (9, 0.4)),
    "min": ((10, 0.3), (2, 0.6), (5, 0.2)),
    "7": ((2, 0.6), (9, 0.8), (1, 0.1)),
    "maj7": ((2, 0.7), (6, 0.95)),
    "min7": ((2, 0.6), (5, 0.3)),
    "sus2": ((10, 0.4),),
    "sus4": ((10, 0.4),),
}


def extensions(chord: Chord, key: Key, mood: float, complexity: float) -> tuple[int, ...]:
    """Pitch classes to add to ``chord`` at this ``mood`` and ``complexity`` (0-1).

    None below ``EXTENSION_FROM``; then one, and two from 0.85; only tones in the key, so
    the colour never fights the performer's melody; brighter moods pick brighter tones.
    """
    if complexity < EXTENSION_FROM:
        return ()
    count = 2 if complexity >= 0.85 else 1
    scale = set(key.scale)
    own = set(chord.pitch_classes)
    options = sorted(_EXTENSIONS.get(chord.quality, ()), key=lambda e: abs(e[1] - mood))
    picked: list[int] = []
    for interval, _ in options:
        pc = (chord.root + interval) % 12
        if pc in scale and pc not in own:
            picked.append(pc)
        if len(picked) == count:
            break
    return tuple(picked)


def tones_by_importance(chord: Chord, added: Sequence[int] = (), rootless: bool = False
                        ) -> list[int]:
    """The chord's pitch classes, most defining first: 3rd, 7th, added colour, root, 5th."""
    intervals = CHORD_INTERVALS[chord.quality]
    pcs = [(chord.root + i) % 12 for i in intervals]
    third, fifth = pcs[1], pcs[2]
    order = [third]
    if len(pcs) > 3:
        order.append(pcs[3])
    order.extend(pc for pc in added if pc not in order)
    if not rootless:
        order.append(pcs[0])
    order.append(fifth)
    if rootless and len(order) < 3:
        order.append(pcs[0])
    seen: list[int] = []
    for pc in order:
        if pc not in seen:
            seen.append(pc)
    return seen


def pitch_near(pc: int, target: int, low: int, high: int) -> int:
    """The pitch of class ``pc`` nearest ``target`` within ``low``..``high`` (MIDI)."""
    best = low + (pc - low) % 12
    candidate = best
    while candidate <= high:
        if abs(candidate - target) < abs(best - target):
            best = candidate
        candidate += 12
    return best


class VoiceLeader:
    """Chooses each voicing close to the last one: the smallest total movement, pulled
    gently toward the register's centre so the voicing never drifts to an edge."""

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.high = high
        self.previous: tuple[int, ...] = ()

    def voice(self, tones: Sequence[int], count: int, centre: int) -> tuple[int, ...]:
        """``count`` pitches from the pitch classes ``tones`` (most important first), in
        close position, every one within the register; moves from the previous voicing.
        More voices than tones continue the close stack upward (the bottom tone doubled)."""
        unique = list(dict.fromkeys(tones))[:count]
        best: tuple[int, ...] = ()
        best_cost = float("inf")
        close = sorted(unique)
        for rotation in range(len(close)):
            order = [close[(rotation + i) % len(close)] for i in range(count)]
            for octave in range(-1, 10):
                bottom = order[0] + 12 * octave
                if bottom < self.low:
                    continue
                voicing = _stack(order, bottom)
                if voicing[-1] > self.high:
                    break
                cost = self._cost(voicing, centre)
                if cost < best_cost:
                    best, best_cost = voicing, cost
        if not best:  # a register too narrow for the stack: fold into it
            best = tuple(sorted(pitch_near(pc, centre, self.low, self.high)
                                for pc in unique))
        self.previous = best
        return best

    def _cost(self, voicing: tuple[int, ...], centre: int) -> float:
        mean = sum(voicing) / len(voicing)
        pull = 0.35 * abs(mean - centre)
        if not self.previous:
            return pull
        if len(self.previous) == len(voicing):
            move = sum(abs(a - b) for a, b in zip(voicing, self.previous, strict=True))
        else:
            move = sum(min(abs(p - q) for q in self.previous) for p in voicing)
        return move + pull


def _stack(order: Sequence[int], bottom: int) -> tuple[int, ...]:
    pitches = [bottom]
    for pc in order[1:]:
        step = (pc - pitches[-1]) % 12 or 12
        pitches.append(pitches[-1] + step)
    return tuple(pitches)
