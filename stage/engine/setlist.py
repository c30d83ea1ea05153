"""Setlists: a show of songs in TOML, checked against a schema, loaded into frozen dataclasses.

See the README's "Setlist format" for the file format. :func:`load_setlist` reads a show file
(``[show]`` and ``[[song]]`` entries, inline or ``file = "songs/x.toml"``) or a single song
file, and either returns a :class:`Show` or raises :class:`SetlistError` carrying every
problem found, each with the file, line and column it is about.

Numbers as written in a setlist are the musician's: MIDI channels 1-16, GM programs 1-128.
The dataclasses hold them as the wire has them: channels 0-15, programs 0-127.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stage.engine.chart import ChartSection, ChordChart
from stage.engine.harmony import Key
from stage.engine.state import Meter

ARRANGER_SECTIONS = ("intro", "main_a", "main_b", "main_c", "main_d", "fill", "break", "ending")
"""The arranger's sections (the band's form; stage/accompany/arranger.py plays them)."""
PART_NAMES = ("drums", "bass", "keys", "pad", "arp", "harmony")
CONTROL_NAMES = ("energy", "density", "complexity", "mood", "swing")
POLL_KINDS = ("choice", "scale", "tap", "reactions")

_SECTION_ALIASES = {"a": "main_a", "b": "main_b", "c": "main_c", "d": "main_d",
                    "outro": "ending"}


def arranger_section(text: str) -> str:
    """'main-a', 'Main A', 'A', 'outro' -> 'main_a', 'main_a', 'main_a', 'ending'.

    Raises ValueError for a name that is not one of :data:`ARRANGER_SECTIONS`.
    """
    name = text.strip().lower().replace(" ", "_").replace("-", "_")
    name = _SECTION_ALIASES.get(name, name)
    if name not in ARRANGER_SECTIONS:
        raise ValueError(f"unknown arranger section {text!r} (sections: intro, main-a, "
                         "main-b, main-c, main-d, fill, break, ending)")
    return name


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a setlist: where (1-based line and column) and what."""

    file: Path
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class SetlistError(ValueError):
    """Every problem found in a setlist (and the files it includes), in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class SongSection:
    """A section of the song as the performer names it (``verse``), the arranger section
    the band plays in it (``main_a``), its length in bars (None: as long as the arranger
    or the performer holds it) and its chords (None: no chart for it)."""

    name: str
    arranger: str
    bars: int | None = None
    chords: ChartSection | None = None


@dataclass(frozen=True, slots=True)
class PartSettings:
    """One part's settings for this song; None keeps the style's own.

    ``channel`` 0-15 and ``program`` 0-127 (written 1-16 and 1-128 in the file).
    ``engine`` is ``"pattern"`` (the style's patterns) or ``"model"`` (the neural part).
    """

    part: str
    program: int | None = None
    channel: int | None = None
    volume: int | None = None
    mute: bool = False
    engine: str = "pattern"

    def style_overrides(self) -> dict[str, Any]:
        """Fields for ``Style.with_mix({part: ...})``."""
        fields: dict[str, Any] = {"enabled": not self.mute}
        for name in ("program", "channel", "volume"):
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        return fields


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """The song's controller map; None fields keep the band's defaults.

    ``pads``: note -> arranger section; ``ccs``: controller number -> control;
    channels 0-15 or -1 for any; ``double_tap``: the section a double tap of the sustain
    pedal calls ("" turns it off); ``double_tap_ms`` the longest gap between the taps.
    """

    pads: tuple[tuple[int, str], ...] | None = None
    ccs: tuple[tuple[int, str], ...] | None = None
    pad_channel: int | None = None
    cc_channel: int | None = None
    double_tap: str | None = None
    double_tap_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The table ``ControllerMap.from_dict`` reads (only what the song sets)."""
        data: dict[str, Any] = {}
        if self.pads is not None:
            data["pads"] = dict(self.pads)
        if self.ccs is not None:
            data["ccs"] = dict(self.ccs)
        for name in ("pad_channel", "cc_channel", "double_tap_ms"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.double_tap is not None:
            data["sustain_double_tap"] = self.double_tap
        return data


@dataclass(frozen=True, slots=True)
class Poll:
    """A poll the show opens for the crowd, and what its result does to the band.

    Opens when the song section ``open_section`` first starts, or at bar ``open_bar``
    (0-based bars of the song); stays open ``open_bars`` bars and/or until the next
    section change (``close_on_section``). A choice poll's ``effects`` say, per option,
    which controls (0-1) and/or arranger section it asks for; a scale, tap or reactions
    poll maps its 0-1 value linearly into ``value_range`` of ``control``. ``apply`` is
    when the result lands ("bar" or "section"); ``smoothing`` the largest step per bar.
    """

    id: str
    kind: str
    question: str = ""
    options: tuple[str, ...] = ()
    effects: tuple[Mapping[str, float | str], ...] = ()
    control: str | None = None
    value_range: tuple[float, float] = (0.0, 1.0)
    open_section: str | None = None
    open_bar: int | None = None
    open_bars: int | None = None
    close_on_section: bool = False
    apply: str = "bar"
    smoothing: float | None = None

    def mapping(self) -> dict[str, Any]:
        """The table ``PollMapping.from_dict`` (audience steering) reads."""
        data: dict[str, Any] = {"id": self.id, "kind": self.kind, "apply": self.apply,
                                "range": list(self.value_range),
                                "effects": [dict(e) for e in self.effects]}
        if self.control is not None:
            data["control"] = self.control
        if self.smoothing is not None:
            data["max_step"] = self.smoothing  # largest change per bar this poll may cause
        return data

    def spec(self, opened_at_bar: int) -> dict[str, Any]:
        """The poll as the audience service opens it (``parse_poll_spec``), opened at
        ``opened_at_bar`` (0-based bar number of the show)."""
        close_bar = None if self.open_bars is None else opened_at_bar + self.open_bars
        return {"id": self.id, "kind": self.kind, "question": self.question,
                "options": list(self.options), "close_bar": close_bar,
                "close_on_section": self.close_on_section}


@dataclass(frozen=True, slots=True)
class Song:
    """One song: priors for the follower (``tempo`` bpm, ``meter``, ``key``, ``chart``),
    the band's ``style`` and ``form`` (song section names in playing order; see
    :attr:`sections`), part ``mix``, starting ``controls``, ``crowd_bounds`` (control ->
    (lo, hi) the crowd may not steer it out of), the ``controller`` map, the crowd's
    ``polls`` and the VJ rig's ``osc_scenes`` (song section -> scene name)."""

    title: str
    tempo: float
    meter: Meter
    key: Key | None
    style: str
    form: tuple[str, ...]
    sections: Mapping[str, SongSection]
    chart: ChordChart | None = None
    mix: Mapping[str, PartSettings] = field(default_factory=dict)
    controls: Mapping[str, float] = field(default_factory=dict)
    crowd_bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    controller: ControllerSettings | None = None
    polls: tuple[Poll, ...] = ()
    osc_scenes: Mapping[str, str] = field(default_factory=dict)
    source: Path | None = None

    def arrangement(self) -> tuple[SongSection, ...]:
        """The form as the band plays it: one SongSection per form entry, in order."""
        return tuple(self.sections[name] for name in self.form)

    def mix_overrides(self) -> dict[str, dict[str, Any]]:
        """``Style.with_mix`` argument for every part this song sets."""
        return {part: settings.style_overrides() for part, settings in self.mix.items()}


@dataclass(frozen=True, slots=True)
class Show:
    """A show: its songs in order, and the performer file the demo plays (a MIDI file whose
    ``performer_tracks`` stand in for the performer; all tracks when empty)."""

    title: str
    songs: tuple[Song, ...]
    performer: Path | None = None
    performer_tracks: tuple[str, ...] = ()
    audience: bool = True
    osc_preset: str | None = None
    """The VJ rig's OSC preset (``[show.osc] preset``); ``--osc-preset`` overrides it."""
    osc_map: Mapping[str, Any] = field(default_factory=dict)
    """Cue address -> OSC address template or {address, args} (``[show.osc.map]``)."""
    source: Path | None = None


def load_setlist(path: str | Path) -> Show:
    """Load a show file or a single song file. Raises SetlistError with every problem."""
    from stage.engine.setlist_check import check_file  # the checker builds these types

    show, problems = check_file(Path(path))
    if problems or show is None:
        raise SetlistError(problems)
    return show
