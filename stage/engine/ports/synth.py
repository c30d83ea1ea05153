"""The built-in sound: FluidSynth with a General MIDI soundfont, so the band is heard with no
hardware synth — live through JACK audio, or offline from a MIDI file to a WAV file.

Live: :class:`FluidSynthOutput` is an :class:`~stage.engine.ports.base.Output`; FluidSynth's
JACK driver renders in JACK's process thread, and the engine thread only hands it events
(FluidSynth's API is thread-safe and each call is a queue push). Its ``latency_ns`` is what
JACK reports: one period of processing plus the playback port's own latency.

Offline: :func:`render_wav` plays a MIDI file (the engine's ``performance.mid``) through the
same synth on sample-exact block boundaries and writes 16-bit stereo WAV. It renders float
samples and rounds them itself (no dither), so the same file always gives the same bytes,
and it releases every note and pedal at the end, so the tail always decays to silence.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib.util
import logging
import os
import queue
import sys
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stage.engine.events import CC_ALL_NOTES_OFF, CC_SUSTAIN, Event, MidiBytes
from stage.engine.ports.base import Output

log = logging.getLogger(__name__)

SOUNDFONT_ENV = "STAGE_SOUNDFONT"
SYSTEM_SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),   # Debian: fluid-soundfont-gm
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
)
DEFAULT_GAIN = 0.5
"""FluidSynth's master gain: a full band (six parts) peaks near -3 dBFS, one note near -20."""
BLOCK_FRAMES = 1024
"""Largest block rendered at once offline (frames); events land between blocks exactly."""
SILENCE_HOLD_S = 0.5
OUTBOX_SIZE = 4096
"""Bound of the queue between the engine thread and the FluidSynth feeder thread."""
FEED_TIMEOUT_S = 2.0
MAX_TAIL_S = 20.0
"""Offline: after the last event, render until this long of silence, at most MAX_TAIL_S."""


class SynthError(RuntimeError):
    """FluidSynth or its soundfont or audio driver could not be set up."""


def find_soundfont(soundfont: str | Path | None = None) -> Path:
    """The GM soundfont to load: ``soundfont`` if given, else $STAGE_SOUNDFONT, else
    Debian's FluidR3_GM, else pretty_midi's small TimGM6mb when pretty_midi is installed.
    Raises SynthError saying how to get one."""
    if soundfont is not None:
        path = Path(soundfont)
        if not path.is_file():
            raise SynthError(f"soundfont {str(path)!r} does not exist")
        return path
    candidates = [Path(os.environ[SOUNDFONT_ENV])] if os.environ.get(SOUNDFONT_ENV) else []
    candidates += list(SYSTEM_SOUNDFONTS)
    candidates += _bundled_soundfonts()
    for path in candidates:
        if path.is_file():
            return path
    raise SynthError(
        "no General MIDI soundfont found: install Debian's fluid-soundfont-gm "
        "(apt-get install fluid-soundfont-gm, or `make setup`), or point "
        f"${SOUNDFONT_ENV} at an .sf2 file")


def _bundled_soundfonts() -> list[Path]:
    """pretty_midi's small GM soundfont, when pretty_midi is installed."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        return []
    return [Path(spec.origin).with_name("TimGM6mb.sf2")]


def _fluidsynth() -> Any:
    try:
        # pyfluidsynth prints where it found the library when $CI is set: stdout is ours
        # (`stage analyze --json` prints one JSON object there), so it goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            import fluidsynth
    except ImportError as exc:  # pyfluidsynth raises ImportError when libfluidsynth is absent
        raise SynthError(f"FluidSynth is not available ({exc}): apt-get install fluidsynth "
                         "and pip install pyfluidsynth") from None
    return fluidsynth


class SynthCore:
    """One FluidSynth instance with a GM soundfont loaded, taking raw MIDI bytes."""

    def __init__(self, soundfont: str | Path | None = None, sample_rate: int = 44100,
                 gain: float = DEFAULT_GAIN, **settings: Any) -> None:
        fluidsynth = _fluidsynth()
        self.soundfont = find_soundfont(soundfont)
        self.sample_rate = int(sample_rate)
        self.synth = fluidsynth.Synth(gain=float(gain), samplerate=float(sample_rate),
                                      channels=16, **settings)
        self.sfid = self.synth.sfload(str(self.soundfont))
        if self.sfid < 0:
            self.synth.delete()
            raise SynthError(f"FluidSynth could not load soundfont {str(self.soundfont)!r}")
        for channel in range(16):  # GM: piano everywhere, the drum kit on channel 10
            self.synth.program_select(channel, self.sfid, 128 if channel == 9 else 0, 0)
        self._write_float = fluidsynth._fl.fluid_synth_write_float
        self._write_float.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                      ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                                      ctypes.c_int, ctypes.c_int]
        self._write_float.restype = ctypes.c_int

    def play(self, data: bytes) -> None:
        """Apply one MIDI channel message (system and meta messages are ignored)."""
        if len(data) < 2 or data[0] < 0x80 or data[0] >= 0xF0:
            return
        status, channel = data[0] & 0xF0, data[0] & 0x0F
        synth = self.synth
        if status == 0x90 and len(data) >= 3 and data[2] > 0:
            synth.noteon(channel, data[1], data[2])
        elif status in (0x80, 0x90) and len(data) >= 3:
            synth.noteoff(channel, data[1])
        elif status == 0xB0 and len(data) >= 3:
            synth.cc(channel, data[1], data[2])
        elif status == 0xC0:
            synth.program_change(channel, data[1])
        elif status == 0xE0 and len(data) >= 3:
            synth.pitch_bend(channel, (data[1] | data[2] << 7) - 8192)

    def release_all(self) -> None:
        """Sustain off and all notes off on every channel: notes release, tails ring."""
        for channel in range(16):
            self.synth.cc(channel, CC_SUSTAIN, 0)
            self.synth.cc(channel, CC_ALL_NOTES_OFF, 0)

    def render(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames as float32, shape (frames, 2)."""
        block = np.zeros((frames, 2), dtype=np.float32)
        if frames > 0:
            pointer = block.ctypes.data
            self._write_float(self.synth.synth, frames, pointer, 0, 2, pointer, 1, 2)
        return block

    @property
    def active_voices(self) -> int:
        return int(self.synth.get_active_voice_count())

    def delete(self) -> None:
        self.synth.delete()


def to_pcm16(block: np.ndarray) -> bytes:
    """Float samples (-1..1) -> little-endian 16-bit PCM, rounded and clipped, no dither."""
    scaled = np.rint(np.clip(block, -1.0, 1.0) * 32767.0).astype("<i2")
    return scaled.tobytes()


@dataclass(frozen=True, slots=True)
class WavRender:
    """What :func:`render_wav` wrote: ``seconds`` of audio, ``music_seconds`` of it before
    the final release, its ``peak`` (0-1) and how many samples clipped."""

    path: Path
    sample_rate: int
    frames: int
    music_frames: int
    peak: float
    clipped_samples: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    @property
    def music_seconds(self) -> float:
        return self.music_frames / self.sample_rate


class _WavWriter:
    def __init__(self, wav: wave.Wave_write, sample_rate: int) -> None:
        self.wav = wav
        self.wav.setnchannels(2)
        self.wav.setsampwidth(2)
        self.wav.setframerate(sample_rate)
        self.frames = 0
        self.peak = 0.0
        self.clipped = 0

    def write(self, block: np.ndarray) -> float:
        """Write ``block``; return its peak (0-1)."""
        peak = float(np.max(np.abs(block))) if block.size else 0.0
        self.peak = max(self.peak, peak)
        self.clipped += int(np.count_nonzero(np.abs(block) > 1.0))
        self.wav.writeframes(to_pcm16(block))
        self.frames += len(block)
        return peak


def render_wav(midi_path: str | Path, wav_path: str | Path,
               soundfont: str | Path | None = None, sample_rate: int = 44100,
               gain: float = DEFAULT_GAIN) -> WavRender:
    """Render a MIDI file to 16-bit stereo WAV, deterministically and faster than real time.

    Every message lands on its exact frame (time in seconds from the file's tempo map x
    ``sample_rate``). After the last message all notes and pedals are released and the
    render goes on until the reverb has died (``SILENCE_HOLD_S`` of digital silence, at most
    ``MAX_TAIL_S``). Raises SynthError (no soundfont / FluidSynth) or OSError/ValueError
    for an unreadable MIDI file.
    """
    import mido

    midi = mido.MidiFile(str(midi_path))
    core = SynthCore(soundfont, sample_rate, gain)
    Path(wav_path).parent.mkdir(parents=True, exist_ok=True)
    try:
        with wave.open(str(wav_path), "wb") as wav:
            writer = _WavWriter(wav, core.sample_rate)
            seconds = 0.0
            for message in midi:  # merged tracks, .time = seconds since the previous message
                seconds += message.time
                _render_until(core, writer, round(seconds * core.sample_rate))
                if not message.is_meta:
                    core.play(bytes(message.bytes()))
            music_frames = writer.frames
            core.release_all()
            _render_tail(core, writer)
    finally:
        core.delete()
    log.info("rendered %s -> %s: %.1f s, peak %.3f", midi_path, wav_path,
             writer.frames / core.sample_rate, writer.peak)
    return WavRender(Path(wav_path), core.sample_rate, writer.frames, music_frames,
                     writer.peak, writer.clipped)


def _render_until(core: SynthCore, writer: _WavWriter, frame: int) -> None:
    while writer.frames < frame:
        writer.write(core.render(min(BLOCK_FRAMES, frame - writer.frames)))


def _render_tail(core: SynthCore, writer: _WavWriter) -> None:
    hold = round(SILENCE_HOLD_S * core.sample_rate)
    limit = writer.frames + round(MAX_TAIL_S * core.sample_rate)
    silent = 0
    while silent < hold and writer.frames < limit:
        peak = writer.write(core.render(BLOCK_FRAMES))
        silent = silent + BLOCK_FRAMES if peak < 0.5 / 32767 and core.active_voices == 0 else 0
    if silent < hold:
        log.warning("the render's tail did not decay to silence within %.0f s", MAX_TAIL_S)


# --- live -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class JackTiming:
    """The JACK server's ``sample_rate`` (Hz), ``period`` (frames per cycle) and the
    playback port's latency (frames) as the server reports them."""

    sample_rate: int
    period: int
    playback_latency: int

    @property
    def output_latency_ns(self) -> int:
        """From handing a note to FluidSynth to hearing it: a cycle to render it, then the
        playback latency."""
        return (self.period + self.playback_latency) * 1_000_000_000 // self.sample_rate


class _LatencyRange(ctypes.Structure):
    _fields_ = (("min", ctypes.c_uint32), ("max", ctypes.c_uint32))


def jack_timing(client_name: str = "stage-probe") -> JackTiming | None:
    """Ask the running JACK server (JACK_DEFAULT_SERVER honoured) for its timing; None
    when libjack is missing or no server runs. Never starts a server."""
    name = ctypes.util.find_library("jack")
    if name is None:
        return None
    jack = ctypes.CDLL(name)
    jack.jack_client_open.restype = ctypes.c_void_p
    jack.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int,
                                      ctypes.POINTER(ctypes.c_int)]
    for fn in ("jack_get_sample_rate", "jack_get_buffer_size", "jack_client_close"):
        getattr(jack, fn).argtypes = [ctypes.c_void_p]
    jack.jack_port_by_name.restype = ctypes.c_void_p
    jack.jack_port_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    jack.jack_port_get_latency_range.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                                 ctypes.POINTER(_LatencyRange)]
    status = ctypes.c_int(0)
    client = jack.jack_client_open(client_name.encode(), 0x01, ctypes.byref(status))  # no start
    if not client:
        return None
    try:
        latency = _LatencyRange(0, 0)
        port = jack.jack_port_by_name(client, b"system:playback_1")
        if port:
            jack.jack_port_get_latency_range(port, 1, ctypes.byref(latency))  # playback
        return JackTiming(int(jack.jack_get_sample_rate(client)),
                          int(jack.jack_get_buffer_size(client)), int(latency.max))
    finally:
        jack.jack_client_close(client)


class FluidSynthOutput(Output):
    """The band through FluidSynth, live. ``driver`` is FluidSynth's audio driver
    ("jack" by default; "pulseaudio", "alsa" ... where those exist); with JACK the client
    is called ``client_name`` and connects to the system playback ports when
    ``autoconnect``. Raises SynthError when the synth or its driver cannot start."""

    def __init__(self, soundfont: str | Path | None = None, *, driver: str = "jack",
                 client_name: str = "stage-synth", autoconnect: bool = True,
                 gain: float = DEFAULT_GAIN, sample_rate: int = 48000) -> None:
        super().__init__()
        self.name = f"fluidsynth:{driver}"
        timing = jack_timing(f"{client_name}-probe") if driver == "jack" else None
        if driver == "jack" and timing is None:
            raise SynthError("no JACK server is running (start one, e.g. "
                             "`jackd -R -d dummy -r 48000 -p 128`, or pick another driver)")
        settings: dict[str, Any] = {"audio.driver": driver}
        if driver == "jack":
            assert timing is not None
            sample_rate = timing.sample_rate
            settings.update({"audio.jack.id": client_name,
                             "audio.jack.autoconnect": int(autoconnect)})
        self.core = SynthCore(soundfont, sample_rate, gain, **settings)
        fluidsynth = _fluidsynth()
        self._driver = fluidsynth.new_fluid_audio_driver(self.core.synth.settings,
                                                         self.core.synth.synth)
        if not self._driver:
            self.core.delete()
            raise SynthError(f"FluidSynth's {driver} audio driver did not start")
        self._delete_driver = fluidsynth.delete_fluid_audio_driver
        period = timing.period if timing else int(self.core.synth.get_setting(
            "audio.period-size") or 64)
        self.latency_ns = timing.output_latency_ns if timing else (
            2 * period * 1_000_000_000 // self.core.sample_rate)
        log.info("FluidSynth (%s, %s) at %d Hz, latency %.2f ms", driver,
                 self.core.soundfont.name, self.core.sample_rate, self.latency_ns / 1e6)
        self.dropped = 0
        self._outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=OUTBOX_SIZE)
        self._feeder = threading.Thread(target=self._feed, name="fluidsynth-feed", daemon=True)
        self._feeder.start()

    def _send(self, event: Event, tick: int | None) -> None:
        """Hand the message to the feeder thread: FluidSynth's API takes the lock its audio
        thread holds while rendering a block, and the engine thread must never wait on it."""
        to_bytes = getattr(event, "to_bytes", None)
        if to_bytes is None or isinstance(event, MidiBytes):
            return  # whole Notes are the scheduler's to split; clock and sysex mean nothing here
        data: bytes = to_bytes()
        try:
            self._outbox.put_nowait(data)
        except queue.Full:
            if data[0] & 0xF0 in (0x80, 0xB0) or (data[0] & 0xF0 == 0x90 and data[2] == 0):
                self._outbox.put(data, timeout=FEED_TIMEOUT_S)  # never lose a release
            else:
                self.dropped += 1
                log.warning("FluidSynth feed full: note dropped (%d so far)", self.dropped)

    def _feed(self) -> None:
        while True:
            data = self._outbox.get()
            if data is None:
                return
            try:
                self.core.play(data)
            except Exception:  # one bad message must not silence the band
                log.exception("FluidSynth rejected %s", data.hex())

    def _close(self) -> None:
        try:  # after panic's releases, which are already queued
            self._outbox.put(None, timeout=FEED_TIMEOUT_S)
        except queue.Full:
            log.error("FluidSynth feed stuck at close")
        self._feeder.join(timeout=FEED_TIMEOUT_S)
        self.core.release_all()
        self._delete_driver(self._driver)
        self.core.delete()
