"""Poll state machine and tallies without sockets."""

from __future__ import annotations

import pytest

from stage.audience.polls import TAP_FULL_RATE, PollBook
from stage.audience.protocol import PollSpec, ProtocolError, React, Tap, Vote
from stage.audience.tally import Tallier

SECOND = 1_000_000_000


def choice_spec(**kw: object) -> PollSpec:
    return PollSpec("next", "choice", "Where next?", ("Chorus", "Break", "Build"), **kw)


def test_one_vote_per_device_changing_replaces() -> None:
    book = PollBook()
    poll, _ = book.open(choice_spec(), 0)
    poll.vote("a", Vote("next", choice=0))
    poll.vote("b", Vote("next", choice=1))
    poll.vote("a", Vote("next", choice=1))  # a changes its mind
    poll.vote("a", Vote("next", choice=1))  # replayed: nothing changes
    result = poll.tally(0)
    assert result.counts == (0, 2, 0) and result.voters == 2 and result.winner == 1
    assert poll.vote_of("a") == {"choice": 1} and poll.vote_of("z") is None


def test_ties_go_to_the_lowest_option_and_empty_polls_have_no_winner() -> None:
    book = PollBook()
    poll, _ = book.open(choice_spec(), 0)
    assert poll.tally(0).winner is None
    poll.vote("a", Vote("next", choice=2))
    poll.vote("b", Vote("next", choice=1))
    assert poll.tally(0).winner == 1


def test_bad_votes_are_refused() -> None:
    book = PollBook()
    poll, _ = book.open(choice_spec(), 0)
    with pytest.raises(ProtocolError):
        poll.vote("a", Vote("next", choice=3))
    with pytest.raises(ProtocolError):
        poll.vote("a", Vote("next", value=0.3))
    with pytest.raises(ProtocolError):
        book.open_poll("other")


def test_scale_is_averaged() -> None:
    book = PollBook()
    poll, _ = book.open(PollSpec("how", "scale"), 0)
    for device, value in (("a", 0.2), ("b", 0.6), ("c", 1.0), ("a", 0.8)):
        poll.vote(device, Vote("how", value=value))
    assert poll.tally(0).value == pytest.approx((0.8 + 0.6 + 1.0) / 3)


def test_tap_rate_becomes_energy_and_fades() -> None:
    book = PollBook()
    poll, _ = book.open(PollSpec("hype", "tap"), 0)
    full = int(TAP_FULL_RATE * 2)  # a full-rate phone over the two-second window
    poll.tap("a", Tap("hype", full), SECOND)
    poll.tap("b", Tap("hype", full // 2), SECOND)
    assert poll.tally(SECOND).value == pytest.approx(0.75)
    assert poll.tally(4 * SECOND).value == 0.0  # nobody tapping any more
    assert poll.tally(4 * SECOND).counts == (full + full // 2,)


def test_tap_flood_is_clipped_to_a_human_rate() -> None:
    book = PollBook()
    poll, _ = book.open(PollSpec("hype", "tap"), 0)
    accepted = sum(poll.tap("a", Tap("hype", 50), SECOND) for _ in range(10))
    assert accepted == 24  # 12 taps/s over two seconds
    assert poll.tally(SECOND).value == 1.0


def test_reactions_poll_counts_emoji() -> None:
    tallier = Tallier("s")
    tallier.open_poll(PollSpec("r", "reactions"), 0)
    tallier.apply("a", React("🔥"), SECOND)
    tallier.apply("b", React("🔥"), SECOND)
    result = tallier.close_poll(SECOND)
    assert result is not None and result.counts[0] == 2 and result.voters == 2


def test_closes_at_the_bar_boundary() -> None:
    book = PollBook()
    book.open(choice_spec(close_bar=8), 0)
    assert book.on_musical_state(7, "A", 0) is None
    result = book.on_musical_state(8, "A", 0)
    assert result is not None and result.poll_id == "next"
    assert book.on_musical_state(9, "A", 0) is None  # closes once
    with pytest.raises(ProtocolError):
        book.open_poll("next")


def test_closes_at_the_next_section() -> None:
    book = PollBook()
    book.on_musical_state(3, "verse", 0)
    book.open(choice_spec(close_on_section=True), 0)
    assert book.on_musical_state(4, "verse", 0) is None
    assert book.on_musical_state(5, "chorus", 0) is not None


def test_opening_another_poll_closes_the_current_one() -> None:
    tallier = Tallier("s")
    tallier.open_poll(choice_spec(), 0)
    tallier.apply("a", Vote("next", choice=2), 0)
    tallier.open_poll(PollSpec("how", "scale"), 0)
    results = tallier.take_results()
    assert [r.poll_id for r in results] == ["next"] and results[0].winner == 2
    with pytest.raises(ProtocolError):
        tallier.apply("a", Vote("next", choice=1), 0)


def test_vote_sequence_numbers_every_accepted_vote() -> None:
    tallier = Tallier("s")
    tallier.open_poll(choice_spec(), 0)
    seqs = [tallier.apply(d, Vote("next", choice=0), 0) for d in "abc"]
    assert seqs == [1, 2, 3]
    assert '"vote_seq":3' in (tallier.engine_tally(0) or "")
