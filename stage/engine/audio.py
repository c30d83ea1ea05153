"""Live audio input: a sounddevice stream, a ring buffer, and an analysis thread.

Threads (see ARCHITECTURE.md):
- PortAudio's callback copies each block (64-512 frames) into a preallocated ring buffer and
  stamps its arrival (``perf_counter_ns``). Nothing else: no allocation, no lock, no Python
  object per sample. When the analysis falls a whole ring behind, the block is dropped and
  counted, never blocking the callback.
- The analysis thread reads the ring, runs the causal front-end
  (:class:`~stage.engine.follow.audio_features.FrontEnd`; numpy releases the GIL for the
  FFTs) and the beat model (:class:`~stage.engine.follow.audio_beat_model.BeatListener`,
  onnxruntime on one thread, when its weights are there), keeps the features and beat
  activations for the follower (bounded deques, drained by
  :class:`~stage.engine.follow.audio_follow.AudioFollower` on the engine thread) and turns
  the sung or played pitch into note-on/note-off messages for the engine's inbox (port
  ``"audio"``), which the harmony voices answer like keys pressed.

The engine thread never waits on any of it. Feature times are seconds since the show's
origin: the stream's sample clock mapped onto ``perf_counter_ns`` by a
:class:`~stage.engine.audio_clock.SampleClock`, which follows the sound card's drift.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from stage.engine.audio_clock import SampleClock
from stage.engine.events import MidiMessage
from stage.engine.follow.audio_beat_model import BeatActivations, BeatListener, load_beat_model
from stage.engine.follow.audio_features import AudioFrame, AudioOnset, FrontEnd
from stage.engine.follow.audio_follow import AUDIO_PORT
from stage.engine.follow.audio_pitch import PitchEvent, PitchNotes
from stage.engine.ports.base import Input
from stage.engine.time import NS_PER_S

log = logging.getLogger(__name__)

BLOCK_SIZES = (64, 128, 256, 512)
"""Block sizes (frames) the input is made for."""
_FEATURE_HISTORY = 2048
"""Hops kept for the follower (about 20 s): the engine drains them every few ms."""
_BEAT_HISTORY = 512
"""Blocks of beat activations kept for the follower (at least 5 s of 10 ms frames)."""


class RingBuffer:
    """Single-producer, single-consumer float32 ring of ``capacity`` mono samples.

    The writer (the audio callback) only copies and advances ``written``; the reader only
    copies and advances ``read_count``. Each counter has one writer, so no lock is needed.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data = np.zeros(capacity, dtype=np.float32)
        self.written = 0
        self.read_count = 0
        self.overruns = 0  # blocks dropped because the reader fell a whole ring behind

    def write(self, block: np.ndarray) -> bool:
        """Copy ``block`` in; False (and counted) when it does not fit."""
        n = len(block)
        if n > self.capacity - (self.written - self.read_count):
            self.overruns += 1
            return False
        start = self.written % self.capacity
        first = min(n, self.capacity - start)
        self._data[start:start + first] = block[:first]
        if first < n:
            self._data[: n - first] = block[first:]
        self.written += n
        return True

    @property
    def available(self) -> int:
        return self.written - self.read_count

    def read(self, limit: int | None = None) -> np.ndarray:
        """Copy out what is waiting (at most ``limit`` samples)."""
        n = self.available if limit is None else min(limit, self.available)
        start = self.read_count % self.capacity
        first = min(n, self.capacity - start)
        out = np.empty(n, dtype=np.float32)
        out[:first] = self._data[start:start + first]
        if first < n:
            out[first:] = self._data[: n - first]
        self.read_count += n
        return out


class AudioInput(Input):
    """One channel of a sounddevice input ``device`` (name, index, or None for the default),
    analysed live. ``blocksize`` 64-512 frames; ``ring_s`` seconds of ring buffer.

    As an engine input it puts the pitch's notes into the inbox; as the follower's
    :class:`AudioFeed` it hands over the features (:meth:`drain`).
    """

    ends = False

    def __init__(self, device: str | int | None = None, sample_rate: int = 48_000,
                 blocksize: int = 128, channel: int = 0, ring_s: float = 2.0,
                 midi_channel: int = 0, pitch: bool = True, beat_model: bool = True) -> None:
        if blocksize not in BLOCK_SIZES:
            raise ValueError(f"block size must be one of {BLOCK_SIZES}")
        self.device = device
        self.name = f"audio:{device if device is not None else 'default'}"
        self.sample_rate = sample_rate
        self.blocksize = blocksize
        self.channel = channel
        self.midi_channel = midi_channel
        self.ring = RingBuffer(int(ring_s * sample_rate))
        self.front = FrontEnd(sample_rate)
        # The beat model runs here too, on the analysis thread (without the weights, the
        # follower's beat pointer hears onsets alone).
        model = load_beat_model() if beat_model else None
        self.beat_listener = BeatListener(sample_rate, model) if model is not None else None
        self.activations: deque[BeatActivations] = deque(maxlen=_BEAT_HISTORY)
        self.notes = PitchNotes() if pitch else None
        self.frames: deque[AudioFrame] = deque(maxlen=_FEATURE_HISTORY)
        self.onsets: deque[AudioOnset] = deque(maxlen=256)
        self.dropped_messages = 0
        self.status_flags = 0  # PortAudio over/underflow reports seen
        self.origin_ns = time.perf_counter_ns()
        self.clock = SampleClock(sample_rate)  # where the ring's samples fall in clock ns
        self._latency_ns = 0  # the stream's input latency, known once it is open
        self._inbox: queue.Queue[MidiMessage] | None = None
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.cpu_s = 0.0  # analysis thread CPU time so far (seconds)

    # -- Input ---------------------------------------------------------------------------
    def start(self, inbox: queue.Queue[MidiMessage]) -> None:
        """Deliver into ``inbox`` from now on; opens the stream on the first call (each song's
        engine calls it again with its own inbox and origin, the stream runs on)."""
        self.origin_ns = time.perf_counter_ns()  # the engine set its origin just before
        self._inbox = inbox
        self.frames.clear()
        self.onsets.clear()
        self.activations.clear()
        if self._stream is None:
            self._open()

    def _open(self) -> None:
        import sounddevice as sd

        self._stream = sd.InputStream(
            device=self.device, samplerate=self.sample_rate, blocksize=self.blocksize,
            channels=self.channel + 1, dtype="float32", callback=self._callback)
        self._latency_ns = int(float(self._stream.latency) * NS_PER_S)
        self._stream.start()
        self._thread = threading.Thread(target=self._analyse, name="audio-analysis",
                                        daemon=True)
        self._thread.start()
        log.info("audio input %s: %d Hz, %d-frame blocks, latency %.1f ms", self.name,
                 self.sample_rate, self.blocksize, 1000 * float(self._stream.latency))

    def close(self) -> None:
        """Stop the stream and the analysis thread; a note still sounding is ended."""
        self._stop.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:
                log.exception("closing audio input %s failed", self.name)
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self.notes is not None:
            self._send(self.notes.flush(self.front.now))

    # -- the callback: copy and stamp, nothing else ----------------------------------------
    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        arrived = time.perf_counter_ns() - self._latency_ns
        if status:
            self.status_flags += 1
        self.ring.write(indata[:, self.channel])
        self.clock.stamp(self.ring.written, arrived)

    # -- the analysis thread ---------------------------------------------------------------
    def _analyse(self) -> None:
        idle_s = 0.5 * self.blocksize / self.sample_rate
        while not self._stop.is_set():
            if self.ring.available < self.front.hop:
                time.sleep(idle_s)
                continue
            started = time.thread_time()
            try:
                self.analyse(self.ring.read())
            except Exception:
                log.exception("audio analysis failed; the block is skipped")
            self.cpu_s += time.thread_time() - started

    def analyse(self, samples: np.ndarray) -> None:
        """Run the front-end over ``samples``; keep features, send the pitch's notes."""
        frames, onsets = self.front.push(samples)
        self.frames.extend(frames)
        self.onsets.extend(onsets)
        if self.beat_listener is not None:
            activations = self.beat_listener.push(samples)
            if len(activations):
                self.activations.append(activations)
        if self.notes is not None:
            for frame in frames:
                self._send(self.notes.update(frame))

    def _send(self, events: list[PitchEvent]) -> None:
        inbox = self._inbox
        for event in events:
            status = (0x90 if event.velocity else 0x80) | self.midi_channel
            message = MidiMessage(time.perf_counter_ns(),
                                  bytes([status, event.pitch, event.velocity]), AUDIO_PORT)
            if inbox is None:
                continue
            try:
                inbox.put_nowait(message)
            except queue.Full:
                self.dropped_messages += 1
                log.warning("engine inbox full: audio note %d dropped", event.pitch)

    # -- AudioFeed -----------------------------------------------------------------------
    def drain(self) -> tuple[list[AudioFrame], list[AudioOnset]]:
        """Features analysed since the last call, times moved to seconds since the origin."""
        offset = self._offset_s()
        frames: list[AudioFrame] = []
        while self.frames:
            frame = self.frames.popleft()
            frames.append(dataclasses.replace(frame, time=frame.time + offset))
        onsets: list[AudioOnset] = []
        while self.onsets:
            onset = self.onsets.popleft()
            onsets.append(dataclasses.replace(onset, time=onset.time + offset,
                                              known_at=onset.known_at + offset))
        return frames, onsets

    def drain_beats(self) -> BeatActivations | None:
        """Beat activations since the last call (show seconds), or None without the model."""
        if self.beat_listener is None:
            return None
        blocks: list[BeatActivations] = []
        while self.activations:
            blocks.append(self.activations.popleft())
        if not blocks:
            return None
        offset = self._offset_s()
        return BeatActivations(np.concatenate([b.times for b in blocks]) + offset,
                               np.concatenate([b.beat for b in blocks]),
                               np.concatenate([b.downbeat for b in blocks]))

    def _offset_s(self) -> float:
        first = self.clock.first_sample_ns()
        return 0.0 if first is None else (first - self.origin_ns) / NS_PER_S
