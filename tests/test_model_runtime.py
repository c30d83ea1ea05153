"""The shipped models: their weights match their cards, torch and onnxruntime agree, the
decoding of a bar, and the provenance every note carries."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from stage.accompany.model.nets import (
    Accompanist,
    AccompanistConfig,
    ChordConfig,
    ChordPredictor,
)
from stage.accompany.model.runtime import (
    WEIGHTS_DIR,
    AccompanistRuntime,
    BarRequest,
    ChordRuntime,
    HeardNote,
    WeightsError,
    decode_bar,
    load_card,
    request_features,
)
from stage.accompany.model.vocab import LOW_PITCH, PITCHES, STEPS_PER_BAR
from stage.engine.harmony import Chord, Key


def _request(bar_tick: int = 8 * 3840) -> BarRequest:
    melody = tuple(HeardNote(bar_tick - 3840 * 2 + i * 480, bar_tick - 3840 * 2 + i * 480 + 400,
                             64 + (i % 5), 90) for i in range(10))
    own = tuple((bar_tick - 3840 + i * 960, 48 + i) for i in range(4))
    chords = (Chord(9, "min"),) * 8 + (Chord(5, "maj"),) * 8
    return BarRequest(bar_tick, melody, own, chords, 0.6, 0.5, "block", "main_a",
                      Key(0, "maj"))


@pytest.mark.parametrize("name", ["accompanist", "chords"])
def test_shipped_weights_match_their_cards(name: str) -> None:
    card = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
    for file_key, sha_key in (("checkpoint", "checkpoint_sha256"), ("onnx", "onnx_sha256")):
        data = (WEIGHTS_DIR / card[file_key]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == card[sha_key]
    assert card["history"], "the card keeps the training's loss log"
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.iterdir() if p.is_file())
    assert total <= 10 * 1024 * 1024


def test_a_tampered_onnx_file_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    card, onnx_path = load_card("chords")
    (tmp_path / "chords.json").write_text(json.dumps(card))
    (tmp_path / card["onnx"]).write_bytes(onnx_path.read_bytes() + b"\0")
    with pytest.raises(WeightsError):
        ChordRuntime(tmp_path)


def test_torch_and_onnxruntime_agree_on_the_accompanist() -> None:
    runtime = AccompanistRuntime()
    state = torch.load(WEIGHTS_DIR / runtime.card["checkpoint"], weights_only=True)
    model = Accompanist(AccompanistConfig(**state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    features = request_features(_request())
    with torch.no_grad():
        onset, held, velocity = model(*(torch.from_numpy(f) for f in features))
    o_onset, o_held, o_velocity = runtime.session.run(None, dict(zip(
        ("context", "target", "conditioning"), features, strict=True)))
    np.testing.assert_allclose(onset.numpy(), o_onset, atol=1e-4)
    np.testing.assert_allclose(held.numpy(), o_held, atol=1e-4)
    np.testing.assert_allclose(velocity.numpy(), o_velocity, atol=1e-5)


def test_torch_and_onnxruntime_agree_on_the_chord_predictor() -> None:
    runtime = ChordRuntime()
    state = torch.load(WEIGHTS_DIR / runtime.card["checkpoint"], weights_only=True)
    model = ChordPredictor(ChordConfig(**state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    rng = np.random.default_rng(3)
    chords, hints = rng.integers(0, 169, (1, 12)), rng.integers(0, 169, (1, 12))
    features = rng.random((1, 12, 16)).astype(np.float32)
    hidden = np.zeros((1, 1, runtime.hidden), dtype=np.float32)
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(chords), torch.from_numpy(hints),
                          torch.from_numpy(features), torch.from_numpy(hidden))
    o_logits, _ = runtime.session.run(None, {"chords": chords, "hints": hints,
                                             "features": features, "state": hidden})
    np.testing.assert_allclose(logits.numpy(), o_logits, atol=1e-4)


def test_generated_bar_is_in_the_register_and_carries_the_checkpoint() -> None:
    runtime = AccompanistRuntime()
    assert runtime.source == "model:accompanist@" + runtime.card["checkpoint_sha256"][:12]
    notes = runtime.generate(_request())
    assert notes, "a bar at energy 0.6 under two chords is not silent"
    for note in notes:
        assert LOW_PITCH <= note.pitch < LOW_PITCH + PITCHES
        assert 0 <= note.step < STEPS_PER_BAR and note.step + note.length <= STEPS_PER_BAR
        assert 1 <= note.velocity <= 127
    assert runtime.generate(_request()) == notes, "generation is deterministic"


def test_decoding_keeps_the_stronger_of_two_neighbouring_semitones() -> None:
    onset = np.zeros((STEPS_PER_BAR, PITCHES), dtype=np.float32)
    held = np.zeros_like(onset)
    onset[0, 20], onset[0, 21], onset[0, 24] = 0.9, 0.8, 0.7
    held[0:4, 20] = 0.9
    onset[2, 30] = 0.2  # under the threshold
    notes = decode_bar(onset, held, np.full(STEPS_PER_BAR, 0.5), threshold=0.5)
    assert [(n.step, n.pitch - LOW_PITCH, n.length) for n in notes] == [(0, 20, 4), (0, 24, 1)]
    assert all(n.velocity == 64 for n in notes)


def test_context_hides_the_last_two_beats_of_the_performer() -> None:
    request = _request()
    late = HeardNote(request.bar_tick - 480, None, 72, 100)  # half a beat before the bar
    with_late = BarRequest(request.bar_tick, (*request.melody, late), request.own,
                           request.chords, request.energy, request.density, request.style,
                           request.section, request.key)
    assert np.array_equal(request_features(request)[0], request_features(with_late)[0])
