"""Steering: poll results -> the band's control targets, bounded, smoothed, at boundaries.

Pure and engine-side (no I/O): the show runner offers each PollResult, then calls
``on_bar()`` at every bar start and ``on_section()`` at every section change; what they
return is what the band applies there. The performer can lock any control (pinning it)
and veto any poll (its result is dropped, now or when it arrives).

A mapping per poll (from the setlist) says what a result means:
- choice: one effect per option, e.g. ``{"section": "main_b", "energy": 0.8}``;
- scale / tap / reactions: ``control`` and ``range = [lo, hi]``; the result's 0-1 value
  is mapped linearly into the range.
``apply`` is ``"bar"`` (next bar, the default) or ``"section"`` (next section change);
``max_step`` the largest change per bar (the setlist's ``smoothing``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stage.audience.polls import PollResult

log = logging.getLogger(__name__)

CONTROLS = ("energy", "density", "complexity", "mood", "swing")
DEFAULT_MAX_STEP = 0.15
"""Largest change of one control per bar: a crowd swing becomes a ramp, not a jump."""


def _clip(value: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return min(hi, max(lo, value))


@dataclass(frozen=True, slots=True)
class PollMapping:
    """How one poll's result steers the band (see the module docstring)."""

    poll_id: str
    kind: str
    control: str | None = None
    lo: float = 0.0
    hi: float = 1.0
    effects: tuple[Mapping[str, Any], ...] = ()
    apply: str = "bar"
    max_step: float | None = None
    """Largest change per bar of the controls this poll steers (None: Steering's)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PollMapping:
        """From a setlist poll table: id, kind, control, range, effects/options, apply."""
        lo, hi = data.get("range", (0.0, 1.0))
        effects = data.get("effects", ())
        control = data.get("control")
        if control is not None and control not in CONTROLS:
            raise ValueError(f"poll {data.get('id')}: unknown control {control!r}")
        for effect in effects:
            for name in effect:
                if name != "section" and name not in CONTROLS:
                    raise ValueError(f"poll {data.get('id')}: unknown control {name!r}")
        apply = str(data.get("apply", "bar"))
        if apply not in ("bar", "section"):
            raise ValueError(f"poll {data.get('id')}: apply must be bar or section")
        max_step = data.get("max_step")
        return cls(poll_id=str(data["id"]), kind=str(data["kind"]), control=control,
                   lo=_clip(float(lo)), hi=_clip(float(hi)), effects=tuple(effects),
                   apply=apply, max_step=None if max_step is None else float(max_step))

    def targets(self, result: PollResult) -> tuple[dict[str, float], str | None]:
        """(control goals, section command) this result asks for."""
        if self.kind == "choice":
            if result.winner is None or result.winner >= len(self.effects):
                return {}, None
            effect = self.effects[result.winner]
            goals = {k: _clip(float(v)) for k, v in effect.items() if k != "section"}
            section = effect.get("section")
            return goals, None if section is None else str(section)
        if self.control is None or result.voters == 0:
            return {}, None
        return {self.control: self.lo + (self.hi - self.lo) * _clip(result.value)}, None


@dataclass(frozen=True, slots=True)
class Steer:
    """What the band applies at this boundary: control values, maybe a section command,
    and the polls that steered them (for the show log's provenance)."""

    controls: dict[str, float]
    section: str | None = None
    polls: tuple[str, ...] = ()


@dataclass
class Steering:
    mappings: dict[str, PollMapping] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CONTROLS, 0.5))
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per-control (lo, hi) the crowd may not leave, from the setlist."""
    max_step: float = DEFAULT_MAX_STEP

    def __post_init__(self) -> None:
        self.goals: dict[str, float] = dict(self.values)
        self.locks: dict[str, float] = {}
        self.vetoed: set[str] = set()
        self.steps: dict[str, float] = {}
        """Per-control largest change per bar, from the poll that last steered it."""
        self._pending: list[tuple[PollMapping, PollResult]] = []

    @classmethod
    def from_setlist(cls, polls: Iterable[Mapping[str, Any]], **kwargs: Any) -> Steering:
        mappings = [PollMapping.from_dict(p) for p in polls]
        return cls(mappings={m.poll_id: m for m in mappings}, **kwargs)

    # --- performer ----------------------------------------------------------------------
    def lock(self, control: str, value: float | None = None) -> None:
        """Pin ``control`` at ``value`` (default: where it is now) until unlocked."""
        if control not in CONTROLS:
            raise ValueError(f"unknown control {control!r}")
        pinned = self.values[control] if value is None else _clip(value)
        self.locks[control] = pinned
        self.values[control] = self.goals[control] = pinned

    def unlock(self, control: str) -> None:
        self.locks.pop(control, None)

    def veto(self, poll_id: str) -> None:
        """Drop this poll's result, pending or still to come."""
        self.vetoed.add(poll_id)
        self._pending = [(m, r) for m, r in self._pending if r.poll_id != poll_id]

    # --- crowd --------------------------------------------------------------------------
    def offer(self, result: PollResult) -> bool:
        """Queue a closed poll's result for the next boundary. False when ignored."""
        mapping = self.mappings.get(result.poll_id)
        if result.poll_id in self.vetoed or mapping is None:
            log.info("poll %s result ignored (%s)", result.poll_id,
                     "vetoed" if mapping else "no mapping")
            return False
        self._pending.append((mapping, result))
        return True

    def on_bar(self) -> Steer:
        """A bar starts: apply results due at a bar and move every control one step."""
        return self._boundary(("bar",))

    def on_section(self) -> Steer:
        """A section starts (also a bar start): everything pending applies."""
        return self._boundary(("bar", "section"))

    def _boundary(self, due: tuple[str, ...]) -> Steer:
        section: str | None = None
        polls: list[str] = []
        keep: list[tuple[PollMapping, PollResult]] = []
        for mapping, result in self._pending:
            if mapping.apply not in due:
                keep.append((mapping, result))
                continue
            goals, wanted_section = mapping.targets(result)
            for control, goal in goals.items():
                lo, hi = self.bounds.get(control, (0.0, 1.0))
                self.goals[control] = _clip(goal, lo, hi)
                self.steps[control] = mapping.max_step or self.max_step
            section = wanted_section or section
            polls.append(result.poll_id)
        self._pending = keep
        for control in CONTROLS:
            if control in self.locks:
                self.values[control] = self.locks[control]
                continue
            step = self.goals[control] - self.values[control]
            limit = self.steps.get(control, self.max_step)
            self.values[control] += max(-limit, min(limit, step))
        return Steer(dict(self.values), section, tuple(polls))
