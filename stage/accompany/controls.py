"""The controls that steer every part, applied on bar lines and smoothed.

A control's *target* may be set at any moment (by the performer, the setlist or the crowd);
the value the band plays with moves toward it only when a new bar is planned, and by at most
``MAX_STEP_PER_BAR`` per bar, so steering never jumps mid-phrase.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTROL_NAMES = ("energy", "density", "complexity", "mood", "swing")

MAX_STEP_PER_BAR: dict[str, float] = {
    "energy": 0.35,      # a big push takes two or three bars, like a band building
    "density": 0.35,
    "complexity": 0.25,
    "mood": 0.25,        # colour changes slowly: a darker harmony creeps in
    "swing": 0.2,
}


@dataclass(frozen=True, slots=True)
class ControlValues:
    """The controls one bar plays with, each 0-1. ``swing`` None means the style's own."""

    energy: float = 0.5
    density: float = 0.5
    complexity: float = 0.5
    mood: float = 0.5
    swing: float | None = None

    @property
    def effective_density(self) -> float:
        """How many optional notes play: density, lifted or lowered by energy (0-1)."""
        return _clamp(self.density + 0.6 * (self.energy - 0.5))


class Controls:
    """Targets set at any time; :meth:`advance` is called once per planned bar."""

    def __init__(self, initial: ControlValues | None = None) -> None:
        start = initial or ControlValues()
        self._value: dict[str, float | None] = {
            name: getattr(start, name) for name in CONTROL_NAMES}
        self._target: dict[str, float | None] = dict(self._value)

    def set(self, name: str, value: float | None) -> None:
        """Set the target of ``name`` (0-1; ``swing`` may be None for the style's own)."""
        if name not in CONTROL_NAMES:
            raise ValueError(f"unknown control {name!r}; controls: {', '.join(CONTROL_NAMES)}")
        if value is None:
            if name != "swing":
                raise ValueError(f"control {name!r} needs a value")
            self._target[name] = None
            return
        self._target[name] = _clamp(float(value))

    def set_now(self, name: str, value: float | None) -> None:
        """Set target and value at once (before the show starts, or for a hard cut)."""
        self.set(name, value)
        self._value[name] = self._target[name]

    def target(self, name: str) -> float | None:
        return self._target[name]

    def advance(self, style_swing: float) -> ControlValues:
        """Move every value one bar's step toward its target; return the bar's values."""
        for name in CONTROL_NAMES:
            target = self._target[name]
            current = self._value[name]
            if name == "swing":
                if target is None:
                    self._value[name] = None if current is None else _step(
                        current, style_swing, MAX_STEP_PER_BAR[name])
                    if self._value[name] is not None and abs(
                            float(self._value[name] or 0.0) - style_swing) < 1e-9:
                        self._value[name] = None
                    continue
                current = style_swing if current is None else current
            assert target is not None and current is not None
            self._value[name] = _step(current, target, MAX_STEP_PER_BAR[name])
        return self.values()

    def values(self) -> ControlValues:
        v = self._value
        return ControlValues(float(v["energy"] or 0.0), float(v["density"] or 0.0),
                             float(v["complexity"] or 0.0), float(v["mood"] or 0.0),
                             v["swing"])


def _step(current: float, target: float, max_step: float) -> float:
    delta = target - current
    if abs(delta) <= max_step:
        return target
    return current + (max_step if delta > 0 else -max_step)


def _clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return low if value < low else high if value > high else value
