"""The audio follower's beat model: features, the ONNX net, the causal decoder, fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio_signals import RATE, write_midi

from stage.engine.follow.audio_beat import _LATE_S, CONFIRM_FRAMES, NeuralBeats
from stage.engine.follow.audio_beat_features import FEATURES, BeatFeatures
from stage.engine.follow.audio_beat_model import (
    BeatActivations,
    BeatModel,
    load_beat_model,
    weights_folder,
)
from stage.engine.follow.audio_follow import AUDIO_LATE_BEATS, AudioFollower
from stage.engine.follow.audio_offline import follow_samples
from stage.engine.state import Meter

HAVE_WEIGHTS = (weights_folder() / "beats.json").exists()
needs_weights = pytest.mark.skipif(not HAVE_WEIGHTS, reason="no shipped beat model")


def _pulses(beat_times: np.ndarray, seconds: float, hop: float = 0.01) -> BeatActivations:
    """Activations as the net gives them on clear beats: high on a beat's frame, low else."""
    times = (np.arange(int(seconds / hop)) + 1) * hop
    beat = np.full(len(times), 0.02)
    beat[np.floor(beat_times / hop).astype(int)] = 0.9
    return BeatActivations(times, beat, np.zeros(len(times)))


def test_features_do_not_depend_on_the_sample_rate() -> None:
    rng = np.random.default_rng(3)
    seconds = 3.0
    t48 = np.arange(int(48_000 * seconds)) / 48_000
    t16 = t48[::3]
    bursts = (np.sin(2 * np.pi * 2 * t48) > 0.95).astype(float)

    def signal(t: np.ndarray, burst: np.ndarray) -> np.ndarray:
        return np.asarray(0.3 * np.sin(2 * np.pi * 220 * t) * burst
                          + 0.2 * np.sin(2 * np.pi * 1320 * t))

    low, _ = BeatFeatures(16_000).push(signal(t16, bursts[::3]))
    high = np.concatenate([BeatFeatures.push(front, block)[0] for front in [BeatFeatures(48_000)]
                           for block in np.array_split(signal(t48, bursts), 97)])
    assert low.shape == high.shape == (300, FEATURES)
    assert np.corrcoef(low.ravel(), high.ravel())[0, 1] > 0.999
    assert rng is not None


def test_features_are_causal_and_blocks_do_not_matter() -> None:
    rng = np.random.default_rng(5)
    samples = rng.standard_normal(RATE * 2) * 0.1
    whole, times = BeatFeatures(RATE).push(samples)
    front = BeatFeatures(RATE)
    parts = [front.push(samples[i:i + 300]) for i in range(0, len(samples), 300)]
    assert np.allclose(whole, np.concatenate([p[0] for p in parts]), atol=1e-5)
    assert np.allclose(times, np.concatenate([p[1] for p in parts]))
    # A frame stamped t is the same whatever comes after t.
    cut, _ = BeatFeatures(RATE).push(samples[: RATE])
    assert np.allclose(cut, whole[: len(cut)], atol=1e-5)
    assert times[0] == pytest.approx(0.01)


def test_decoder_decides_each_beat_within_50_ms_of_it() -> None:
    beats_at = np.arange(0.5, 20.0, 0.5)
    decoder = NeuralBeats(0.55)  # the setlist says 109 bpm; it is 120
    beats = decoder.hear(_pulses(beats_at, 20.5))
    times = np.array([b.time for b in beats])
    assert len(beats) >= len(beats_at) - 2
    late = [b for b in beats if 3.0 < b.time < beats_at[-1] + 0.1]
    for beat in late:
        assert np.abs(beats_at - beat.time).min() < 0.025  # two frames
    for beat in beats:
        assert 0.0 < beat.decided_at - beat.time <= 0.05
        assert beat.decided_at - beat.time == pytest.approx((CONFIRM_FRAMES + 0.5) * 0.01 - _LATE_S,
                                                            abs=0.0105)
    assert [b.index for b in beats] == list(range(len(beats)))
    assert beats[-1].time < beats_at[-1] + 0.1 or not beats[-1].played  # believed, not heard
    assert decoder.bpm == pytest.approx(120.0, abs=2.5)
    assert np.median(np.diff(times)) == pytest.approx(0.5, abs=0.011)


def test_decoder_follows_a_tempo_change_and_is_causal() -> None:
    first = np.arange(0.5, 12.0, 0.5)
    second = first[-1] + np.cumsum(np.full(20, 0.44))
    beats_at = np.concatenate([first, second])
    activations = _pulses(beats_at, 21.0)
    beats = NeuralBeats(0.5).hear(activations)
    late = [b for b in beats if second[6] < b.time < second[-1] + 0.1]
    assert late and all(np.abs(second - b.time).min() < 0.02 for b in late)
    # Causality: the beats decided by 10 s are the same without the activations after it.
    cut = int(10.0 / 0.01)
    head = NeuralBeats(0.5).hear(BeatActivations(activations.times[:cut],
                                                 activations.beat[:cut],
                                                 activations.downbeat[:cut]))
    assert head == [b for b in beats if b.decided_at <= activations.times[cut - 1] + 1e-9]


def test_no_beats_in_silence() -> None:
    times = (np.arange(800) + 1) * 0.01
    quiet = BeatActivations(times, np.full(800, 0.01), np.zeros(800))
    assert NeuralBeats(0.5).hear(quiet) == []


def test_without_weights_onsets_alone_follow(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from audio_signals import clicks

    monkeypatch.setenv("STAGE_MODEL_WEIGHTS", str(tmp_path))
    assert load_beat_model() is None
    done = follow_samples(clicks(120, 8.0), RATE, Meter(4, 4), 120.0)
    gaps = np.diff([b["time"] for b in done.result["beats"] if b["time"] > 3.0])
    assert abs(float(np.median(gaps)) - 0.5) < 0.01
    assert AudioFollower(Meter(), 120.0).neural is None


@needs_weights
def test_onnx_and_torch_agree_and_state_carries_across_blocks() -> None:
    torch = pytest.importorskip("torch")
    from stage.engine.follow.audio_beat_train import load_checkpoint

    model = BeatModel()
    net = load_checkpoint(weights_folder() / model.card["checkpoint"])
    rng = np.random.default_rng(11)
    features = np.abs(rng.standard_normal((250, FEATURES))).astype(np.float32) * 2
    with torch.no_grad():
        logits, _ = net(torch.from_numpy(features)[None], net.initial_state(1))
        reference = torch.sigmoid(logits)[0].numpy()
    model.reset()
    whole = model.step(features)
    model.reset()
    stepped = np.concatenate([model.step(features[i:i + 7]) for i in range(0, 250, 7)])
    assert np.allclose(whole, reference, atol=1e-4)
    assert np.allclose(stepped, whole, atol=1e-4)


def _band_song(path: Path, bpm: float, bars: int) -> Path:
    """A pop accompaniment at ``bpm``: bass on every beat, chords on 1 and 3, a melody."""
    roots, thirds = [48, 45, 41, 43], [4, 3, 4, 4]
    notes = []
    for bar in range(bars):
        root = roots[bar % 4]
        for beat in range(4):
            tick = (bar * 4 + beat) * 480
            pitches = [(root - 12, 400)]
            if beat in (0, 2):
                pitches += [(root + 12, 800), (root + 12 + thirds[bar % 4], 800),
                            (root + 19, 800)]
            pitches += [(72 + (bar * 3 + beat * 2) % 7, 220)]
            notes += [(tick, length, pitch, 96) for pitch, length in pitches]
    return write_midi(path, bpm, notes)


@pytest.fixture(scope="module")
def band(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Twelve bars of :func:`_band_song` at 100 bpm rendered by FluidSynth at 48 kHz."""
    from stage.engine.follow.audio_offline import read_wav
    from stage.engine.ports.synth import SynthError, render_wav

    folder = tmp_path_factory.mktemp("band")
    try:
        render_wav(_band_song(folder / "b.mid", 100.0, 12), folder / "b.wav", sample_rate=RATE)
    except SynthError as exc:
        pytest.skip(f"no FluidSynth here: {exc}")
    samples, rate = read_wav(folder / "b.wav")
    assert rate == RATE
    return samples


BAND_BEATS = np.arange(48) * 0.6


def _check_followed(beats: list[dict[str, float]]) -> None:
    settled = [b for b in beats if 5.0 < b["time"] < BAND_BEATS[-1]]
    expected = len([t for t in BAND_BEATS if 5.0 < t < BAND_BEATS[-1]])
    assert len(settled) >= 0.9 * expected
    errors = [np.abs(BAND_BEATS - b["time"]).min() for b in settled]
    assert np.median(errors) < 0.03 and max(errors) < 0.07
    for beat in beats:  # a beat on a note within 50 ms of it; a rest once its wait is over
        latest = 0.05 if beat["played"] else AUDIO_LATE_BEATS * 0.6 + 0.01
        assert beat["time"] < beat["decided_at"] <= beat["time"] + latest
    assert sum(b["played"] for b in settled) >= 0.9 * len(settled)


@needs_weights
@pytest.mark.parametrize("model_decoder", [False, True])
def test_a_rendered_band_is_followed_with_the_model_within_50_ms(band: np.ndarray,
                                                                 model_decoder: bool) -> None:
    # The setlist says 92; it is 100. The beat pointer with the model marking onsets, or the
    # model's own decoder.
    done = follow_samples(band, RATE, Meter(4, 4), 92.0, model_decoder=model_decoder)
    _check_followed(done.result["beats"])


@needs_weights
def test_the_live_input_runs_the_model_and_the_follower_drains_it(band: np.ndarray) -> None:
    from stage.engine.audio import AudioInput
    from stage.engine.time import NS_PER_S, TempoMap

    audio = AudioInput(sample_rate=RATE, blocksize=128, pitch=False)
    assert audio.beat_listener is not None
    follower = AudioFollower(Meter(4, 4), 92.0, feed=audio, hop_s=audio.front.hop_s,
                             log_decisions=True)
    assert follower.neural is None  # the beat pointer, with the model's activations
    tempo = TempoMap(92.0)
    for start in range(0, len(band), 128):  # the analysis thread's reads, engine steps
        audio.analyse(band[start:start + 128].astype(np.float32))
        if start % 1024 == 0:
            follower.state(int((start + 128) / RATE * NS_PER_S), tempo)
    assert follower.log is not None
    beats = [{"time": b.time, "decided_at": b.decided_at, "played": b.played}
             for b in follower.log.beats]
    _check_followed(beats)
    assert follower.marked_by_model > 0  # the activations were drained and heard


def test_training_a_few_steps_ships_weights_the_stage_loads(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from stage.engine.follow.audio_beat_data import SongAudio
    from stage.engine.follow.audio_beat_train import BeatConfig, BeatRun, ship, train

    rng = np.random.default_rng(2)
    frames = 400
    beat = np.zeros(frames, np.float32)
    beat[::50] = 1.0
    features = rng.random((frames, FEATURES)).astype(np.float16)
    features[::50] += 3.0  # beats are loud frames
    song = SongAudio(1, features, beat, np.zeros(frames, np.float32))
    net, info = train([song], [song], BeatConfig(hidden=8, layers=1),
                      BeatRun(steps=3, batch=2, frames=200, every=3))
    assert [row["step"] for row in info["history"]] == [3]
    card = ship(net, info, tmp_path)
    model = BeatModel(tmp_path)
    assert model.card["checkpoint_sha256"] == card["checkpoint_sha256"]
    out = model.step(features[:100].astype(np.float32))
    assert out.shape == (100, 2) and np.all((out > 0) & (out < 1))
    (tmp_path / "beats.onnx").write_bytes(b"tampered")
    assert load_beat_model(tmp_path) is None  # a file that does not match its card


def test_rendering_in_several_processes_gives_the_same_songs(tmp_path: Path) -> None:
    from conftest import data_dir

    from stage.engine.follow.audio_beat_data import load_songs

    pop909 = data_dir() / "pop909"
    if not (pop909 / "001").is_dir():
        pytest.skip(f"POP909 not found at {pop909} (set STAGE_DATA)")
    numbers = [1, 2, 3]
    alone = load_songs(numbers, pop909, tmp_path / "one", seed=909)
    shared = load_songs(numbers, pop909, tmp_path / "two", seed=909, jobs=2)
    assert [s.number for s in shared] == numbers == [s.number for s in alone]
    for a, b in zip(alone, shared, strict=True):
        assert np.array_equal(a.features, b.features) and np.array_equal(a.beat, b.beat)
    again = load_songs(numbers, pop909, tmp_path / "two", seed=909, jobs=2)  # from the cache
    assert np.array_equal(again[2].downbeat, shared[2].downbeat)
