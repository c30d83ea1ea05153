"""Live audio through a real JACK server: a tone with clicks played into stage's audio input."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, TIMEOUT_S

from stage.engine.follow.audio_follow import AUDIO_PORT

pytestmark = pytest.mark.jack


def test_audio_in_through_jack_hears_clicks_and_a_sung_note(jack_server: str) -> None:
    if importlib.util.find_spec("sounddevice") is None:
        pytest.skip("sounddevice is not installed")
    if shutil.which("jack_connect") is None:
        pytest.skip("jack_connect is not installed")
    env = {**os.environ, "JACK_DEFAULT_SERVER": jack_server,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "audio_jack_probe.py"), jack_server,
         str(TIMEOUT_S)], env=env, capture_output=True, text=True, timeout=TIMEOUT_S * 3,
        cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["overruns"] == 0
    onsets = probe["onsets"]
    assert len(onsets) >= 4, onsets
    assert float(np.median(np.diff(onsets))) == pytest.approx(0.5, abs=0.02)
    messages = probe["messages"]
    assert messages and all(port == AUDIO_PORT for port, *_ in messages)
    ons = [m for m in messages if m[1] & 0xF0 == 0x90 and m[3] > 0]
    offs = [m for m in messages if m[1] & 0xF0 == 0x80]
    assert ons and ons[0][2] == 69  # the A4 the "singer" held
    assert len(offs) == len(ons)  # every note started was ended, at the latest at close
    assert probe["cpu_s"] < probe["audio_s"]  # analysis kept up with the stream
