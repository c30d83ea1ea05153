import pytest
from hypothesis import given
from hypothesis import strategies as st

from stage.engine.time import PPQ, TempoMap, VirtualClock


def test_constant_tempo_converts_both_ways() -> None:
    tempo = TempoMap(120)
    assert tempo.ns_at(PPQ) == 500_000_000
    assert tempo.tick_at(500_000_000) == PPQ
    assert tempo.seconds_at(4 * PPQ) == 2.0


def test_tempo_change_applies_from_then_on_and_keeps_the_past() -> None:
    tempo = TempoMap(120)
    before = tempo.ns_at(2 * PPQ)
    tempo.set_tempo(60, at_tick=4 * PPQ)
    assert tempo.ns_at(2 * PPQ) == before  # the past is untouched
    assert tempo.ns_at(4 * PPQ) == 2_000_000_000
    assert tempo.ns_at(5 * PPQ) == 3_000_000_000  # one beat at 60 bpm is a second
    assert tempo.bpm_at(3 * PPQ) == 120 and tempo.bpm_at(4 * PPQ) == 60


def test_rewriting_the_past_is_refused() -> None:
    tempo = TempoMap(100)
    tempo.set_tempo(110, 8 * PPQ)
    with pytest.raises(ValueError, match="past"):
        tempo.set_tempo(90, 4 * PPQ)


def test_set_tempo_at_ns_starts_at_the_tick_sounding_then() -> None:
    tempo = TempoMap(120)
    tick = tempo.set_tempo_at_ns(90, 1_000_000_000)
    assert tick == 2 * PPQ
    assert tempo.bpm_at(2 * PPQ) == 90


@given(
    bpms=st.lists(st.floats(min_value=20, max_value=300), min_size=1, max_size=6),
    gaps=st.lists(st.integers(min_value=1, max_value=20 * PPQ), min_size=6, max_size=6),
    tick=st.integers(min_value=0, max_value=200 * PPQ),
)
def test_tick_at_inverts_ns_at_exactly(bpms: list[float], gaps: list[int], tick: int) -> None:
    tempo = TempoMap(bpms[0])
    at = 0
    for bpm, gap in zip(bpms[1:], gaps, strict=False):
        at += gap
        tempo.set_tempo(bpm, at)
    assert tempo.tick_at(tempo.ns_at(tick)) == tick
    assert tempo.ns_at(tick) <= tempo.ns_at(tick + 1)


def test_virtual_clock_only_moves_forward() -> None:
    clock = VirtualClock()
    clock.advance_to(5)
    clock.advance_to(3)
    assert clock.now_ns() == 5
    assert clock.wait(10) is None and clock.now_ns() == 10
