"""A seeded crowd for offline renders: every poll gets a result when its window closes.

It stands where the link to the audience service stands, so an offline demo shows the same
steering path a live show takes. The results are drawn, not voted: the summary says so.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stage.audience.polls import PollResult

DEFAULT_WINDOW_BARS = 4


@dataclass
class SimulatedCrowd:
    """``size`` phones voting with a seeded random taste; results arrive at close time."""

    size: int = 300
    seed: int = 0
    _rng: random.Random = field(init=False)
    _open: dict[str, tuple[dict[str, Any], int]] = field(default_factory=dict)
    _results: list[PollResult] = field(default_factory=list)
    _bar: int = 0
    _section: str = ""
    results: list[PollResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def publish_state(self, state: dict[str, Any]) -> None:
        bar, section = int(state["bar"]), str(state.get("section", ""))
        changed = section != self._section
        self._bar, self._section = bar, section
        for poll_id, (poll, opened) in list(self._open.items()):
            close_bar = poll.get("close_bar")
            if close_bar is None and not poll.get("close_on_section"):
                close_bar = opened + DEFAULT_WINDOW_BARS
            if (close_bar is not None and bar >= close_bar) or (
                    poll.get("close_on_section") and changed and bar > opened):
                del self._open[poll_id]
                result = self._vote(poll)
                self._results.append(result)
                self.results.append(result)

    def open_poll(self, poll: dict[str, Any]) -> None:
        self._open[str(poll["id"])] = (dict(poll), self._bar)

    def take_results(self) -> list[PollResult]:
        out, self._results = self._results, []
        return out

    def take_tallies(self) -> list[dict[str, Any]]:
        return []  # the simulated crowd only answers when a poll closes

    def take_console(self) -> list[dict[str, Any]]:
        return []

    def _vote(self, poll: dict[str, Any]) -> PollResult:
        voters = self._rng.randint(self.size // 2, self.size)
        kind = str(poll["kind"])
        options: Sequence[str] = poll.get("options") or ()
        if kind == "choice" and options:
            # a crowd leans to the bigger option, with a random streak
            weights = [1.0 + i * 0.5 + self._rng.random() for i in range(len(options))]
            counts = [0] * len(options)
            for _ in range(voters):
                counts[self._rng.choices(range(len(options)), weights)[0]] += 1
            winner = max(range(len(counts)), key=lambda i: (counts[i], -i))
            return PollResult(str(poll["id"]), kind, winner, counts[winner] / voters,
                              tuple(counts), voters)
        value = min(1.0, max(0.0, self._rng.gauss(0.7, 0.15)))
        return PollResult(str(poll["id"]), kind, None, value, (), voters)
