"""Writing a trained model out: the torch checkpoint (the reference), its ONNX export (what
the stage runs) and a JSON card (config, decoding thresholds, training figures, sha256s).

The checkpoint's sha256 (first 12 hex digits) is the provenance every played note carries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from stage.accompany.model.nets import Accompanist, ChordPredictor
from stage.accompany.model.vocab import (
    CHORD_STEP_FEATURES,
    CONTEXT_FEATURES,
    CONTEXT_STEPS,
    GLOBAL_FEATURES,
    STEPS_PER_BAR,
    TARGET_FEATURES,
)

log = logging.getLogger(__name__)
OPSET = 17


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_onnx(model: torch.nn.Module, path: Path) -> None:
    """Export ``model`` (an Accompanist or a ChordPredictor, eval mode) to ``path``."""
    model.eval()
    if isinstance(model, Accompanist):
        inputs: tuple[torch.Tensor, ...] = (
            torch.zeros(1, CONTEXT_STEPS, CONTEXT_FEATURES),
            torch.zeros(1, STEPS_PER_BAR, TARGET_FEATURES), torch.zeros(1, GLOBAL_FEATURES))
        names_in, names_out = ["context", "target", "conditioning"], ["onset", "held",
                                                                      "velocity"]
        axes = {n: {0: "batch"} for n in names_in + names_out}
    elif isinstance(model, ChordPredictor):
        inputs = (torch.zeros(1, 1, dtype=torch.int64), torch.zeros(1, 1, dtype=torch.int64),
                  torch.zeros(1, 1, CHORD_STEP_FEATURES), torch.zeros(1, 1, model.config.hidden))
        names_in, names_out = ["chords", "hints", "features", "state"], ["logits", "next_state"]
        axes = {"chords": {0: "batch", 1: "beats"}, "hints": {0: "batch", 1: "beats"},
                "features": {0: "batch", 1: "beats"},
                "state": {1: "batch"}, "logits": {0: "batch", 1: "beats"},
                "next_state": {1: "batch"}}
    else:
        raise TypeError(f"cannot export {type(model).__name__}")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on constant shapes and the GRU's batch
        torch.onnx.export(model, inputs, str(path), input_names=names_in,
                          output_names=names_out, dynamic_axes=axes, opset_version=OPSET,
                          dynamo=False)


def ship(name: str, model: torch.nn.Module, info: dict[str, Any], target: Path
         ) -> dict[str, Any]:
    """Write ``name``.pt, ``name``.onnx and ``name``.json into ``target``; returns the card."""
    target.mkdir(parents=True, exist_ok=True)
    config = model.config.as_dict()  # type: ignore[union-attr, operator]
    checkpoint = target / f"{name}.pt"
    torch.save({"config": config, "model": model.state_dict()}, checkpoint)
    onnx_path = target / f"{name}.onnx"
    export_onnx(model, onnx_path)
    card = {"model": name, "config": config, "checkpoint": checkpoint.name,
            "checkpoint_sha256": _sha(checkpoint), "onnx": onnx_path.name,
            "onnx_sha256": _sha(onnx_path), "opset": OPSET,
            "parameters": sum(p.numel() for p in model.parameters()), **info}
    (target / f"{name}.json").write_text(json.dumps(card, indent=1) + "\n")
    log.info("wrote %s (%s) to %s", name, card["checkpoint_sha256"][:12], target)
    return card
