"""Pitch classes, chords and keys, with labels in mir_eval (Harte) syntax."""

from __future__ import annotations

from dataclasses import dataclass

PITCH_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

CHORD_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "dim": (0, 3, 6),
    "dim7": (0, 3, 6, 9),
    "hdim7": (0, 3, 6, 10),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "maj6": (0, 4, 7, 9),
    "min6": (0, 3, 7, 9),
    "minmaj7": (0, 3, 7, 11),
}
"""Chord qualities and their intervals in semitones above the root."""

_DEGREE_SEMITONES = {"1": 0, "b2": 1, "2": 2, "b3": 3, "3": 4, "4": 5, "#4": 6, "b5": 6,
                     "5": 7, "#5": 8, "b6": 8, "6": 9, "bb7": 9, "b7": 10, "7": 11, "9": 2,
                     "b9": 1, "#9": 3, "11": 5, "#11": 6, "13": 9, "b13": 8}
_SEMITONE_DEGREES = {0: "1", 1: "b2", 2: "2", 3: "b3", 4: "3", 5: "4", 6: "b5", 7: "5",
                     8: "b6", 9: "6", 10: "b7", 11: "7"}

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor


def parse_pitch_class(name: str) -> int:
    """'C', 'F#', 'Bb', 'Cb' -> 0..11. Raises ValueError on anything else."""
    if not name or name[0].upper() not in _NATURALS:
        raise ValueError(f"not a pitch name: {name!r}")
    pc = _NATURALS[name[0].upper()]
    for accidental in name[1:]:
        if accidental == "#":
            pc += 1
        elif accidental == "b":
            pc -= 1
        else:
            raise ValueError(f"not a pitch name: {name!r}")
    return pc % 12


@dataclass(frozen=True, slots=True)
class Chord:
    """``root`` pitch class 0-11, ``quality`` a key of CHORD_INTERVALS, ``bass`` pitch class."""

    root: int
    quality: str = "maj"
    bass: int | None = None

    def __post_init__(self) -> None:
        if self.quality not in CHORD_INTERVALS:
            raise ValueError(f"unknown chord quality {self.quality!r}")

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in CHORD_INTERVALS[self.quality])

    @property
    def bass_pc(self) -> int:
        return self.root if self.bass is None else self.bass

    @property
    def label(self) -> str:
        """mir_eval syntax: 'C:maj7', 'A:min/b3', 'N' is never a Chord (use None)."""
        text = f"{PITCH_NAMES[self.root]}:{self.quality}"
        if self.bass is not None and self.bass != self.root:
            text += "/" + _SEMITONE_DEGREES[(self.bass - self.root) % 12]
        return text

    @classmethod
    def parse(cls, label: str) -> Chord | None:
        """Parse 'C:maj7', 'Db:min/b3', 'G', 'N' (None). Raises ValueError when malformed."""
        label = label.strip()
        if label in ("N", "X", ""):
            return None
        main, _, bass_text = label.partition("/")
        root_text, _, quality = main.partition(":")
        root = parse_pitch_class(root_text)
        quality = quality or "maj"
        if "(" in quality:  # 'maj(9)' -> 'maj': extensions beyond the table are dropped
            quality = quality.split("(")[0] or "maj"
        bass = None
        if bass_text:
            if bass_text not in _DEGREE_SEMITONES:
                raise ValueError(f"bad bass degree in chord {label!r}")
            bass = (root + _DEGREE_SEMITONES[bass_text]) % 12
        return cls(root, quality, bass)

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True, slots=True)
class Key:
    """``tonic`` pitch class 0-11 and ``mode`` 'maj' or 'min'."""

    tonic: int
    mode: str = "maj"

    def __post_init__(self) -> None:
        if self.mode not in ("maj", "min"):
            raise ValueError(f"unknown mode {self.mode!r}")

    @property
    def scale(self) -> tuple[int, ...]:
        steps = MAJOR_SCALE if self.mode == "maj" else MINOR_SCALE
        return tuple((self.tonic + s) % 12 for s in steps)

    @property
    def label(self) -> str:
        return f"{PITCH_NAMES[self.tonic]}:{self.mode}"

    @classmethod
    def parse(cls, label: str) -> Key:
        """Parse 'Gb:maj', 'A:min', 'C' (major), 'Am' (minor)."""
        label = label.strip()
        if ":" in label:
            tonic, _, mode = label.partition(":")
        elif label.endswith("m") and len(label) > 1:
            tonic, mode = label[:-1], "min"
        else:
            tonic, mode = label, "maj"
        mode = {"major": "maj", "minor": "min"}.get(mode, mode)
        return cls(parse_pitch_class(tonic), mode)

    def __str__(self) -> str:
        return self.label
