"""The causal audio front-end on synthesized signals: onsets, pitch, chroma, loudness."""

from __future__ import annotations

import numpy as np
import pytest
from audio_signals import RATE, chord, clicks, tone

from stage.engine.audio import RingBuffer
from stage.engine.follow.audio_features import FrontEnd, hop_for
from stage.engine.follow.audio_pitch import PitchNotes


def _run(signal: np.ndarray, block: int = 128, rate: int = RATE):
    front = FrontEnd(rate)
    frames, onsets = [], []
    for start in range(0, len(signal), block):
        f, o = front.push(signal[start:start + block])
        frames += f
        onsets += o
    return front, frames, onsets


def test_hop_is_about_ten_ms() -> None:
    assert hop_for(48_000) == 512
    assert hop_for(44_100) == 512
    assert hop_for(22_050) == 256


@pytest.mark.parametrize("block", [64, 128, 256, 512, 1000])
def test_clicks_give_one_onset_each_on_time_whatever_the_block(block: int) -> None:
    signal = clicks(120, 4.0)
    _, _, onsets = _run(signal, block)
    expected = np.arange(0.5, 3.95, 0.5)
    assert len(onsets) == len(expected)
    errors = np.abs(np.array([o.time for o in onsets]) - expected)
    assert errors.max() < 0.016  # a hop and a half: the hop grid against the click
    for onset in onsets:  # causal: known after it happened, within a few hops
        assert onset.time < onset.known_at <= onset.time + 0.045


def test_onsets_are_the_same_however_the_signal_is_cut() -> None:
    signal = clicks(100, 3.0) + tone(57, 3.0, level=0.05)
    a = [o.time for o in _run(signal, 64)[2]]
    b = [o.time for o in _run(signal, 512)[2]]
    assert a == b


def test_a_new_bass_note_rises_the_bass_and_a_melody_note_over_it_does_not() -> None:
    # A low A (55 Hz) enters at 0.5 s and is held; a high A (880 Hz) enters at 1.5 s over it.
    signal = np.zeros(int(2.5 * RATE))
    bass, melody = tone(33, 2.0, level=0.3), tone(81, 1.0, level=0.3)
    signal[RATE // 2:] += bass
    signal[int(1.5 * RATE):] += melody
    _, _, onsets = _run(signal)
    # (A steady synthetic tone's leakage flickers into weak onsets between: not these.)
    entering, over = (min(onsets, key=lambda o: abs(o.time - at)) for at in (0.5, 1.5))
    assert abs(entering.time - 0.5) < 0.02 and abs(over.time - 1.5) < 0.02
    assert entering.bass_rise > 3.0  # from silence: many times the power
    assert abs(over.bass_rise) < 0.3  # the held bass is as loud as before


def test_a_struck_chord_attacks_more_of_the_spectrum_than_one_note() -> None:
    # One A4 at 0.5 s, then a four-note chord at the same loudness at 1.5 s, after silence.
    signal = np.zeros(int(2.5 * RATE))
    signal[RATE // 2:RATE // 2 + int(0.7 * RATE)] += tone(69, 0.7, level=0.3)
    signal[int(1.5 * RATE):] += chord([72, 76, 79, 84], 1.0)
    _, _, onsets = _run(signal)
    note, struck = (min(onsets, key=lambda o: abs(o.time - at)) for at in (0.5, 1.5))
    assert abs(note.time - 0.5) < 0.02 and abs(struck.time - 1.5) < 0.02
    # Four notes' partials grow where one note's do: the attack counts the bins that grew.
    assert struck.attack > 2.0 * note.attack > 0.0


def test_silence_has_no_onsets_no_pitch_no_chroma() -> None:
    _, frames, onsets = _run(np.zeros(RATE))
    assert onsets == []
    assert all(f.pitch is None and f.chroma.sum() == 0 for f in frames)


@pytest.mark.parametrize("pitch", [45, 57, 64, 69, 76, 84])
def test_yin_finds_the_pitch_of_a_harmonic_tone(pitch: int) -> None:
    _, frames, _ = _run(tone(pitch, 1.0))
    found = [f.pitch for f in frames[10:-10] if f.pitch is not None]
    assert len(found) > 0.8 * len(frames[10:-10])
    assert abs(float(np.median(found)) - pitch) < 0.2


def test_chroma_of_a_triad_names_its_tones() -> None:
    _, frames, _ = _run(chord([36, 60, 64, 67], 1.5))  # C major over a low C
    total = sum(f.chroma for f in frames)
    top = set(np.argsort(total)[-3:].tolist())
    assert top == {0, 4, 7}
    bass = sum(f.bass for f in frames)
    assert int(np.argmax(bass)) == 0


def test_louder_is_louder() -> None:
    _, quiet, _ = _run(tone(60, 0.5, level=0.02))
    _, loud, _ = _run(tone(60, 0.5, level=0.5))
    assert np.median([f.rms_db for f in loud]) > np.median([f.rms_db for f in quiet]) + 20


def test_pitch_notes_start_settle_and_always_end() -> None:
    signal = np.concatenate([tone(60, 0.5), tone(64, 0.5), np.zeros(RATE // 4), tone(67, 0.4)])
    _, frames, _ = _run(signal)
    notes = PitchNotes()
    events = [e for f in frames for e in notes.update(f)]
    events += notes.flush(frames[-1].time)
    ons = [e.pitch for e in events if e.velocity]
    offs = [e.pitch for e in events if not e.velocity]
    assert ons == [60, 64, 67]
    assert sorted(offs) == sorted(ons)
    assert notes.sounding is None


def test_ring_buffer_wraps_and_drops_whole_blocks_when_full() -> None:
    ring = RingBuffer(1000)
    data = np.arange(600, dtype=np.float32)
    assert ring.write(data)
    assert np.array_equal(ring.read(400), data[:400])
    assert ring.write(data)  # wraps around the end
    assert not ring.write(data)  # 800 waiting + 600 > 1000: dropped, counted
    assert ring.overruns == 1
    out = ring.read()
    assert np.array_equal(out, np.concatenate([data[400:], data]))
    assert ring.available == 0
