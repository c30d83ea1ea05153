"""The audio follower: shared trackers fed by audio, fused with MIDI; `stage analyze FILE.wav`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from audio_signals import RATE, chord, clicks, write_midi
from conftest import ROOT, TIMEOUT_S

from stage.cli import main
from stage.engine.events import MidiMessage
from stage.engine.follow.audio_features import FrontEnd
from stage.engine.follow.audio_follow import AUDIO_PORT, AudioFollower
from stage.engine.follow.audio_offline import follow_samples, read_wav
from stage.engine.state import Meter
from stage.engine.time import NS_PER_S, TempoMap


def _write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


@pytest.mark.parametrize(("beat_model", "within_s"), [(False, 0.015), (True, 0.025)])
def test_a_click_track_is_followed_from_a_wrong_tempo_prior(beat_model: bool,
                                                            within_s: float) -> None:
    # The beat model's stamps are calibrated on POP909's piano (20 ms after the frame's
    # middle), a click's attack is sharper: its beats land up to 2.5 frames late on clicks.
    done = follow_samples(clicks(120, 12.0, accent_every=4), RATE, Meter(4, 4), 108.0,
                          beat_model=beat_model)
    beats = [b for b in done.result["beats"] if b["time"] > 4.0]  # after settling
    clicks_at = np.arange(0.5, 12.0, 0.5)
    errors = [np.abs(clicks_at - b["time"]).min() for b in beats]
    assert len(beats) >= 14
    assert np.median(errors) < within_s
    assert abs(float(np.median(np.diff([b["time"] for b in beats]))) - 0.5) < 0.01
    for beat in done.result["beats"]:  # causal: decided after the beat, soon after
        assert beat["time"] <= beat["decided_at"] <= beat["time"] + 0.3
    assert done.result["tempo"][-1]["bpm"] == pytest.approx(120.0, abs=3.0)


def test_chords_and_key_come_from_the_audio() -> None:
    # C major then G major, two bars each, over clicks at 120 bpm, twice.
    bars = [chord([48, 52, 55, 60, 64], 4.0), chord([43, 50, 55, 59, 62], 4.0)] * 2
    signal = np.concatenate(bars) + clicks(120, 16.0, start_s=0.0)
    done = follow_samples(signal, RATE, Meter(4, 4), 120.0)
    labels = [c["label"].split("/")[0] for c in done.result["chords"]]
    assert "C:maj" in labels and "G:maj" in labels
    for decided in done.result["chords"]:
        assert decided["decided_at"] >= decided["start"]
    assert done.result["key"] and done.result["key"][-1]["label"] in ("C:maj", "G:maj")


def test_loudness_sets_the_dynamics() -> None:
    def dynamics(level: float) -> float:
        follower = AudioFollower(Meter(), 120.0)
        front = FrontEnd(RATE)
        tempo = TempoMap(120.0)
        frames, onsets = front.push(level * clicks(120, 4.0) + level * chord([60, 64, 67], 4.0))
        follower.hear_audio(frames, onsets, int(4 * NS_PER_S), tempo)
        return follower.state(int(4 * NS_PER_S), tempo).dynamics

    assert dynamics(1.0) > dynamics(0.05) + 0.1


def test_midi_and_audio_are_fused_and_audio_notes_not_heard_twice() -> None:
    follower = AudioFollower(Meter(), 120.0)
    tempo = TempoMap(120.0)
    front = FrontEnd(RATE)
    frames, onsets = front.push(chord([57, 60, 64], 1.0))  # A minor in the audio
    follower.hear_audio(frames, onsets, NS_PER_S, tempo)
    follower.hear(MidiMessage(NS_PER_S, bytes([0x90, 45, 100]), "keys"), NS_PER_S, tempo)
    follower.hear(MidiMessage(NS_PER_S, bytes([0x90, 81, 100]), AUDIO_PORT), NS_PER_S, tempo)
    state = follower.state(NS_PER_S + 1000, tempo)
    assert 45 in state.held  # the MIDI note
    assert 81 not in state.held  # the audio's own note is in the features, not the record
    chroma, bass = follower.notes.weights(0.0, 1.5)
    assert bass == 45  # MIDI's bass note, exact, wins over the audio's bass estimate
    assert set(np.argsort(chroma)[-3:].tolist()) == {9, 0, 4}


def _short_performance(path: Path) -> Path:
    """Eight bars at 120 bpm: a bass on every beat, chords on 1 and 3 (C, Am, F, G)."""
    thirds = [4, 3, 4, 4]
    notes = []
    for bar, root in enumerate([48, 45, 41, 43] * 2):
        for beat in range(4):
            pitches = [root - 12]
            if beat in (0, 2):
                pitches += [root, root + thirds[bar % 4], root + 7]
            notes += [((bar * 4 + beat) * 480, 400, pitch, 100) for pitch in pitches]
    return write_midi(path, 120.0, notes)


def test_stage_analyze_a_rendered_wav(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stage.engine.ports.synth import SynthError, render_wav

    try:
        render_wav(_short_performance(tmp_path / "p.mid"), tmp_path / "p.wav", sample_rate=RATE)
    except SynthError as exc:
        pytest.skip(f"no FluidSynth here: {exc}")
    assert main(["analyze", str(tmp_path / "p.wav"), "--json", "--tempo", "112"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"beats", "chords", "key", "tempo", "grid", "audio"} <= result.keys()
    for beat in result["beats"]:
        assert set(beat) == {"time", "decided_at", "downbeat", "played"}
        assert beat["decided_at"] >= beat["time"]
    times = np.array([b["time"] for b in result["beats"] if 4.0 < b["time"] < 16.0])
    assert abs(float(np.median(np.diff(times))) - 0.5) < 0.02
    assert np.median(np.abs(((times + 0.25) % 0.5) - 0.25)) < 0.03  # on the played beats
    roots = {c["label"].split(":")[0] for c in result["chords"]}
    assert {"C", "A", "F", "G"} <= roots
    assert result["audio"]["sample_rate"] == RATE
    assert 0 < result["audio"]["cpu_share"] < 1


def test_analyze_rejects_what_is_not_a_wav(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF....not a wave at all")
    assert main(["analyze", str(bad), "--json"]) == 2
    assert "noise.wav" in capsys.readouterr().err


def test_read_wav_mixes_to_mono(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        frames = np.array([[16384, 0]] * 10, dtype="<i2")
        wav.writeframes(frames.tobytes())
    samples, rate = read_wav(path)
    assert rate == RATE and len(samples) == 10
    assert samples[0] == pytest.approx(0.25)


def test_ticks_per_beat_prior_is_respected() -> None:
    # 6/8: the prior is in eighth notes; the tracker beat is an eighth.
    done = follow_samples(clicks(180, 8.0), RATE, Meter(6, 8), 180.0)
    assert done.result["meter"] == "6/8"
    gaps = np.diff([b["time"] for b in done.result["beats"] if b["time"] > 3.0])
    assert abs(float(np.median(gaps)) - 1 / 3) < 0.01


def test_run_with_an_unknown_audio_device_is_a_clear_error() -> None:
    # Its own process: PortAudio is never initialised in the test process (at exit it would
    # meet the session's JACK server gone, and abort).
    pytest.importorskip("sounddevice")
    env = {k: v for k, v in os.environ.items() if k != "JACK_DEFAULT_SERVER"}
    env["JACK_NO_START_SERVER"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "stage.cli", "run", "--audio-in", "no-such-audio-device-xyz",
         "--no-audience"], env=env, capture_output=True, text=True, timeout=TIMEOUT_S * 3,
        cwd=ROOT)
    assert result.returncode == 2, result.stderr[-1000:]
    assert "--audio-in no-such-audio-device-xyz" in result.stderr


def test_an_onsets_activation_is_read_on_until_its_group_closes() -> None:
    from stage.engine.follow.audio_beat_model import BeatActivations
    from stage.engine.follow.audio_features import AudioOnset
    from stage.engine.follow.onsets import ONSET_MERGE_S

    follower = AudioFollower(Meter(4, 4), 120.0)
    tempo = TempoMap(120.0)
    heard_to = 0.0

    def hear(until: float, peak_at: float | None = None,
             onsets: list[AudioOnset] | None = None) -> None:
        nonlocal heard_to
        times = np.arange(round(heard_to * 100) + 1, round(until * 100) + 1) * 0.01
        beat = np.full(len(times), 0.1)
        if peak_at is not None:
            beat[np.argmin(np.abs(times - peak_at))] = 0.8  # the model hears a beat there
        follower.hear_audio([], onsets or [], int(until * NS_PER_S), tempo,
                            BeatActivations(times, beat, np.zeros(len(times))))
        heard_to = until

    # Known at 1.02 s with nothing heard yet; the model hears the beat at 1.03 s, before
    # the group closes (1.035 s): the onset marks the beat.
    hear(1.02, onsets=[AudioOnset(1.0, 1.02, 0.8, False)])
    assert follower.marked_by_model == 0
    hear(1.1, peak_at=1.03)
    assert follower.marked_by_model == 1
    # Heard only after its group closed, the activation is not the onset's.
    hear(1.52, onsets=[AudioOnset(1.5, 1.52, 0.8, False)])
    hear(1.6, peak_at=1.5 + ONSET_MERGE_S + 0.02)
    assert follower.marked_by_model == 1
