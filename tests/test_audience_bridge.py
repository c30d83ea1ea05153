"""The crowd steering the band: the bridge against the real audience service and phones."""

from __future__ import annotations

import time

from conftest import TIMEOUT_S
from test_audience_link import crowd_votes, wait_for
from test_audience_service import TOKEN, free_port

from stage.audience.bridge import AudienceBridge
from stage.audience.link import AudienceLink
from stage.audience.serve import ServiceThread
from stage.audience.server import ServiceConfig
from stage.audience.simulated import SimulatedCrowd
from stage.engine.events import Cue
from stage.engine.setlist import Poll
from stage.engine.state import Meter, PerformanceState

BAR = Meter().ticks_per_bar
LIFT = Poll(id="lift", kind="choice", question="Lift it?", options=("Stay low", "Lift"),
            effects=({"energy": 0.2}, {"energy": 0.9}), open_bar=1, open_bars=2)


def _bridge(link: object, controls: list[tuple[str, float]]) -> AudienceBridge:
    return AudienceBridge(link=link, polls=[LIFT],  # type: ignore[arg-type]
                          set_control=lambda name, value: controls.append((name, value)),
                          command_section=lambda name: None,
                          section_at=lambda tick: "verse")


def _bar(bridge: AudienceBridge, index: int) -> list[object]:
    state = PerformanceState(tick=index * BAR - 960, bar_start_tick=(index - 1) * BAR)
    return list(bridge.window(state, index * BAR, index * BAR + 960))


def test_phones_vote_and_the_band_is_steered_bar_by_bar() -> None:
    port = free_port()
    service = ServiceThread(ServiceConfig("gig", TOKEN, port=port, phone_hz=20.0)).start()
    link = AudienceLink(f"ws://127.0.0.1:{port}/engine", TOKEN).start()
    controls: list[tuple[str, float]] = []
    bridge = _bridge(link, controls)
    try:
        wait_for(link.connected.is_set)
        _bar(bridge, 0)
        cues = _bar(bridge, 1)  # the poll opens on bar 1
        assert any(isinstance(c, Cue) and c.address == "/stage/poll/open" for c in cues)
        crowd_votes(port, [1, 1, 0], poll="lift")
        _bar(bridge, 2)
        _bar(bridge, 3)  # bar 3 closes it (opened at 1, two bars)
        bar, deadline = 4, time.monotonic() + TIMEOUT_S
        while not controls:  # the result reaches the engine a moment after the close
            assert time.monotonic() < deadline, "no result reached the band"
            _bar(bridge, bar)
            bar += 1
            time.sleep(0.02)
        for _ in range(6):
            _bar(bridge, bar)
            bar += 1
        energies = [value for name, value in controls if name == "energy"]
        assert energies[0] == 0.65  # one bounded step (0.15) from 0.5 toward 0.9
        assert bridge.steered[0].controls == {"energy": 0.65}
        assert energies == sorted(energies) and energies[-1] == 0.9
        assert bridge.steered[0].polls == ("lift",)
    finally:
        link.stop()
        service.stop()


def test_without_a_service_the_bridge_never_blocks_and_never_steers() -> None:
    link = AudienceLink(f"ws://127.0.0.1:{free_port()}/engine", TOKEN).start()
    controls: list[tuple[str, float]] = []
    bridge = _bridge(link, controls)
    try:
        for index in range(20):
            _bar(bridge, index)
        assert controls == [] and bridge.opened == [(BAR, "lift")]
    finally:
        link.stop()


def test_simulated_crowd_answers_each_poll_when_its_window_closes() -> None:
    crowd = SimulatedCrowd(size=100, seed=3)
    controls: list[tuple[str, float]] = []
    bridge = _bridge(crowd, controls)
    for index in range(4):
        _bar(bridge, index)
    assert [r.poll_id for r in crowd.results] == ["lift"]
    assert crowd.results[0].voters >= 50
    _bar(bridge, 4)
    assert controls and all(0.2 <= value <= 0.9 for _, value in controls)


class _TallyLink(SimulatedCrowd):
    """The simulated crowd, plus the running tallies a live service sends."""

    def take_tallies(self) -> list[dict[str, object]]:
        return [{"poll": "hype", "kind": "tap", "voters": 40, "value": 0.5},
                {"poll": "hype", "kind": "tap", "voters": 41, "value": 0.75}]


def test_tallies_and_crowd_energy_go_out_as_cues_once_per_bar() -> None:
    bridge = _bridge(_TallyLink(), [])
    cues = [c for c in _bar(bridge, 0) if isinstance(c, Cue)]
    assert [(c.address, c.args) for c in cues] == [
        ("/stage/poll/tally", ("hype", 41, 0.75)), ("/stage/crowd/energy", (0.75,))]
    assert all(c.tick == 0 for c in cues)
