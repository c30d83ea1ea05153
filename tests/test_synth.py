"""The built-in sound: FluidSynth renders MIDI files to WAV exactly and deterministically,
never leaves a note ringing, and plays live through a real JACK server."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import mido
import numpy as np
import pytest
from conftest import ROOT, TIMEOUT_S

from stage.engine.ports import synth
from stage.engine.ports.synth import SynthError, find_soundfont, render_wav

try:
    SOUNDFONT: Path | None = find_soundfont()
except SynthError:
    SOUNDFONT = None
needs_soundfont = pytest.mark.skipif(SOUNDFONT is None, reason="no GM soundfont installed "
                                     "(make setup installs fluid-soundfont-gm)")
PPQ = 960


def performance(path: Path, notes: list[tuple[int, int, int, int, int]], bpm: float = 120.0,
                programs: dict[int, int] | None = None) -> Path:
    """A type-1, 960 PPQ file like the engine's performance.mid: a tempo track, then one
    track per channel; ``notes`` are (channel, pitch, velocity, start tick, length ticks);
    a length of 0 leaves the note without a note-off (a stuck note)."""
    midi = mido.MidiFile(type=1, ticks_per_beat=PPQ)
    tempo = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))])
    midi.tracks.append(tempo)
    for channel in sorted({n[0] for n in notes}):
        events: list[tuple[int, mido.Message]] = []
        if programs and channel in programs:
            events.append((0, mido.Message("program_change", channel=channel,
                                           program=programs[channel])))
        for ch, pitch, velocity, start, length in notes:
            if ch != channel:
                continue
            events.append((start, mido.Message("note_on", channel=ch, note=pitch,
                                               velocity=velocity)))
            if length:
                events.append((start + length, mido.Message("note_off", channel=ch,
                                                            note=pitch)))
        events.sort(key=lambda e: (e[0], e[1].type == "note_on"))
        track, now = mido.MidiTrack(), 0
        for tick, message in events:
            track.append(message.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    midi.save(str(path))
    return path


def samples(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (2, 2)
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    return rate, data


def first_sound(data: np.ndarray, level: int = 8) -> int:
    loud = np.flatnonzero(np.abs(data).max(axis=1) >= level)
    return int(loud[0]) if loud.size else -1


@needs_soundfont
@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
def test_notes_sound_where_they_are_and_the_tail_is_silent(tmp_path: Path,
                                                           sample_rate: int) -> None:
    # at 120 bpm a beat is 0.5 s: piano C4 on beat 2 for one beat, a kick on beat 4
    midi = performance(tmp_path / "p.mid", [(0, 60, 100, PPQ, PPQ), (9, 36, 110, 3 * PPQ, 120)])
    result = render_wav(midi, tmp_path / "p.wav", sample_rate=sample_rate)
    rate, data = samples(tmp_path / "p.wav")
    assert rate == sample_rate and len(data) == result.frames
    assert result.music_frames == round(1.5625 * sample_rate)  # the kick's note-off
    assert not data[: sample_rate // 2].any()  # nothing before the first note: digital zero
    onset = first_sound(data)
    assert sample_rate // 2 <= onset < sample_rate // 2 + sample_rate // 100  # within 10 ms
    piano = np.abs(data[onset: onset + sample_rate // 4]).max()
    assert piano > 1000  # well above -30 dBFS
    kick = np.abs(data[int(1.5 * sample_rate): int(1.6 * sample_rate)]).max()
    assert kick > 1000  # channel 10 is the GM drum kit
    hold = int(synth.SILENCE_HOLD_S * sample_rate)
    assert not data[-hold:].any()  # the tail decays to digital silence
    assert result.clipped_samples == 0 and 0 < result.peak < 1


@needs_soundfont
def test_render_is_deterministic(tmp_path: Path) -> None:
    midi = performance(tmp_path / "p.mid", [(0, 60, 90, 0, PPQ), (1, 43, 100, 0, 2 * PPQ),
                                            (9, 38, 100, PPQ, 60)], programs={1: 33})
    render_wav(midi, tmp_path / "a.wav")
    render_wav(midi, tmp_path / "b.wav")
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


@needs_soundfont
def test_a_stuck_note_in_the_file_is_released_at_the_end(tmp_path: Path) -> None:
    # an organ (program 20) sustains forever while held: only the final release ends it
    midi = performance(tmp_path / "p.mid", [(0, 60, 100, 0, 0), (0, 64, 100, 2 * PPQ, PPQ)],
                       programs={0: 19})
    result = render_wav(midi, tmp_path / "p.wav")
    rate, data = samples(tmp_path / "p.wav")
    end = result.music_frames
    assert end == round(1.5 * rate)
    assert np.abs(data[end - rate // 10: end]).max() > 500  # still sounding at the end
    assert result.frames - end < 10 * rate  # released, then the tail ran out
    assert not data[-int(synth.SILENCE_HOLD_S * rate):].any()


@needs_soundfont
def test_programs_change_the_sound(tmp_path: Path) -> None:
    piano = performance(tmp_path / "a.mid", [(0, 60, 100, 0, PPQ)])
    strings = performance(tmp_path / "b.mid", [(0, 60, 100, 0, PPQ)], programs={0: 48})
    render_wav(piano, tmp_path / "a.wav")
    render_wav(strings, tmp_path / "b.wav")
    _, a = samples(tmp_path / "a.wav")
    _, b = samples(tmp_path / "b.wav")
    n = min(len(a), len(b), 22050)
    assert np.abs(a[:n].astype(int) - b[:n].astype(int)).max() > 1000


@needs_soundfont
def test_renders_the_demo_performer_file(tmp_path: Path) -> None:
    performer = ROOT / "setlists" / "performers" / "pop909-031.mid"
    cut = mido.MidiFile(str(performer))
    for track in cut.tracks:  # keep the first 4 bars (480 PPQ, 124 bpm: 7.7 s)
        kept, now = mido.MidiTrack(), 0
        for message in track:
            now += message.time
            if now <= 4 * 4 * cut.ticks_per_beat:
                kept.append(message)
        track[:] = kept  # the note-offs after the cut are lost: render_wav must release
    cut.save(str(tmp_path / "cut.mid"))
    result = render_wav(tmp_path / "cut.mid", tmp_path / "cut.wav")
    rate, data = samples(tmp_path / "cut.wav")
    assert 7.0 < result.music_seconds < 8.0
    half = rate // 2
    music = data[rate: result.music_frames // half * half]  # after the pickup bar
    peaks = np.abs(music.reshape(-1, half, 2)).max(axis=(1, 2))
    assert len(peaks) >= 12 and (peaks > 300).all()  # music in every half second
    assert result.clipped_samples == 0
    assert not data[-int(synth.SILENCE_HOLD_S * rate):].any()


def test_no_soundfont_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(synth.SOUNDFONT_ENV, raising=False)
    monkeypatch.setattr(synth, "SYSTEM_SOUNDFONTS", (tmp_path / "none.sf2",))
    monkeypatch.setattr(synth, "_bundled_soundfonts", list)
    with pytest.raises(SynthError, match="fluid-soundfont-gm"):
        find_soundfont()
    with pytest.raises(SynthError, match="does not exist"):
        find_soundfont(tmp_path / "missing.sf2")
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"not a soundfont")
    monkeypatch.setenv(synth.SOUNDFONT_ENV, str(bad))
    assert find_soundfont() == bad
    with pytest.raises(SynthError, match="could not load soundfont"):
        synth.SynthCore()


# --- live through JACK -----------------------------------------------------------------

LIVE_PROBE = textwrap.dedent("""
    import json, queue, subprocess, sys, time
    import numpy as np
    import sounddevice as sd
    from stage.engine.events import NoteOff, NoteOn
    from stage.engine.ports.synth import FluidSynthOutput, jack_timing

    server = sys.argv[1]
    apis = sd.query_hostapis()
    jack = next(a for a in apis if "JACK" in a["name"])
    heard = queue.Queue()
    synth = FluidSynthOutput(client_name="stage-synth-test")
    ports = subprocess.run(["jack_lsp", "-c", "-s", server], capture_output=True,
                           text=True).stdout
    with sd.InputStream(device=jack["default_input_device"], channels=2, samplerate=48000,
                        blocksize=128, callback=lambda d, f, t, s: heard.put(d.copy())):
        names = subprocess.run(["jack_lsp", "-s", server], capture_output=True,
                               text=True).stdout.split()
        inputs = [n for n in names if n.startswith("PortAudio:in")]
        for source, sink in zip(["stage-synth-test:left", "stage-synth-test:right"], inputs):
            subprocess.run(["jack_connect", "-s", server, source, sink], check=True)
        time.sleep(0.3)
        while not heard.empty():
            heard.get()
        synth.send(NoteOn(0, 60, 100))
        synth.send(NoteOn(0, 67, 100))
        time.sleep(0.5)
        voices = synth.core.active_voices
        synth.send(NoteOff(0, 60))
        synth.close()  # 67 still held: close must release it
        time.sleep(2.5)
    blocks = [heard.get() for _ in range(heard.qsize())]
    audio = np.concatenate(blocks)
    timing = jack_timing()
    print(json.dumps({"ports": ports, "voices": voices, "latency_ns": synth.latency_ns,
                      "expected_ns": timing.output_latency_ns, "period": timing.period,
                      "note_peak": float(np.abs(audio[:24000]).max()),
                      "end_peak": float(np.abs(audio[-9600:]).max()),
                      "sounding": sorted(synth.sounding)}))
""")


@needs_soundfont
@pytest.mark.jack
def test_live_through_jack_is_heard_and_released(jack_server: str) -> None:
    if importlib.util.find_spec("sounddevice") is None:  # not imported here: PortAudio
        pytest.skip("sounddevice is not installed")     # belongs to the probe process
    if shutil.which("jack_connect") is None:
        pytest.skip("jack_connect is not installed")
    env = {**os.environ, "JACK_DEFAULT_SERVER": jack_server}
    result = subprocess.run([sys.executable, "-c", LIVE_PROBE, jack_server], env=env,
                            capture_output=True, text=True, timeout=TIMEOUT_S * 3, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    probe = json.loads(result.stdout.strip().splitlines()[-1])
    # FluidSynth's client plays into the system outputs
    assert "stage-synth-test:left\n   system:playback_1" in probe["ports"]
    assert probe["voices"] >= 2
    assert probe["latency_ns"] == probe["expected_ns"]
    assert probe["latency_ns"] >= probe["period"] * 1_000_000_000 // 48000
    assert probe["note_peak"] > 0.03  # heard through JACK
    assert probe["end_peak"] < 1e-4  # and silent after close released the held note
    assert probe["sounding"] == []


def test_live_without_jack_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "jack_timing", lambda name="": None)
    with pytest.raises(SynthError, match="no JACK server"):
        synth.FluidSynthOutput()
