"""Faults a live show must survive, through the real `stage run` on a JACK dummy server:
kill -9 (the log reads back to within a second; --resume picks up at the song and bar),
SIGINT/SIGTERM again and again (all notes off on every output, every time), an output port
that goes away and comes back (the engine plays into it again), and xruns (counted, logged).
"""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TIMEOUT_S
from jack_peer import Keyboard, Synth, wait_for_port

from stage.commands.replay import replay
from stage.engine.showlog import read_log
from stage.engine.showlog.resume import resume_point

pytestmark = pytest.mark.jack
SHOW = Path(__file__).with_name("fixtures") / "faults_show.toml"


def _stage(*args: str) -> list[str]:
    return [sys.executable, "-m", "stage.cli", *args]


def _log_in(folder: Path) -> Path:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        logs = sorted(folder.glob("show-*.jsonl"))
        if logs:
            return logs[-1]
        time.sleep(0.05)
    raise AssertionError(f"no show log in {folder}")


def _wait_for_record(path: Path, check: Any, timeout: float = 3 * TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            data = read_log(path) if path.stat().st_size else None
            if data is not None and any(check(r) for r in data.records):
                return
        time.sleep(0.1)
    raise AssertionError(f"{path}: the record never came")


def _last_moment_ns(path: Path) -> int:
    """perf_counter (CLOCK_MONOTONIC) time of the latest record the log holds."""
    data = read_log(path)
    origin: dict[int, int] = {}
    latest = 0
    for record in data.records:
        if record["t"] == "song":
            origin[record["song"]] = record["mono_ns"]
        if "mono_ns" in record:
            latest = max(latest, record["mono_ns"])
        elif "ns" in record and record.get("song") in origin:
            latest = max(latest, origin[record["song"]] + record["ns"])
    return latest


@pytest.fixture
def synth(jack_server: str) -> Iterator[Synth]:
    peer = Synth("faultsynth")
    yield peer
    peer.close()


def test_kill_9_loses_under_a_second_and_resume_starts_at_the_song_and_bar(
        synth: Synth, tmp_path: Path) -> None:
    logs = tmp_path / "shows"
    proc = subprocess.Popen(_stage("run", "--api", "jack", "--out", "faultsynth",
                                   "--setlist", str(SHOW), "--no-audience",
                                   "--log-dir", str(logs)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        path = _log_in(logs)
        # into the second song, a few bars in: the first played out, the second did not
        _wait_for_record(path, lambda r: r["t"] == "bar" and r["song"] == 1 and r["bar"] >= 2)
        time.sleep(0.3)
        killed_at = time.perf_counter_ns()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed_at - _last_moment_ns(path) <= 1_000_000_000
    data = read_log(path)
    assert not data.complete  # no end record: it died
    point = resume_point(data)
    assert (point.song, point.setlist) == (1, SHOW.resolve())
    assert point.bar >= 2

    again = tmp_path / "again"
    resumed = subprocess.Popen(_stage("run", "--api", "jack", "--out", "faultsynth",
                                      "--resume", str(path), "--no-audience",
                                      "--log-dir", str(again)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        new_path = _log_in(again)
        _wait_for_record(new_path, lambda r: r["t"] == "bar")
        resumed.send_signal(signal.SIGINT)
        assert resumed.wait(timeout=TIMEOUT_S) == 0
    finally:
        if resumed.poll() is None:
            resumed.kill()
    new = read_log(new_path)
    assert new.header["resumed_from"]["song"] == 1
    assert new.header["resumed_from"]["bar"] == point.bar
    first_song = new.of("song")[0]
    assert (first_song["song"], first_song["title"], first_song["start_bar"]) == (
        1, "Long Two", point.bar)
    assert new.of("bar")[0]["bar"] == point.bar
    assert new.complete  # a clean stop writes the end record
    # the resumed (live, stopped by a signal) show replays exactly on the virtual clock
    report = replay(new_path, tmp_path / "replayed")
    assert report["exact"] and report["generated_events"] > 0


def _sounding(heard: list[list[int]]) -> set[tuple[int, int]]:
    sounding: set[tuple[int, int]] = set()
    for msg in heard:
        if msg[0] & 0xF0 == 0x90 and msg[2] > 0:
            sounding.add((msg[0] & 0x0F, msg[1]))
        elif msg[0] & 0xF0 == 0x80 or (msg[0] & 0xF0 == 0x90 and msg[2] == 0):
            sounding.discard((msg[0] & 0x0F, msg[1]))
    return sounding


def _until_the_band_plays(synth: Synth) -> list[list[int]]:
    heard: list[list[int]] = []
    deadline = time.monotonic() + 3 * TIMEOUT_S
    while not any(m[0] & 0xF0 == 0x90 and m[2] for m in heard):
        assert time.monotonic() < deadline, f"the band never played: {heard[-10:]}"
        with contextlib.suppress(queue.Empty):
            heard.append(synth.next(timeout=0.5)[1])
    return heard


def test_every_sigint_and_sigterm_ends_with_all_notes_off_on_every_output(
        jack_server: str, tmp_path: Path) -> None:
    first, second = Synth("outa"), Synth("outb")
    try:
        for run, sig in enumerate([signal.SIGINT, signal.SIGTERM, signal.SIGINT]):
            proc = subprocess.Popen(_stage("run", "--api", "jack", "--out", "outa",
                                           "--out", "outb", "--setlist", str(SHOW),
                                           "--no-audience", "--log-dir", str(tmp_path)),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
            try:
                heard_a = _until_the_band_plays(first)
                proc.send_signal(sig)
                assert proc.wait(timeout=TIMEOUT_S) == 0, proc.stderr.read()
            finally:
                if proc.poll() is None:
                    proc.kill()
            heard_a += first.drain(0.3)
            heard_b = second.drain(0.0)
            for name, heard in (("outa", heard_a), ("outb", heard_b)):
                assert _sounding(heard) == set(), f"run {run} {sig!r}: stuck on {name}"
                assert all([0xB0 | ch, 123, 0] in heard for ch in range(16)), (
                    f"run {run} {sig!r}: no all-notes-off on {name}")
    finally:
        first.close()
        second.close()


def test_the_engine_plays_into_an_output_port_that_went_away_and_came_back(
        jack_server: str, tmp_path: Path) -> None:
    synth = Synth("comeback")
    keyboard = Keyboard("comebackkbd")
    proc = subprocess.Popen(_stage("run", "--api", "jack", "--out", "comeback",
                                   "--in", "comebackkbd", "--setlist", str(SHOW),
                                   "--no-audience", "--log-dir", str(tmp_path)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port("stage-in")
        _until_the_band_plays(synth)
        synth.close()  # the synth's port is unregistered mid-show
        keyboard.close()  # and so is the keyboard's
        time.sleep(1.0)
        assert proc.poll() is None, "the engine stopped when its ports went away"
        synth = Synth("comeback")  # registered again under the same name
        keyboard = Keyboard("comebackkbd")
        heard = _until_the_band_plays(synth)
        assert any(m[0] & 0xF0 == 0x90 for m in heard)
        path = _log_in(tmp_path)
        deadline = time.monotonic() + 3 * TIMEOUT_S
        while not any(r["t"] == "in" and r["data"] == "904b64" for r in read_log(path).records):
            assert time.monotonic() < deadline, "the returned keyboard was never heard"
            keyboard.play(0x90, 0x4B, 0x64)
            keyboard.play(0x80, 0x4B, 0)
            time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=TIMEOUT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        synth.close()
        keyboard.close()


def test_xruns_are_counted_and_reported_in_the_show_log(jack_server: str,
                                                         tmp_path: Path) -> None:
    import jack

    from stage.engine.ports.xruns import XrunCounter

    counter = XrunCounter.open("test-xruns")
    assert counter is not None
    slow = jack.Client("slowpoke")
    stall = threading.Event()

    @slow.set_process_callback  # type: ignore[misc]
    def process(frames: int) -> None:
        if stall.is_set():
            time.sleep(0.02)  # far past the 2.67 ms period: the server overruns

    slow.activate()
    synth = Synth("xrunsynth")
    proc = subprocess.Popen(_stage("run", "--api", "jack", "--out", "xrunsynth",
                                   "--setlist", str(SHOW), "--no-audience",
                                   "--log-dir", str(tmp_path)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _until_the_band_plays(synth)
        time.sleep(0.3)
        before = counter.count  # joining clients may already have caused a few
        stall.set()
        time.sleep(0.3)
        stall.clear()
        time.sleep(0.2)
        during = counter.count - before
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
        slow.deactivate()
        slow.close()
        counter.close()
        synth.close()
    assert during > 0
    end = read_log(_log_in(tmp_path)).records[-1]
    assert end["t"] == "end" and end["xruns"] >= during  # the show counted every one
    assert f"xruns {end['xruns']}" in err
