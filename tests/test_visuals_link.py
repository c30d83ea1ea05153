"""Ableton Link: a second, independent Link peer sees the tempo and beat phase stage
publishes. Link discovers peers by multicast on every interface, so both peers run inside a
network namespace of their own (loopback only), removed whatever happens."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, TIMEOUT_S

pytest.importorskip("aalink", reason="Ableton Link needs aalink (pip install aalink)")

TEMPO = 133.0
START_BEAT = 1000.0
QUANTUM = 4.0

PUBLISHER = f"""
import time
from stage.visuals.link import LinkSync
sync = LinkSync(bpm=100.0, quantum={QUANTUM})
t0 = time.perf_counter_ns(); m0 = time.monotonic_ns()
print("origin", m0, flush=True)
end = time.monotonic() + {TIMEOUT_S}
while time.monotonic() < end:
    now = time.perf_counter_ns()
    sync.publish({TEMPO}, {START_BEAT} + (now - t0) * {TEMPO} / 60e9, now)
    time.sleep(0.05)
"""

LISTENER = f"""
import asyncio, time, aalink
async def main():
    link = aalink.Link(90.0, asyncio.get_running_loop())
    link.quantum = {QUANTUM}
    link.enabled = True
    end = time.monotonic() + {TIMEOUT_S}
    while time.monotonic() < end:
        if link.num_peers >= 1 and abs(link.tempo - {TEMPO}) < 1e-3:
            await asyncio.sleep(0.3)  # let the beat timeline settle after the tempo
            print("seen", link.tempo, link.phase, time.monotonic_ns(), link.num_peers,
                  flush=True)
            return
        await asyncio.sleep(0.02)
    print("timeout", link.tempo, link.num_peers, flush=True)
asyncio.run(main())
"""


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=TIMEOUT_S)


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace with only loopback (multicast on); deleted even on failure."""
    if shutil.which("ip") is None:
        pytest.skip("the ip command (iproute2) is not installed")
    name = f"stage-link-{os.getpid()}"
    made = ip("netns", "add", name)
    if made.returncode != 0:
        pytest.skip(f"ip netns is not permitted here: {made.stderr.strip()}")
    try:
        for command in (("link", "set", "lo", "up"), ("link", "set", "lo", "multicast", "on"),
                        ("route", "add", "224.0.0.0/4", "dev", "lo")):
            done = ip("netns", "exec", name, "ip", *command)
            assert done.returncode == 0, done.stderr
        yield name
    finally:
        ip("netns", "delete", name)


def in_netns(name: str, code: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c", code],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=Path(ROOT))


def test_a_second_link_peer_sees_the_followed_tempo_and_phase(netns: str) -> None:
    publisher = in_netns(netns, PUBLISHER)
    listener = in_netns(netns, LISTENER)
    try:
        heard, listener_err = listener.communicate(timeout=TIMEOUT_S + 5)
    finally:
        for process in (publisher, listener):
            if process.poll() is None:
                process.kill()
        published, publisher_err = publisher.communicate(timeout=TIMEOUT_S)
    assert heard.startswith("seen"), heard + listener_err + publisher_err
    _, tempo, phase, at_ns, peers = heard.split()
    assert float(tempo) == pytest.approx(TEMPO, abs=1e-3)
    assert int(peers) >= 1
    origin_ns = int(published.split()[1])
    # The publisher's beat at the moment the listener looked, modulo the quantum.
    expected = (START_BEAT + (int(at_ns) - origin_ns) * TEMPO / 60e9) % QUANTUM
    distance = abs(float(phase) - expected) % QUANTUM
    assert min(distance, QUANTUM - distance) < 0.1, (phase, expected)


PUBLISHER_WINDOW = f"""
import time
from stage.engine.state import PerformanceState
from stage.engine.time import PPQ
from stage.visuals.link import LinkPublisher, LinkSync
sync = LinkSync(bpm=100.0)
publisher = LinkPublisher(sync)
start = time.perf_counter()
def played() -> float:  # the performer's beat now: 8.5 at the start, at 128 bpm
    return 8.5 + (time.perf_counter() - start) * 128.0 / 60.0
# Every window, as the engine plans them: the followed state now. (Link may settle its new
# session after the first call; the next window tells it again.)
assert publisher.window(PerformanceState(tick=round(played() * PPQ), bpm=128.0),
                        9 * PPQ, 10 * PPQ) == ()
deadline = time.monotonic() + {TIMEOUT_S}
while abs(sync.tempo - 128.0) > 1e-6 and time.monotonic() < deadline:
    time.sleep(0.005)
    publisher.window(PerformanceState(tick=round(played() * PPQ), bpm=128.0), 0, 0)
time.sleep(0.1)
print(sync.tempo, sync.realigned, sync._link.beat - played(), flush=True)
sync.close()
sync.close()
"""


def test_the_publisher_tells_link_the_followed_tempo_and_beat_each_window(netns: str) -> None:
    process = in_netns(netns, PUBLISHER_WINDOW)
    try:
        out, err = process.communicate(timeout=TIMEOUT_S + 5)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    tempo, realigned, behind = out.split()
    assert float(tempo) == pytest.approx(128.0, abs=1e-6)
    assert int(realigned) >= 1  # the session's beat (0 at 100 bpm) moved to the performer's
    assert abs(float(behind)) < 0.1  # ... and stays with it, within Link's own tolerance
