"""`stage train`: tiny runs on a few POP909 songs — seeded, resumable to the same losses,
exported to ONNX that agrees with torch. (The shipped models train for minutes; these for
seconds.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import data_dir

from stage.accompany.model.nets import ChordConfig, ChordPredictor
from stage.accompany.model.runtime import ChordRuntime
from stage.cli import main

pytestmark = pytest.mark.skipif(not (data_dir() / "pop909" / "001").is_dir(),
                                reason="POP909 not found (set STAGE_DATA)")
TINY = ["--limit", "8", "--steps", "4", "--every", "2", "--width", "16", "--batch", "4"]


@pytest.fixture(autouse=True)
def _data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STAGE_DATA", str(data_dir()))
    monkeypatch.setenv("STAGE_CACHE", str(tmp_path / "cache"))


def _losses(out: Path, model: str) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in (out / model / f"{model}.losses.jsonl").open()]
    for row in rows:
        row.pop("seconds")
    return rows


@pytest.mark.parametrize("model", ["chords", "accompanist"])
def test_a_stopped_run_resumes_to_the_same_losses(tmp_path: Path, model: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["train", model, *TINY, "--out", str(whole)]) == 0
    assert main(["train", model, *TINY, "--out", str(parts), "--until", "2"]) == 0
    assert '"stopped_at": 2' in capsys.readouterr().out
    assert main(["train", model, *TINY, "--out", str(parts)]) == 0
    expected, resumed = _losses(whole, model), _losses(parts, model)
    assert [r["step"] for r in resumed] == [2.0, 4.0]
    for a, b in zip(expected, resumed, strict=True):
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-5), key
    export = whole / model / "export"
    card = json.loads((export / f"{model}.json").read_text())
    assert card["history"][-1]["step"] == 4.0 and card["config"]["hidden" if model == "chords"
                                                                 else "width"] == 16


def test_an_exported_chord_model_agrees_with_torch(tmp_path: Path) -> None:
    assert main(["train", "chords", *TINY, "--out", str(tmp_path)]) == 0
    export = tmp_path / "chords" / "export"
    runtime = ChordRuntime(export)
    state = torch.load(export / "chords.pt", weights_only=True)
    model = ChordPredictor(ChordConfig(**state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    chords = np.array([[1, 5, 5, 0]], dtype=np.int64)
    features = np.zeros((1, 4, 16), dtype=np.float32)
    hidden = runtime.initial_state()
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(chords), torch.from_numpy(chords),
                          torch.from_numpy(features), torch.from_numpy(hidden))
    onnx_logits, _ = runtime.session.run(None, {"chords": chords, "hints": chords,
                                                "features": features, "state": hidden})
    np.testing.assert_allclose(logits.numpy(), onnx_logits, atol=1e-5)
