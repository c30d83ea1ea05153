"""Arranger form: intro, main A-D, fill, break, ending — switched on bar lines.

Section commands come from the setlist, the performer's pads and pedals (through a
:class:`ControllerMap`) or the crowd. A change of main variation (or into the ending) is
announced by an automatic fill bar; every switch lands on a bar line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stage.accompany.controls import CONTROL_NAMES
from stage.accompany.style import MAIN_SECTIONS, SECTION_NAMES
from stage.engine.events import CC_SUSTAIN, MidiMessage

END = "end"
"""The section after the ending: the band is silent."""

_ALIASES = {"a": "main_a", "b": "main_b", "c": "main_c", "d": "main_d", "outro": "ending"}


def section_name(text: str) -> str:
    """Normalise 'A', 'main B', 'main-c', 'Fill' -> 'main_a', 'main_b', 'main_c', 'fill'."""
    name = text.strip().lower().replace(" ", "_").replace("-", "_")
    name = _ALIASES.get(name, name)
    if name not in SECTION_NAMES:
        raise ValueError(f"unknown section {text!r}; sections: {', '.join(SECTION_NAMES)}")
    return name


@dataclass(frozen=True, slots=True)
class FormBar:
    """What one bar plays: ``section`` (or ``"end"``), its 0-based ``bar_in_section``,
    ``first`` when the section starts on this bar, and the ``main`` variation in force."""

    section: str
    bar_in_section: int
    first: bool
    main: str


@dataclass(slots=True)
class _Request:
    section: str
    at_tick: int | None


class Arranger:
    """The form, one bar at a time. ``lengths`` gives each section's bars (0: held)."""

    def __init__(self, lengths: Mapping[str, int], start: str = "main_a",
                 auto_fill: bool = True) -> None:
        self.lengths = dict(lengths)
        self.auto_fill = auto_fill
        self._start = section_name(start)
        self._main = self._start if self._start in MAIN_SECTIONS else "main_a"
        self._current: str | None = None
        self._bar_in = 0
        self._queue: list[str] = []
        self._request: _Request | None = None

    @property
    def current(self) -> str | None:
        return self._current

    @property
    def finished(self) -> bool:
        return self._current == END

    def request(self, section: str, at_tick: int | None = None) -> None:
        """Ask for ``section`` from the next bar line, or from the bar at ``at_tick`` (ticks,
        a bar line); the fill into it then takes the bar before. The latest request wins."""
        self._request = _Request(section_name(section), at_tick)

    def next_bar(self, bar_start_tick: int, ticks_per_bar: int) -> FormBar:
        """Plan the bar starting at ``bar_start_tick``; call once per bar, in order."""
        if self._current is None:
            self._enter(self._start)
            return self._bar(first=True)
        if self._current == END:
            return self._bar(first=False)
        if self._take_request(bar_start_tick, ticks_per_bar):
            self._enter(self._queue.pop(0))
            return self._bar(first=True)
        length = self.lengths.get(self._current, 0)
        if length and self._bar_in + 1 >= length:
            self._enter(self._after_current())
            return self._bar(first=True)
        self._bar_in += 1
        return self._bar(first=False)

    def _bar(self, first: bool) -> FormBar:
        return FormBar(self._current or END, self._bar_in, first, self._main)

    def _enter(self, section: str) -> None:
        self._current = section
        self._bar_in = 0
        if section in MAIN_SECTIONS:
            self._main = section

    def _after_current(self) -> str:
        if self._queue:
            return self._queue.pop(0)
        return END if self._current == "ending" else self._main

    def _take_request(self, bar_start_tick: int, ticks_per_bar: int) -> bool:
        """Turn a due request into the queue of sections to play; True to switch now."""
        request = self._request
        if request is None:
            return False
        target = request.section
        fill = self.auto_fill and target in (*MAIN_SECTIONS, "ending") and \
            self._current in (*MAIN_SECTIONS, "break")
        if target == self._current and target in MAIN_SECTIONS:
            self._request = None  # already playing it
            return False
        if request.at_tick is not None:
            bars_left = (request.at_tick - bar_start_tick) // ticks_per_bar
            if bars_left > (1 if fill else 0):
                return False
            fill = fill and bars_left == 1
        self._request = None
        if target == "fill":
            self._queue = ["fill"]
        elif fill:
            self._queue = ["fill", target]
        else:
            self._queue = [target]
        return True


@dataclass(frozen=True, slots=True)
class ControllerAction:
    """``kind`` 'section' (``name`` a section) or 'control' (``name`` a control, ``value``)."""

    kind: str
    name: str
    value: float = 0.0


DEFAULT_PADS = {36: "main_a", 37: "main_b", 38: "main_c", 39: "main_d", 40: "fill",
                41: "break", 42: "ending", 43: "intro"}
DEFAULT_CCS = {1: "energy", 2: "density", 71: "complexity", 74: "mood", 76: "swing"}
DEFAULT_SECTION_CCS = {80: "main_a", 81: "main_b", 82: "main_c", 83: "main_d"}
"""General-purpose buttons 5-8 (CC 80-83), as footswitches often send them."""


@dataclass
class ControllerMap:
    """Which controller messages steer the band.

    ``pads``: note number -> section, on ``pad_channel`` (0-based; 9 is GM channel 10;
    -1 any); ``ccs``: controller number -> control (0-127 scaled to 0-1) on ``cc_channel``;
    ``section_ccs``: controller number -> section, on a press (the value rising to 64 or
    more); a double tap of the sustain pedal within ``double_tap_ms`` -> ``double_tap``.
    """

    pads: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_PADS))
    pad_channel: int = 9
    ccs: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_CCS))
    cc_channel: int = -1
    section_ccs: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_SECTION_CCS))
    double_tap: str | None = "ending"
    double_tap_ms: float = 400.0
    _last_press_ns: int | None = field(default=None, repr=False)
    _pedal_down: bool = field(default=False, repr=False)
    _buttons_down: set[int] = field(default_factory=set, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControllerMap:
        """From a setlist's ``[controller]`` table; missing keys keep the defaults."""
        cmap = cls()
        if "pads" in data:
            cmap.pads = {int(k): section_name(str(v)) for k, v in data["pads"].items()}
        if "ccs" in data:
            cmap.ccs = {int(k): str(v) for k, v in data["ccs"].items()}
            bad = [v for v in cmap.ccs.values() if v not in CONTROL_NAMES]
            if bad:
                raise ValueError(f"unknown controls in [controller.ccs]: {bad}")
        if "section_ccs" in data:
            cmap.section_ccs = {int(k): section_name(str(v))
                                for k, v in data["section_ccs"].items()}
        cmap.pad_channel = int(data.get("pad_channel", cmap.pad_channel))
        cmap.cc_channel = int(data.get("cc_channel", cmap.cc_channel))
        tap = data.get("sustain_double_tap", cmap.double_tap)
        cmap.double_tap = section_name(tap) if tap else None
        cmap.double_tap_ms = float(data.get("double_tap_ms", cmap.double_tap_ms))
        return cmap

    def interpret(self, message: MidiMessage) -> tuple[bool, list[ControllerAction]]:
        """(consumed, actions): a consumed message is a controller's, not music to answer."""
        if message.is_note_on or message.is_note_off:
            if self.pad_channel in (-1, message.channel) and message.data[1] in self.pads:
                if message.is_note_on:
                    return True, [ControllerAction("section", self.pads[message.data[1]])]
                return True, []
            return False, []
        if not message.is_control_change:
            return False, []
        control, value = message.data[1], message.data[2]
        if control == CC_SUSTAIN:
            return False, self._pedal(value >= 64, message.stamp_ns)
        if self.cc_channel not in (-1, message.channel):
            return False, []
        if control in self.ccs:
            return True, [ControllerAction("control", self.ccs[control], value / 127.0)]
        if control in self.section_ccs:
            pressed = value >= 64 and control not in self._buttons_down
            if value >= 64:
                self._buttons_down.add(control)
            else:
                self._buttons_down.discard(control)
            return True, [ControllerAction("section", self.section_ccs[control])] if pressed \
                else []
        return False, []

    def _pedal(self, down: bool, stamp_ns: int) -> list[ControllerAction]:
        pressed = down and not self._pedal_down
        self._pedal_down = down
        if not pressed or self.double_tap is None:
            return []
        last, self._last_press_ns = self._last_press_ns, stamp_ns
        if last is not None and 0 <= stamp_ns - last <= self.double_tap_ms * 1e6:
            self._last_press_ns = None
            return [ControllerAction("section", self.double_tap)]
        return []
