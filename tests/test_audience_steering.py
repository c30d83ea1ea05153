"""Steering: results -> bounded, smoothed control targets, locks and veto."""

from __future__ import annotations

import pytest

from stage.audience.polls import PollResult
from stage.audience.steering import PollMapping, Steering

NEXT = {"id": "next", "kind": "choice", "apply": "section",
        "effects": [{"section": "chorus", "energy": 0.9}, {"section": "break", "energy": 0.2}]}
HYPE = {"id": "hype", "kind": "tap", "control": "energy", "range": [0.4, 1.0]}


def result(poll: str, kind: str, winner: int | None = None, value: float = 0.0,
           voters: int = 10) -> PollResult:
    return PollResult(poll, kind, winner, value, (), voters)


def test_choice_applies_at_the_next_section_with_its_section_command() -> None:
    steering = Steering.from_setlist([NEXT], max_step=1.0)
    assert steering.offer(result("next", "choice", winner=1))
    bar = steering.on_bar()
    assert bar.section is None and bar.controls["energy"] == 0.5
    section = steering.on_section()
    assert section.section == "break" and section.polls == ("next",)
    assert section.controls["energy"] == pytest.approx(0.2)


def test_tap_energy_maps_into_range_and_moves_smoothly() -> None:
    steering = Steering.from_setlist([HYPE], max_step=0.15)
    steering.offer(result("hype", "tap", value=1.0))
    values = [steering.on_bar().controls["energy"] for _ in range(5)]
    assert values == pytest.approx([0.65, 0.8, 0.95, 1.0, 1.0])


def test_bounds_from_the_setlist_hold() -> None:
    steering = Steering.from_setlist([HYPE], max_step=1.0, bounds={"energy": (0.3, 0.7)})
    steering.offer(result("hype", "tap", value=1.0))
    assert steering.on_bar().controls["energy"] == pytest.approx(0.7)


def test_a_locked_control_does_not_move() -> None:
    steering = Steering.from_setlist([HYPE], max_step=1.0)
    steering.lock("energy", 0.3)
    steering.offer(result("hype", "tap", value=1.0))
    assert steering.on_bar().controls["energy"] == 0.3
    steering.unlock("energy")
    steering.offer(result("hype", "tap", value=1.0))
    assert steering.on_bar().controls["energy"] == pytest.approx(1.0)


def test_veto_drops_a_pending_or_future_result() -> None:
    steering = Steering.from_setlist([NEXT, HYPE], max_step=1.0)
    steering.offer(result("next", "choice", winner=0))
    steering.veto("next")
    assert steering.on_section().section is None
    assert not steering.offer(result("next", "choice", winner=0))
    steering.veto("hype")
    assert not steering.offer(result("hype", "tap", value=1.0))


def test_empty_or_unmapped_results_change_nothing() -> None:
    steering = Steering.from_setlist([HYPE], max_step=1.0)
    assert not steering.offer(result("unknown", "tap", value=1.0))
    steering.offer(result("hype", "tap", value=1.0, voters=0))
    assert steering.on_bar().controls["energy"] == 0.5


def test_mapping_refuses_unknown_controls() -> None:
    with pytest.raises(ValueError):
        PollMapping.from_dict({"id": "x", "kind": "scale", "control": "volume"})
    with pytest.raises(ValueError):
        PollMapping.from_dict({"id": "x", "kind": "choice", "effects": [{"tempo": 1}]})


def test_a_poll_can_set_its_own_smoothing() -> None:
    steering = Steering.from_setlist([{**HYPE, "max_step": 0.05}], max_step=1.0)
    steering.offer(result("hype", "tap", value=1.0))
    assert [round(steering.on_bar().controls["energy"], 2) for _ in range(2)] == [0.55, 0.6]


def test_reads_the_setlist_polls_mapping() -> None:
    from stage.engine.setlist import Poll

    poll = Poll(id="hype", kind="tap", control="energy", value_range=(0.4, 1.0),
                smoothing=0.1)
    mapping = PollMapping.from_dict(poll.mapping())
    assert mapping.control == "energy" and mapping.lo == 0.4 and mapping.max_step == 0.1
