"""Run by test_audio_jack.py in its own process (PortAudio belongs to the probe process, so
its exit never meets a JACK server already gone): plays clicks and an A4 through JACK into
stage's AudioInput and prints what was heard as one JSON line. argv: server name."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import time

import numpy as np
import sounddevice as sd
from audio_signals import RATE, clicks, tone

from stage.engine.audio import AudioInput
from stage.engine.events import MidiMessage
from stage.engine.follow.audio_follow import AudioFollower
from stage.engine.state import Meter
from stage.engine.time import TempoMap


def main(server: str, timeout_s: float) -> None:
    signal = (clicks(120, 3.0, start_s=0.25) + tone(69, 3.0, level=0.2)).astype(np.float32)
    played = {"at": 0}

    def play(outdata: np.ndarray, frames: int, time_info: object, status: object) -> None:
        chunk = signal[played["at"]:played["at"] + frames]
        outdata[: len(chunk), 0] = chunk
        outdata[len(chunk):, 0] = 0.0
        played["at"] += frames

    inbox: queue.Queue[MidiMessage] = queue.Queue(maxsize=64)
    audio = AudioInput(None, RATE, blocksize=128)
    output = sd.OutputStream(samplerate=RATE, blocksize=128, channels=1, callback=play)
    follower = AudioFollower(Meter(), 120.0, feed=audio)
    tempo = TempoMap(120.0)
    heard: list[MidiMessage] = []
    try:
        audio.start(inbox)
        subprocess.run(["jack_connect", "-s", server, "PortAudio:out_0", "PortAudio:in_0"],
                       check=True, timeout=timeout_s)
        output.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and played["at"] < len(signal) + RATE // 4:
            time.sleep(0.05)  # the engine thread's cadence: drain features into the follower
            follower.state(time.perf_counter_ns() - audio.origin_ns, tempo)
    finally:
        output.stop()
        output.close()
        audio.close()
    while not inbox.empty():
        heard.append(inbox.get_nowait())
    print(json.dumps({
        "onsets": [o.time for o in follower.audio_onsets],
        "messages": [[m.port, *m.data] for m in heard],
        "overruns": audio.ring.overruns, "held_pitch": follower.fused.pitch,
        "cpu_s": audio.cpu_s, "audio_s": audio.front.now}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
