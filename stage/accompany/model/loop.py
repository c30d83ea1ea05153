"""What both trainings share: a progress bar, seeded steps, resumable checkpoints, a loss log.

Every step draws its batch and its dropout from ``seed`` and the step number alone, so a run
stopped and resumed from a checkpoint goes on exactly as if it had never stopped.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

log = logging.getLogger(__name__)


@dataclass
class RunSettings:
    """``steps`` optimizer steps of ``batch``; evaluate and checkpoint every ``every``."""

    steps: int
    batch: int
    lr: float
    seed: int = 909
    every: int = 200
    out: Path = Path("out/model-runs")
    threads: int = 2
    until: int | None = None
    """Stop (checkpointed) after this step; the same command resumes where it stopped."""
    history: list[dict[str, float]] = field(default_factory=list)


class Progress:
    """A one-line progress bar on a terminal (plain lines elsewhere)."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.began = time.perf_counter()
        self.tty = self.stream.isatty()
        self._last_plain = 0.0

    def show(self, done: int, note: str) -> None:
        elapsed = time.perf_counter() - self.began
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else 0.0
        filled = int(30 * done / max(self.total, 1))
        line = (f"{self.label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} "
                f"{elapsed:5.0f}s<{left:4.0f}s {note}")
        if self.tty:
            self.stream.write("\r" + line[:150])
            if done >= self.total:
                self.stream.write("\n")
        elif time.perf_counter() - self._last_plain > 30 or done >= self.total:
            self._last_plain = time.perf_counter()
            self.stream.write(line + "\n")
        self.stream.flush()


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    step: int, history: list[dict[str, float]], extra: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "history": history, "extra": extra}, temporary)
    temporary.replace(path)  # a run killed mid-save keeps its previous checkpoint


def train(settings: RunSettings, name: str, model: torch.nn.Module,
          batch_loss: Callable[[np.random.Generator], tuple[torch.Tensor, dict[str, float]]],
          evaluate: Callable[[], dict[str, float]], resume: bool = True,
          extra: dict[str, Any] | None = None) -> list[dict[str, float]]:
    """Run (or resume) a training; returns the loss log (one row per evaluation)."""
    torch.set_num_threads(settings.threads)
    checkpoint = settings.out / f"{name}.ckpt"
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    schedule = _cosine(settings)
    start = 0
    history: list[dict[str, float]] = []
    if resume and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, history = int(state["step"]), list(state["history"])
        log.info("resuming %s from step %d (%s)", name, start, checkpoint)
    progress = Progress(settings.steps, name)
    logfile = (settings.out / f"{name}.losses.jsonl").open("a")
    running: list[float] = []
    spent = history[-1].get("seconds", 0.0) if history else 0.0  # training time so far
    began = time.perf_counter()
    for step in range(start, settings.steps):
        model.train()
        torch.manual_seed(settings.seed * 1_000_003 + step)
        rng = np.random.default_rng([settings.seed, step])
        for group in optimizer.param_groups:
            group["lr"] = schedule(step)
        loss, _ = batch_loss(rng)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running.append(float(loss.detach()))
        done = step + 1
        if done % settings.every == 0 or done == settings.steps:
            model.eval()
            with torch.no_grad():
                row = {"step": float(done), "train_loss": float(np.mean(running)),
                       **evaluate(), "seconds": spent + time.perf_counter() - began}
            running.clear()
            history.append(row)
            logfile.write(json.dumps(row) + "\n")
            logfile.flush()
            log.info("%s step %d: %s", name, done,
                     ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "step"))
            save_checkpoint(checkpoint, model, optimizer, done, history, extra or {})
        progress.show(done, f"loss {running[-1] if running else history[-1]['train_loss']:.4f}")
        if settings.until is not None and done >= settings.until and done % settings.every == 0:
            break
    logfile.close()
    model.eval()
    return history


def _cosine(settings: RunSettings) -> Callable[[int], float]:
    warm = max(1, settings.steps // 20)

    def lr(step: int) -> float:
        if step < warm:
            return settings.lr * (step + 1) / warm
        progress = (step - warm) / max(1, settings.steps - warm)
        return settings.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * progress)))
    return lr
