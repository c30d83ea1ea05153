"""The tallier: the one authority for the show's polls, no I/O.

It applies phone events (already attributed to a device), engine commands and musical
state to a PollBook, numbers every accepted vote (``vote_seq``) so the benchmark can trace
a vote to the tally that carried it, and builds the frames that go to phones and to the
engine. The aiohttp layer (or the Redis leader) calls it; it never waits.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from stage.audience.polls import PollBook, PollResult
from stage.audience.protocol import (
    REACTIONS,
    PhoneMessage,
    PollSpec,
    ProtocolError,
    React,
    Tap,
    Vote,
    encode,
)

log = logging.getLogger(__name__)


class Tallier:
    def __init__(self, show_id: str) -> None:
        self.show_id = show_id
        self.book = PollBook()
        self.vote_seq = 0
        """How many votes/taps have been folded in (monotonic; the engine sees it)."""
        self.reactions_burst: Counter[str] = Counter()
        self.vetoed: set[str] = set()
        self.locks: dict[str, float | None] = {}
        self.new_results: list[PollResult] = []
        self.changed = 0
        """Bumped on any change phones should see (poll opened/closed, tally moved)."""

    # --- phone events -------------------------------------------------------------------
    def apply(self, device: str, message: PhoneMessage, now_ns: int, seq: int | None = None,
              ) -> int:
        """Fold one phone event in. Returns the vote sequence number that carries it.

        ``seq`` is an external order (the Redis stream position) when there is one.
        Raises ProtocolError when the poll is closed or the vote does not fit it.
        """
        if isinstance(message, React):
            self.reactions_burst[message.emoji] += 1
            poll = self.book.current
            if poll is not None and poll.open and poll.spec.kind == "reactions":
                poll.react(device, message.emoji)
            self.changed += 1
            return self.vote_seq
        if isinstance(message, Vote):
            self.book.open_poll(message.poll_id).vote(device, message)
        elif isinstance(message, Tap):
            self.book.open_poll(message.poll_id).tap(device, message, now_ns)
        else:
            raise ProtocolError("bad_type", "not a vote")
        self.vote_seq = seq if seq is not None else self.vote_seq + 1
        self.changed += 1
        return self.vote_seq

    def vote_of(self, device: str) -> dict[str, Any] | None:
        poll = self.book.current
        return poll.vote_of(device) if poll is not None else None

    # --- poll windows -------------------------------------------------------------------
    def open_poll(self, spec: PollSpec, now_ns: int) -> None:
        _, previous = self.book.open(spec, now_ns)
        if previous is not None:
            self._closed(previous)
        self.changed += 1
        log.info("poll %s (%s) open", spec.poll_id, spec.kind)

    def close_poll(self, now_ns: int, poll_id: str | None = None) -> PollResult | None:
        result = self.book.close(now_ns, poll_id)
        if result is not None:
            self._closed(result)
        return result

    def on_state(self, bar: int, section: str | None, now_ns: int) -> PollResult | None:
        result = self.book.on_musical_state(bar, section, now_ns)
        if result is not None:
            self._closed(result)
        return result

    def _closed(self, result: PollResult) -> None:
        self.new_results.append(result)
        self.changed += 1
        log.info("poll %s closed: %s", result.poll_id, result.to_json())

    def veto(self, poll_id: str) -> None:
        self.vetoed.add(poll_id)
        self.changed += 1

    def take_results(self) -> list[PollResult]:
        results, self.new_results = self.new_results, []
        return results

    # --- frames -------------------------------------------------------------------------
    def poll_view(self, now_ns: int) -> dict[str, Any] | None:
        poll = self.book.current
        if poll is None:
            return None
        return {
            **poll.spec.to_json(),
            "open": poll.open,
            "tally": poll.tally(now_ns).to_json(),
            "vetoed": poll.poll_id in self.vetoed,
        }

    def phone_frame(self, now_ns: int) -> str:
        """The snapshot every phone and big screen gets: complete, so a lagging client
        can skip any number of them and still be right with the next."""
        burst = [self.reactions_burst[e] for e in REACTIONS]
        self.reactions_burst.clear()
        return encode("poll", show=self.show_id, poll=self.poll_view(now_ns),
                      reactions=burst, bar=self.book.bar, section=self.book.section)

    def engine_tally(self, now_ns: int) -> str | None:
        poll = self.book.current
        if poll is None:
            return None
        return encode("tally", open=poll.open, vote_seq=self.vote_seq,
                      **poll.tally(now_ns).to_json())
