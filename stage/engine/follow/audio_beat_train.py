"""Training the causal beat model (``stage train beats``): a GRU over beat features.

The net (:class:`BeatNet`) reads one frame of :mod:`audio_beat_features` at a time (100 a
second) and says how likely a beat and a downbeat start in it; it is causal by
construction (a unidirectional GRU), so live it steps frame by frame with its state.
Trained with torch on CPU on POP909 renders (:mod:`audio_beat_data`), exported to ONNX for
the stage (:mod:`audio_beat_model` runs it with onnxruntime on one thread). Imports torch:
never on the stage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stage.engine.follow.audio_beat_data import SongAudio
from stage.engine.follow.audio_beat_features import FEATURES

log = logging.getLogger(__name__)
OPSET = 17


@dataclass(frozen=True)
class BeatConfig:
    hidden: int = 64
    layers: int = 2
    features: int = FEATURES


@dataclass(frozen=True)
class BeatRun:
    steps: int = 1200
    """Training steps (the shipped net: 1600). Longer fits POP909 better and ASAP worse:
    3200 steps (seed 909, the same 320 songs) reached validation loss 0.3063 against
    0.3233, but an AUC at ASAP onsets (every third) of 0.6558 against 0.6999."""
    batch: int = 24
    frames: int = 1200
    """Frames per training excerpt (12 s)."""
    lr: float = 3e-3
    seed: int = 909
    """Seeds matter: 909, 910 and 911 trained alike give an AUC at ASAP onsets (every third)
    of 0.700, 0.685 and 0.655; the mean of the three nets' activations 0.698 (the other
    ASAP performances: 0.690, 0.676, 0.661, mean 0.693), so one net ships."""
    threads: int = 1
    every: int = 250


class BeatNet(nn.Module):
    """Features (batch x frames x FEATURES) and the GRU state -> beat and downbeat logits
    (batch x frames x 2) and the next state."""

    def __init__(self, config: BeatConfig, mean: np.ndarray, scale: np.ndarray) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.embed = nn.Linear(config.features, config.hidden)
        self.gru = nn.GRU(config.hidden, config.hidden, config.layers, batch_first=True)
        self.head = nn.Linear(config.hidden, 2)

    def forward(self, features: torch.Tensor, state: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        mean, scale = self.mean, self.scale
        assert isinstance(mean, torch.Tensor) and isinstance(scale, torch.Tensor)
        x = torch.tanh(self.embed((features - mean) / scale))
        out, state = self.gru(x, state)
        return self.head(out), state

    def initial_state(self, batch: int) -> torch.Tensor:
        return torch.zeros(self.config.layers, batch, self.config.hidden)


class Activations(nn.Module):
    """What ships: the net with sigmoids on its outputs."""

    def __init__(self, net: BeatNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, features: torch.Tensor, state: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        logits, state = self.net(features, state)
        return torch.sigmoid(logits), state


def _batch(songs: list[SongAudio], run: BeatRun, rng: np.random.Generator
           ) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for index in rng.integers(0, len(songs), run.batch):
        song = songs[int(index)]
        start = int(rng.integers(0, max(1, len(song.features) - run.frames)))
        stop = start + run.frames
        x = np.zeros((run.frames, FEATURES), np.float32)
        y = np.zeros((run.frames, 2), np.float32)
        part = song.features[start:stop].astype(np.float32)
        x[: len(part)] = part
        y[: len(part), 0] = song.beat[start:stop]
        y[: len(part), 1] = song.downbeat[start:stop]
        xs.append(x)
        ys.append(y)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def _loss(net: BeatNet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits, _ = net(x, net.initial_state(len(x)))
    # Beats are ~4 % of frames, downbeats ~1 %: weigh them up.
    weight = torch.tensor([8.0, 20.0])
    return F.binary_cross_entropy_with_logits(logits, y, pos_weight=weight)


def _valid_loss(net: BeatNet, songs: list[SongAudio]) -> float:
    net.eval()
    total = 0.0
    with torch.no_grad():
        for song in songs:
            x = torch.from_numpy(song.features.astype(np.float32))[None]
            y = torch.from_numpy(np.stack([song.beat, song.downbeat], axis=1))[None]
            total += float(_loss(net, x, y))
    net.train()
    return total / max(1, len(songs))


def train(train_songs: list[SongAudio], valid_songs: list[SongAudio], config: BeatConfig,
          run: BeatRun) -> tuple[BeatNet, dict[str, Any]]:
    """Train a :class:`BeatNet`; returns it and the run's history."""
    torch.manual_seed(run.seed)
    torch.set_num_threads(run.threads)
    rng = np.random.default_rng(run.seed)
    stacked = np.concatenate([s.features[::10].astype(np.float32) for s in train_songs])
    net = BeatNet(config, stacked.mean(axis=0), stacked.std(axis=0) + 1e-3)
    optimiser = torch.optim.AdamW(net.parameters(), lr=run.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, run.lr, total_steps=run.steps,
                                                   pct_start=0.1)
    history: list[dict[str, float]] = []
    started = time.process_time()
    running, since = 0.0, 0
    for step in range(1, run.steps + 1):
        x, y = _batch(train_songs, run, rng)
        loss = _loss(net, x, y)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        running += loss.item()
        since += 1
        if step % run.every == 0 or step == run.steps:
            row = {"step": step, "train_loss": round(running / since, 4),
                   "valid_loss": round(_valid_loss(net, valid_songs[:8]), 4),
                   "cpu_s": round(time.process_time() - started, 1)}
            running, since = 0.0, 0
            history.append(row)
            log.info("beats %s", row)
    net.eval()
    return net, {"history": history, "cpu_s": round(time.process_time() - started, 1)}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ship(net: BeatNet, info: dict[str, Any], target: Path) -> dict[str, Any]:
    """Write beats.pt, beats.onnx and beats.json (the card) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    checkpoint = target / "beats.pt"
    torch.save({"config": asdict(net.config), "model": net.state_dict()}, checkpoint)
    onnx_path = target / "beats.onnx"
    model = Activations(net).eval()
    inputs = (torch.zeros(1, 4, net.config.features), net.initial_state(1))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, inputs, str(onnx_path), input_names=["features", "state"],
                          output_names=["activations", "next_state"],
                          dynamic_axes={"features": {1: "frames"},
                                        "activations": {1: "frames"}},
                          opset_version=OPSET, dynamo=False)
    card = {"model": "beats", "config": asdict(net.config), "checkpoint": checkpoint.name,
            "checkpoint_sha256": _sha(checkpoint), "onnx": onnx_path.name,
            "onnx_sha256": _sha(onnx_path), "opset": OPSET,
            "parameters": sum(p.numel() for p in net.parameters()), **info}
    (target / "beats.json").write_text(json.dumps(card, indent=1) + "\n")
    return card


def load_checkpoint(path: Path) -> BeatNet:
    """The torch reference of a shipped model (tests compare it with the ONNX export)."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    config = BeatConfig(**saved["config"])
    state = saved["model"]
    net = BeatNet(config, state["mean"].numpy(), state["scale"].numpy())
    net.load_state_dict(state)
    return net.eval()
