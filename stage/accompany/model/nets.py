"""The two torch models (training and the reference path; the stage runs their ONNX export).

- :class:`Accompanist`: a small transformer over one conditioning token, the last two bars
  (performer melody and the keys' own notes, the last two beats hidden) and the sixteen
  steps of the bar to play (its chords). It reads out, for every step of that bar, which
  pitches start, which sound, and how hard — the whole bar in one pass, so a bar costs one
  inference.
- :class:`ChordPredictor`: a GRU over beats (chord so far, the follower's progression
  memory's guess, the melody's pitch classes, the place in the bar) that says the next
  beat's chord; one step per beat on the stage.

Attention is written out with matmuls (no fused kernels) so the ONNX export is plain.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from stage.accompany.model.vocab import (
    CHORD_CLASSES,
    CHORD_STEP_FEATURES,
    CONTEXT_FEATURES,
    CONTEXT_STEPS,
    GLOBAL_FEATURES,
    PITCHES,
    STEPS_PER_BAR,
    TARGET_FEATURES,
)


@dataclass(frozen=True)
class AccompanistConfig:
    width: int = 128
    layers: int = 3
    heads: int = 4
    ff: int = 256
    dropout: float = 0.1

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class ChordConfig:
    embed: int = 48
    hidden: int = 128
    dropout: float = 0.1

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class Block(nn.Module):
    """Pre-norm transformer block: self-attention over all tokens, then a GELU MLP."""

    def __init__(self, width: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, ff), nn.GELU(), nn.Linear(ff, width))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        head = width // self.heads
        q, k, v = self.qkv(self.norm1(x)).split(width, dim=-1)
        q = q.reshape(batch, tokens, self.heads, head).transpose(1, 2)
        k = k.reshape(batch, tokens, self.heads, head).transpose(1, 2)
        v = v.reshape(batch, tokens, self.heads, head).transpose(1, 2)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head), dim=-1)
        mixed = (self.drop(weights) @ v).transpose(1, 2).reshape(batch, tokens, width)
        x = x + self.drop(self.proj(mixed))
        return x + self.drop(self.mlp(self.norm2(x)))


class Accompanist(nn.Module):
    """(context [B,32,Fc], target chords [B,16,Ft], conditioning [B,Fg]) ->
    (onset logits [B,16,P], sounding logits [B,16,P], velocity 0-1 [B,16])."""

    def __init__(self, config: AccompanistConfig | None = None) -> None:
        super().__init__()
        self.config = config or AccompanistConfig()
        width = self.config.width
        self.context_in = nn.Linear(CONTEXT_FEATURES, width)
        self.target_in = nn.Linear(TARGET_FEATURES, width)
        self.global_in = nn.Linear(GLOBAL_FEATURES, width)
        self.position = nn.Parameter(torch.zeros(1, 1 + CONTEXT_STEPS + STEPS_PER_BAR, width))
        nn.init.normal_(self.position, std=0.02)
        self.blocks = nn.ModuleList(
            Block(width, self.config.heads, self.config.ff, self.config.dropout)
            for _ in range(self.config.layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 2 * PITCHES + 1)

    def forward(self, context: torch.Tensor, target: torch.Tensor, conditioning: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g = self.global_in(conditioning).unsqueeze(1)
        tokens = torch.cat([g, self.context_in(context) + g, self.target_in(target) + g], dim=1)
        x = tokens + self.position
        for block in self.blocks:
            x = block(x)
        out = self.head(self.norm(x[:, 1 + CONTEXT_STEPS:]))
        onset, sounding, velocity = out.split([PITCHES, PITCHES, 1], dim=-1)
        return onset, sounding, torch.sigmoid(velocity.squeeze(-1))


class ChordPredictor(nn.Module):
    """(chord classes [B,T], the progression memory's hints [B,T], beat features [B,T,16],
    state [1,B,H]) -> (next-beat chord logits [B,T,C], state)."""

    def __init__(self, config: ChordConfig | None = None) -> None:
        super().__init__()
        self.config = config or ChordConfig()
        c = self.config
        self.embed = nn.Embedding(CHORD_CLASSES, c.embed)
        self.hint = nn.Embedding(CHORD_CLASSES, c.embed)
        self.features = nn.Linear(CHORD_STEP_FEATURES, c.embed)
        self.gru = nn.GRU(3 * c.embed, c.hidden, batch_first=True)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden, CHORD_CLASSES)

    def forward(self, chords: torch.Tensor, hints: torch.Tensor, features: torch.Tensor,
                state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.embed(chords), self.hint(hints),
                       torch.relu(self.features(features))], dim=-1)
        y, state = self.gru(self.drop(x), state)
        return self.head(self.drop(y)), state
