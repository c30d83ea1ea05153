"""What a song's plug-ins tell the log about provenance, found by duck typing.

The engine never imports the band or the audience: the probe looks for a generator with a
``band`` (the conductor) or with ``plan_at`` and ``controls`` (the band), and one with a
``steered`` list (the audience bridge), and asks them only plain questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stage.engine.state import PerformanceState


class SongProbe:
    """Controls in force and crowd steers for one song's generators."""

    def __init__(self, generators: Sequence[Any]) -> None:
        self.band: Any = None
        self.bridge: Any = None
        for generator in generators:
            band = getattr(generator, "band", None)
            if band is None and hasattr(generator, "plan_at") and hasattr(generator, "style"):
                band = generator
            if band is not None and self.band is None:
                self.band = band
            if hasattr(generator, "steered") and self.bridge is None:
                self.bridge = generator
        style = getattr(getattr(self.band, "style", None), "name", None)
        self.style: str | None = str(style) if style else None
        self._steers_seen = 0
        self._default_sources: dict[str, str] = {}

    def default_source(self, part: str) -> str:
        """Events without their own source (harmony voices, setup): the band's style."""
        found = self._default_sources.get(part)
        if found is None:
            found = f"style:{self.style}/{part}" if self.style and part else ""
            self._default_sources[part] = found
        return found

    def controls_at(self, tick: int, state: PerformanceState | None) -> Any:
        """The bar plan's controls at ``tick`` (ticks), or None."""
        if self.band is None or state is None:
            return None
        plan = self.band.plan_at(tick, state.meter, state.bar_start_tick)
        return plan.controls if plan is not None else None

    def steer_polls(self, tick: int) -> tuple[str, ...]:
        """The polls of the latest crowd steer at or before ``tick`` (ticks)."""
        if self.bridge is None:
            return ()
        for record in reversed(self.bridge.steered):
            if record.tick <= tick:
                return tuple(record.polls)
        return ()

    def new_steers(self) -> list[dict[str, Any]]:
        """Steers the bridge applied since the last call, as records."""
        if self.bridge is None:
            return []
        steered = self.bridge.steered
        fresh = steered[self._steers_seen:]
        self._steers_seen = len(steered)
        return [{"tick": r.tick, "controls": dict(r.controls), "section": r.section,
                 "polls": list(r.polls)} for r in fresh]
