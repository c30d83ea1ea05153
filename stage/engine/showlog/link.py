"""The crowd's side of the log: a link wrapper that records polls, tallies, results and
console commands with the show bar they arrived at, and its replay twin that gives them back
at the same bars.

Both stand where the audience bridge's link stands (duck-typed: ``publish_state``,
``open_poll``, ``take_results``, ``take_tallies``, ``take_console``). The bridge takes
results and commands only on bar lines, so (show bar, order) places each exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from stage.engine.showlog.log import ShowLog


def result_record(result: Any) -> dict[str, Any]:
    """A poll result with its value unrounded (replay must steer by the same float)."""
    return {"poll": result.poll_id, "kind": result.kind, "winner": result.winner,
            "value": result.value, "counts": list(result.counts), "voters": result.voters}


class LoggedLink:
    """Forwards to ``inner`` and logs what crosses."""

    def __init__(self, inner: Any, show_log: ShowLog) -> None:
        self.inner = inner
        self.show_log = show_log
        self.bar = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _song(self) -> int:
        return self.show_log.song_index

    def _put(self, kind: str, key: str, value: Any) -> None:
        self.show_log.put({"t": kind, "song": self._song(), "bar": self.bar, key: value})

    def publish_state(self, state: dict[str, Any]) -> None:
        self.bar = int(state.get("bar", self.bar))
        self.inner.publish_state(state)

    def open_poll(self, poll: dict[str, Any]) -> None:
        self._put("poll", "spec", dict(poll))
        self.inner.open_poll(poll)

    def take_results(self) -> list[Any]:
        results: list[Any] = self.inner.take_results()
        for result in results:
            self._put("result", "result", result_record(result))
        return results

    def take_tallies(self) -> list[dict[str, Any]]:
        tallies: list[dict[str, Any]] = self.inner.take_tallies()
        for tally in tallies:
            self._put("tally", "tally", tally)
        return tallies

    def take_console(self) -> list[dict[str, Any]]:
        commands: list[dict[str, Any]] = self.inner.take_console()
        for command in commands:
            self._put("console", "command", command)
        return commands


class ReplayLink:
    """Gives back the logged results, tallies and console commands at their show bars.
    ``make_result`` turns a result record into the bridge's result type."""

    def __init__(self, records: list[dict[str, Any]],
                 make_result: Callable[[dict[str, Any]], Any]) -> None:
        self.bar = 0
        self.opened: list[dict[str, Any]] = []
        self._by_bar: dict[tuple[str, int], list[Any]] = defaultdict(list)
        for record in records:
            kind = record.get("t")
            if kind == "result":
                self._by_bar["result", record["bar"]].append(make_result(record["result"]))
            elif kind == "tally":
                self._by_bar["tally", record["bar"]].append(record["tally"])
            elif kind == "console":
                self._by_bar["console", record["bar"]].append(record["command"])

    def publish_state(self, state: dict[str, Any]) -> None:
        self.bar = int(state.get("bar", self.bar))

    def open_poll(self, poll: dict[str, Any]) -> None:
        self.opened.append(dict(poll))

    def _take(self, kind: str) -> list[Any]:
        return self._by_bar.pop((kind, self.bar), [])

    def take_results(self) -> list[Any]:
        return self._take("result")

    def take_tallies(self) -> list[dict[str, Any]]:
        return self._take("tally")

    def take_console(self) -> list[dict[str, Any]]:
        return self._take("console")
