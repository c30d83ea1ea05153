"""OSC out: presets, UDP and SLIP-framed TCP on real sockets, bundles timetagged on time."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from pythonosc import slip
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from stage.engine.events import Cue, NoteOn
from stage.engine.prior import PriorFollower
from stage.engine.runner import Engine
from stage.engine.state import Meter
from stage.engine.time import PPQ, TempoMap, VirtualClock
from stage.visuals.cues import CueGenerator
from stage.visuals.osc import OscOutput, OscTarget
from stage.visuals.presets import PresetError, load_preset


@pytest.fixture
def udp_peer() -> socket.socket:
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(2.0)
    yield peer
    peer.close()


def received(peer: socket.socket, count: int) -> list[bytes]:
    return [peer.recvfrom(65536)[0] for _ in range(count)]


def test_targets_parse() -> None:
    assert OscTarget.parse("10.0.0.5:7000") == OscTarget("10.0.0.5", 7000, "udp")
    assert OscTarget.parse("tcp://qlab.local:53000") == OscTarget("qlab.local", 53000, "tcp")
    for bad in ("nohost", "host:", ":9000", "host:99999", "host:x"):
        with pytest.raises(ValueError):
            OscTarget.parse(bad)


def test_resolume_numbers_columns_by_first_appearance() -> None:
    preset = load_preset("resolume")
    sections = ["intro", "verse", "chorus", "verse", "outro"]
    got = [preset.translate(Cue(0, "/stage/section", (s,))) for s in sections]
    assert [m[0][0] for m in got] == [f"/composition/columns/{n}/connect"
                                     for n in (1, 2, 3, 2, 4)]
    assert preset.translate(Cue(0, "/stage/energy", (0.25,))) == [
        ("/composition/layers/1/video/opacity", (0.25,))]
    assert preset.translate(Cue(0, "/stage/tempo", (98.5,))) == [
        ("/composition/tempocontroller/tempo", (98.5,))]
    assert preset.translate(Cue(0, "/stage/beat", (1, 1))) == []


def test_touchdesigner_sends_floats_and_a_beat_pulse() -> None:
    preset = load_preset("touchdesigner")
    for cue in (Cue(0, "/stage/beat", (3, 7)), Cue(0, "/stage/bar", (7,)),
                Cue(0, "/stage/section", ("chorus",)), Cue(0, "/stage/tempo", (120.0,))):
        for _, args in preset.translate(cue):
            assert len(args) == 1 and isinstance(args[0], float)
    assert ("/stage/beat", (1.0,)) in preset.translate(Cue(0, "/stage/beat", (3, 7)))


def test_qlab_starts_a_cue_per_section_and_generic_passes_through() -> None:
    qlab = load_preset("qlab")
    assert qlab.translate(Cue(0, "/stage/section", ("verse",))) == [("/cue/1/start", ())]
    assert qlab.translate(Cue(0, "/stage/beat", (1, 1))) == []
    generic = load_preset("generic")
    cue = Cue(0, "/stage/poll/result", ("hype", 2, 0.5))
    assert generic.translate(cue) == [(cue.address, cue.args)]


def test_a_setlist_mapping_adds_rules_and_bad_presets_say_why(tmp_path: Path) -> None:
    preset = load_preset("qlab", extra={"/stage/bar": "/cue/bar{1}/start",
                                        "/stage/tempo": {"address": "/bpm", "args": ["$1:int"]}})
    assert preset.translate(Cue(0, "/stage/bar", (5,))) == [("/cue/bar5/start", (5,))]
    assert preset.translate(Cue(0, "/stage/tempo", (99.7,))) == [("/bpm", (99,))]
    with pytest.raises(PresetError, match="no preset"):
        load_preset("madmapper-9000")
    broken = tmp_path / "broken.toml"
    broken.write_text('[[rule]]\ncue = "/stage/beat"\naddress = "beat"\n')
    with pytest.raises(PresetError, match="address"):
        load_preset(broken)


def test_immediate_udp_sends_cues_only(udp_peer: socket.socket) -> None:
    port = udp_peer.getsockname()[1]
    output = OscOutput(f"127.0.0.1:{port}", "generic")
    assert output.accepts(Cue(0, "/stage/beat", (1, 1)))
    assert not output.accepts(NoteOn(0, 60, 100))
    output.send(Cue(0, "/stage/beat", (2, 3)))
    output.send(Cue(0, "/stage/section", ("chorus",)))
    output.send(NoteOn(0, 60, 100))  # not a cue: nothing goes out
    output.close()  # panic's note-offs and controllers must not reach the rig either
    first, second = (OscMessage(d) for d in received(udp_peer, 2))
    assert (first.address, first.params) == ("/stage/beat", [2, 3])
    assert (second.address, second.params) == ("/stage/section", ["chorus"])
    udp_peer.settimeout(0.2)
    with pytest.raises(TimeoutError):
        udp_peer.recvfrom(65536)


def test_bundles_leave_early_timetagged_with_the_due_wall_time(udp_peer: socket.socket) -> None:
    port = udp_peer.getsockname()[1]
    latency_ns = 30_000_000
    output = OscOutput(f"127.0.0.1:{port}", "generic", mode="bundle", latency_ns=latency_ns)
    tempo = TempoMap(120.0)
    clock = VirtualClock()
    sends: list[tuple[int, int]] = []
    engine = Engine(clock, tempo, PriorFollower(Meter()), [CueGenerator()], [output],
                    on_sent=lambda due, now: sends.append((due.due_ns, now)))
    engine.end_tick_limit = 2 * 4 * PPQ
    origin = 5_000_000_000
    clock.advance_to(origin)
    engine.start(origin_ns=origin)
    engine.run(threading.Event(), live=False)
    # The scheduler hands each cue over ``latency_ns`` before it is due (those due within
    # the latency of the start go at once).
    assert len(sends) > 8
    assert all(now - origin == max(due, 0) for due, now in sends)
    assert {due for due, _ in sends} >= {i * 500_000_000 - latency_ns for i in range(8)}
    bundles = [OscBundle(d) for d in received(udp_peer, len(sends))]
    beats = [(b.timestamp, m.params) for b in bundles for m in b
             if m.address == "/stage/beat"]
    assert [params for _, params in beats] == [[i % 4 + 1, i // 4 + 1] for i in range(8)]
    for index, (stamp, _) in enumerate(beats):
        due_wall_s = (origin + index * 500_000_000 + output.wall_offset_ns) / 1e9
        assert stamp == pytest.approx(due_wall_s, abs=1e-6)


def test_tcp_frames_messages_with_slip() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(2.0)
    port = server.getsockname()[1]
    chunks: list[bytes] = []

    def serve() -> None:
        connection, _ = server.accept()
        connection.settimeout(2.0)
        with connection:
            while data := connection.recv(4096):
                chunks.append(data)

    peer = threading.Thread(target=serve, daemon=True)
    peer.start()
    output = OscOutput(f"tcp://127.0.0.1:{port}", "qlab")
    output.send(Cue(0, "/stage/section", ("intro",)))
    output.send(Cue(0, "/stage/beat", (1, 1)))  # qlab ignores beats
    output.send(Cue(0, "/stage/section", ("verse",)))
    time.sleep(0.05)  # let the stream drain before closing (order, not timing, is tested)
    output.close()
    peer.join(timeout=2.0)
    server.close()
    stream = b"".join(chunks)
    frames = [f for f in stream.split(slip.END) if f]
    assert [OscMessage(slip.decode(slip.END + f + slip.END)).address for f in frames] == [
        "/cue/1/start", "/cue/2/start"]


def test_tcp_peer_missing_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError, match="cannot connect"):
        OscOutput(f"tcp://127.0.0.1:{port}", "qlab")


def test_tcp_peer_that_hangs_up_drops_cues_without_stopping_the_show(caplog) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    output = OscOutput(f"tcp://127.0.0.1:{server.getsockname()[1]}", "generic")
    connection, _ = server.accept()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    connection.close()  # a reset: QLab quit
    server.close()
    cue = Cue(0, "/stage/beat", (1, 1))
    for _ in range(50):
        output.send(cue)
        if output.messages_dropped:
            break
        time.sleep(0.01)
    for _ in range(20):
        output.send(cue)
    output.close()
    assert output.messages_dropped >= 20
    assert len([r for r in caplog.records if "peer gone" in r.message]) == 1


def test_tcp_peer_that_stalls_never_blocks_the_sender() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    output = OscOutput(f"tcp://127.0.0.1:{server.getsockname()[1]}", "generic")
    connection, _ = server.accept()  # accepted, never read: the buffers fill up
    big = Cue(0, "/stage/section", ("x" * 60_000,))
    for _ in range(2000):
        output.send(big)
        if output.messages_dropped:
            break
    assert output.messages_dropped >= 1 and output.messages_sent >= 1
    output.close()
    connection.close()
    server.close()
