"""`stage run --midi-clock PORT`: the clock reaches a real JACK port, and stops with the show."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import TIMEOUT_S
from jack_peer import Synth

pytestmark = pytest.mark.jack


def test_run_sends_midi_clock_and_stop_on_a_jack_port(jack_server: str) -> None:
    band, clock = Synth("band-in"), Synth("clock-in")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "stage.cli", "run", "--api", "jack", "--out", "band-in",
             "--midi-clock", "clock-in", "--tempo", "240", "--seconds", "2"],
            capture_output=True, text=True, timeout=TIMEOUT_S * 3)
        assert proc.returncode == 0, proc.stderr[-2000:]
        heard = clock.drain(0.3)
    finally:
        band.close()
        clock.close()
    statuses = [msg[0] for msg in heard]
    assert 0xFA in statuses  # start
    start = statuses.index(0xFA)
    ticks = statuses[start:].count(0xF8)
    assert ticks >= 24 * 4  # at least four beats of 24 clocks each in two seconds at 240
    assert statuses[-1] == 0xFC  # stop, on the way out
    assert all(s in (0xF2, 0xFA, 0xF8, 0xFC, 0xFB) for s in statuses)
