"""Cues of a short rendered show, received by a real OSC peer: liblo's ``oscdump``."""

from __future__ import annotations

import itertools
import queue
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TIMEOUT_S

from stage.commands._songs import show_plugins
from stage.engine.setlist import load_setlist
from stage.engine.show import play_show_offline
from stage.visuals.osc import OscOutput

DEMO = Path(__file__).resolve().parents[1] / "setlists" / "demo.toml"
pytestmark = pytest.mark.skipif(shutil.which("oscdump") is None,
                                reason="oscdump missing (liblo-tools; `make` installs it)")


class OscDump:
    """``oscdump -L PORT`` in the background; its lines read by a thread into a queue."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(["oscdump", "-L", url], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue(maxsize=100_000)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def next(self, timeout: float = TIMEOUT_S) -> str:
        return self.lines.get(timeout=timeout)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=TIMEOUT_S)


def free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def oscdump_udp() -> Iterator[tuple[OscDump, int]]:
    port = free_port(socket.SOCK_DGRAM)
    dump = OscDump(str(port))
    # Ready when it prints what we send (liblo opens its socket after a moment).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            probe.sendto(b"/probe\x00\x00,\x00\x00\x00", ("127.0.0.1", port))
            try:
                if dump.next(timeout=0.1).strip().endswith("/probe"):
                    break
            except queue.Empty:
                pass
            assert time.monotonic() < deadline, "oscdump never answered"
    while True:  # drop any further probes
        try:
            dump.lines.get(timeout=0.2)
        except queue.Empty:
            break
    yield dump, port
    dump.stop()


def render_first_bars(tmp_path: Path, output: OscOutput, bars: int = 6) -> None:
    songs = show_plugins(load_setlist(DEMO), cues=True)[:1]
    songs[0].max_bars = bars
    try:
        play_show_offline(songs, tmp_path / "show.mid", [output])
    finally:
        output.close()


def parse(line: str) -> tuple[str, str, list[str]]:
    _stamp, address, *rest = line.split()
    return address, rest[0] if rest else "", rest[1:]


def test_oscdump_hears_beats_bars_and_sections_in_order(oscdump_udp, tmp_path: Path) -> None:
    dump, port = oscdump_udp
    output = OscOutput(f"127.0.0.1:{port}", "generic")
    render_first_bars(tmp_path, output)
    heard = [parse(dump.next()) for _ in range(output.messages_sent)]
    types = {address: kinds for address, kinds, _ in heard}
    assert types["/stage/beat"] == "ii" and types["/stage/bar"] == "i"
    assert types["/stage/tempo"] == "f" and types["/stage/section"] == "s"
    beats = [(int(a[0]), int(a[1])) for address, _, a in heard if address == "/stage/beat"]
    assert beats == [(i % 4 + 1, i // 4 + 1) for i in range(6 * 4)]
    order = [address for address, _, _ in heard]
    for bar in range(1, 7):  # each bar cue comes before its downbeat
        bar_at = heard.index(("/stage/bar", "i", [str(bar)]))
        assert order.index("/stage/beat", bar_at) > bar_at
        assert heard[order.index("/stage/beat", bar_at)][2] == ["1", str(bar)]
    assert order.index("/stage/section") < order.index("/stage/beat")  # the intro's cue first


def test_resolume_preset_reaches_oscdump_as_columns(oscdump_udp, tmp_path: Path) -> None:
    dump, port = oscdump_udp
    output = OscOutput(f"127.0.0.1:{port}", "resolume")
    render_first_bars(tmp_path, output)
    heard = [parse(dump.next()) for _ in range(output.messages_sent)]
    columns = [a for a, _, _ in heard if a.startswith("/composition/columns/")]
    assert columns[:2] == ["/composition/columns/1/connect", "/composition/columns/2/connect"]
    tempo = [(kinds, args) for a, kinds, args in heard if a.endswith("/tempo")]
    assert tempo and tempo[0][0] == "f" and float(tempo[0][1][0]) > 0
    assert not any(a.startswith("/stage/") for a, _, _ in heard)


def test_stage_demo_osc_flags_fire_qlab_cues_per_section(oscdump_udp, tmp_path: Path) -> None:
    from stage.cli import main

    dump, port = oscdump_udp
    code = main(["demo", "--no-wav", "-o", str(tmp_path), "--osc", f"127.0.0.1:{port}",
                 "--osc-preset", "qlab"])
    assert code == 0
    heard = []
    while True:
        try:
            heard.append(parse(dump.next(timeout=1.0)))
        except queue.Empty:
            break
    numbers = [int(address.split("/")[2]) for address, _, _ in heard]
    assert heard and all(a.startswith("/cue/") and a.endswith("/start") for a, _, _ in heard)
    assert numbers[0] == 1
    # A new section takes the next number; a section heard before keeps its own.
    assert all(n <= max(numbers[:i], default=0) + 1 for i, n in enumerate(numbers))
    assert max(numbers) >= 4


def test_tcp_slip_cues_reach_oscdump_as_qlab_would_get_them(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_STREAM)
    dump = OscDump(f"osc.tcp://:{port}")
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while True:  # liblo listens after a moment
            try:
                output = OscOutput(f"tcp://127.0.0.1:{port}", "qlab")
                break
            except ConnectionError:
                assert time.monotonic() < deadline, "oscdump never listened on TCP"
                time.sleep(0.05)
        render_first_bars(tmp_path, output, bars=12)
        heard = [parse(dump.next()) for _ in range(output.messages_sent)]
    finally:
        dump.stop()
    assert output.messages_sent >= 2
    assert [a for a, _, _ in heard][:2] == ["/cue/1/start", "/cue/2/start"]
    assert all(kinds == "" for _, kinds, _ in heard)


def test_live_bundles_carry_each_beats_due_time(oscdump_udp) -> None:
    """Live (real clock) in bundle mode: liblo holds each bundle to its timetag, which must
    be the beat's due wall time, exactly one beat apart at the song's tempo."""
    from stage.commands._songs import song_plugins
    from stage.engine.setlist import Song
    from stage.engine.show import play_show_live
    from stage.engine.state import Meter

    dump, port = oscdump_udp
    song = Song(title="click", tempo=240.0, meter=Meter(), key=None, style="pop-rock",
                form=(), sections={})
    plugins = song_plugins(song, follow=False, live=True, cues=True)
    plugins.max_bars = 1
    output = OscOutput(f"127.0.0.1:{port}", "generic", mode="bundle", latency_ns=50_000_000)
    try:
        assert play_show_live([plugins], [output]) == 0
    finally:
        output.close()
    stamps = []
    for _ in range(output.messages_sent):
        line = dump.next()
        if parse(line)[0] == "/stage/beat":
            seconds, fraction = line.split()[0].split(".")
            stamps.append(int(seconds, 16) + int(fraction, 16) / 2**32)
    assert len(stamps) == 4
    for earlier, later in itertools.pairwise(stamps):
        assert later - earlier == pytest.approx(0.25, abs=2e-6)  # NTP and float rounding
