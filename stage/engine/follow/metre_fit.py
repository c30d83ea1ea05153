"""Learn where in the beat each kind of onset falls, from POP909's training split (001-700).

For every onset group (:mod:`stage.engine.follow.onsets`) of every training song, the phase
within its annotated beat (``beat_midi.txt``) is counted in ``CELLS`` cells; the counts,
blurred by human timing (a few cells) and floored, become a likelihood ratio per class and
cell: how much more likely an onset of that class is at that point of the beat than anywhere.
Four refinements are counted the same way, per class: by the gap that follows the onset (in
beats), by its accent (its loudness over the last two seconds'), by how long its longest
note is held (in beats: a long note is most often on a beat, a short one off it) and by how
new its pitch classes are (harmony changes on the beat). Sustain pedal presses and
releases are counted the same way (the pedal changes with the harmony).
Songs are split by feel first: a song whose onsets fall more on the beat's thirds than on its
halves and quarters is a triplet (shuffle, 12/8) song, and gets the triplet template; the
others the straight one. The beat pointer (:mod:`stage.engine.follow.pointer`) believes in
both feels at once and multiplies its belief by the matching template.

    python -m stage.engine.follow.metre_fit [--data DIR] [--out PATH]

writes ``metre_template.json`` beside this module (the pointer loads it at import).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from stage.engine.events import CC_SUSTAIN
from stage.engine.follow.fit_data import add_data_argument
from stage.engine.follow.onsets import CLASSES, OnsetGroup, OnsetGrouper
from stage.engine.ports.midifile import TimedMessage, load_performance

CELLS = 48
IOI_EDGES = (0.2, 0.3, 0.45, 0.6, 0.9, 1.5)
"""Bins (beats) of the time from an onset to the next: a note held into a gap is more
often on the beat (an eighth-note gap after a single note: on it a third of the time, a
whole beat's gap: two thirds)."""
ACCENT_EDGES = (0.85, 0.95, 1.05, 1.15)
"""Bins of an onset's loudness over the last two seconds': accents lean to the beat."""
LENGTH_EDGES = (0.2, 0.35, 0.6, 0.9, 1.5, 2.5)
"""Bins (beats) of how long a group's longest note is held (to its note-off): a bass note
held under a third of a beat falls on the beat a fifth as often as any bass note."""
NOVEL_EDGES = (0.01, 0.34, 0.67)
"""Bins of the share of a group's pitch classes not heard in the second before it: a chord
of all-new pitch classes is on the beat twice as often as off it, a repeated bass note half
as often."""
TEMPLATE_PATH = Path(__file__).with_name("metre_template.json")
_BLUR_CELLS = 1.5
_FLOOR = 0.15


Phase = tuple[int, float, float, float, float | None, float]
"""(class, phase in beats 0-1, beats to the next onset, accent, beats its longest note is
held or None when never released)."""


def song_phases(messages: list[TimedMessage], beats: np.ndarray) -> list[Phase]:
    """The :data:`Phase` of every onset group between the first and last beat."""
    grouper = OnsetGrouper()
    groups: list[OnsetGroup] = []
    held: dict[int, OnsetGroup] = {}  # pitch -> the group its sounding note started in
    longest: dict[int, float] = {}  # id(group) -> its longest note so far (seconds)
    for message in messages:
        data, now = message.data, message.time_ns / 1e9
        if len(data) != 3 or data[0] & 0xF0 not in (0x80, 0x90):
            continue
        if data[0] & 0xF0 == 0x90 and data[2] > 0:
            closed, _ = grouper.note_on(now, data[2], data[1])
            if closed is not None:
                groups.append(closed)
            assert grouper.open is not None
            held[data[1]] = grouper.open
        elif data[1] in held:
            group = held.pop(data[1])
            longest[id(group)] = max(longest.get(id(group), 0.0), now - group.time)
    last = grouper.close()
    if last is not None:
        groups.append(last)
    out: list[Phase] = []
    for group, after in zip(groups, [*groups[1:], None], strict=True):
        i = int(np.searchsorted(beats, group.time + 1e-9)) - 1
        if 0 <= i < len(beats) - 1:
            period = beats[i + 1] - beats[i]
            gap = (after.time - group.time) / period if after is not None else 99.0
            length = longest.get(id(group))
            out.append((group.kind, (group.time - beats[i]) / period, gap, group.accent,
                        None if length is None else length / period, group.novel))
    return out


def song_pedals(messages: list[TimedMessage], beats: np.ndarray) -> list[tuple[int, float]]:
    """Every sustain pedal press (0) and release (1) between the first and last beat, with
    its phase in the beat."""
    out: list[tuple[int, float]] = []
    down = False
    for message in messages:
        data = message.data
        if len(data) != 3 or data[0] & 0xF0 != 0xB0 or data[1] != CC_SUSTAIN:
            continue
        if (data[2] >= 64) == down:
            continue
        down = not down
        now = message.time_ns / 1e9
        i = int(np.searchsorted(beats, now + 1e-9)) - 1
        if 0 <= i < len(beats) - 1:
            out.append((0 if down else 1, (now - beats[i]) / (beats[i + 1] - beats[i])))
    return out


def template(counts: np.ndarray) -> np.ndarray:
    """Likelihood ratios per class and cell from raw phase counts (classes x CELLS)."""
    offsets = np.arange(-6, 7)
    kernel = np.exp(-0.5 * (offsets / _BLUR_CELLS) ** 2)
    kernel /= kernel.sum()
    blurred = np.stack([
        sum(w * np.roll(row, int(o)) for o, w in zip(offsets, kernel, strict=True))
        for row in counts])
    totals = blurred.sum(axis=1, keepdims=True)
    ratio = np.divide(blurred * counts.shape[1], totals, out=np.ones_like(blurred),
                      where=totals > 0)  # an empty row: flat
    return (1.0 - _FLOOR) * ratio + _FLOOR


def given_template(counts: np.ndarray) -> np.ndarray:
    """Per class, bin (of the gap after it, or its accent) and cell: how much more likely
    that phase is for an onset of that class in that bin than for any onset of that class
    (classes x bins x CELLS). A bin no onset of a class falls in (a single note is all
    new or not new at all) says nothing: flat."""
    by_class = template(counts.sum(axis=1))
    given = np.stack([template(counts[:, b]) for b in range(counts.shape[1])],
                     axis=1) / by_class[:, None, :]
    given[counts.sum(axis=2) == 0] = 1.0
    return given


def is_triplet(counts: np.ndarray) -> bool:
    """More onsets on the beat's thirds than on its halves and quarters."""
    total = counts.sum(axis=0)
    thirds = total[[CELLS // 3, 2 * CELLS // 3]].sum()
    straight = total[[CELLS // 4, CELLS // 2, 3 * CELLS // 4]].sum()
    return bool(thirds > straight)


def fit(data: Path, songs: range) -> dict[str, object]:
    bins, levels, spans = len(IOI_EDGES) + 1, len(ACCENT_EDGES) + 1, len(LENGTH_EDGES) + 1
    counts = np.zeros((2, len(CLASSES), bins, CELLS))  # straight, triplet
    accents = np.zeros((2, len(CLASSES), levels, CELLS))
    lengths = np.zeros((2, len(CLASSES), spans, CELLS))
    novels = np.zeros((2, len(CLASSES), len(NOVEL_EDGES) + 1, CELLS))
    pedals = np.zeros((2, 2, CELLS))  # feel x (press, release) x cells
    used = [0, 0]
    for number in songs:
        folder = data / f"{number:03d}"
        if not folder.is_dir():
            continue
        beats = np.loadtxt(folder / "beat_midi.txt")[:, 0]
        song = np.zeros((len(CLASSES), bins, CELLS))
        loud = np.zeros((len(CLASSES), levels, CELLS))
        held = np.zeros((len(CLASSES), spans, CELLS))
        fresh = np.zeros((len(CLASSES), len(NOVEL_EDGES) + 1, CELLS))
        messages = load_performance(folder / f"{number:03d}.mid")  # read once for both
        for kind, phase, gap, accent, length, novel in song_phases(messages, beats):
            cell = round(phase * CELLS) % CELLS
            song[kind, int(np.searchsorted(IOI_EDGES, gap)), cell] += 1
            loud[kind, int(np.searchsorted(ACCENT_EDGES, accent)), cell] += 1
            fresh[kind, int(np.searchsorted(NOVEL_EDGES, novel)), cell] += 1
            if length is not None:
                held[kind, int(np.searchsorted(LENGTH_EDGES, length)), cell] += 1
        feel = int(is_triplet(song.sum(axis=1)))
        for change, phase in song_pedals(messages, beats):
            pedals[feel, change, round(phase * CELLS) % CELLS] += 1
        counts[feel] += song
        accents[feel] += loud
        lengths[feel] += held
        novels[feel] += fresh
        used[feel] += 1
    return {"cells": CELLS, "classes": list(CLASSES), "feels": ["straight", "triplet"],
            "songs": used, "onsets": counts.sum(axis=(2, 3)).astype(int).tolist(),
            "ratio": [np.round(template(c.sum(axis=1)), 4).tolist() for c in counts],
            "gap_edges": list(IOI_EDGES),
            "gap_ratio": [np.round(given_template(c), 4).tolist() for c in counts],
            "accent_edges": list(ACCENT_EDGES),
            "accent_ratio": [np.round(given_template(c), 4).tolist() for c in accents],
            "length_edges": list(LENGTH_EDGES),
            "length_ratio": [np.round(given_template(c), 4).tolist() for c in lengths],
            "novel_edges": list(NOVEL_EDGES),
            "novel_ratio": [np.round(given_template(c), 4).tolist() for c in novels],
            "pedal_changes": pedals.sum(axis=2).astype(int).tolist(),
            "pedal_ratio": [np.round(template(c), 4).tolist() for c in pedals]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_data_argument(parser)
    parser.add_argument("--out", type=Path, default=TEMPLATE_PATH)
    args = parser.parse_args()
    result = fit(args.data / "pop909", range(1, 701))
    args.out.write_text(json.dumps(result) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("ratio")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
