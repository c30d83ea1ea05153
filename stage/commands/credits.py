"""``stage credits LOG``: what shaped a show, from its log.

The styles and the model checkpoints that played (with the data and licences their model
cards name, where a card is found), every crowd decision and what it changed, and each
source's share of the generated notes. Text by default, ``--json`` for one JSON object.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from stage.commands._common import UsageError, guarded
from stage.engine.showlog import ShowLogData, ShowLogError, read_log

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "accompany" / "model" / "weights"
CARD_FIELDS = ("data", "dataset", "datasets", "training_data", "licence", "license",
               "licenses", "data_licence", "data_license", "trained_on", "description")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", type=Path, help="a show log (show.jsonl)")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument("--weights", type=Path, default=WEIGHTS_DIR,
                        help="folder of model cards (<name>.json)")


def note_sources(data: ShowLogData) -> Counter[str]:
    """Generated notes per source: pattern and model notes, and harmony voices' note-ons."""
    counts: Counter[str] = Counter()
    for record in data.records:
        kind = record.get("t")
        if kind == "note":
            counts[record.get("src") or "(unattributed)"] += 1
        elif kind == "midi":
            raw = bytes.fromhex(record["data"])
            if len(raw) == 3 and raw[0] & 0xF0 == 0x90 and raw[2] > 0:
                counts[record.get("src") or "(unattributed)"] += 1
    return counts


def model_card(source: str, folder: Path) -> dict[str, Any]:
    """``model:<name>@<hash12>`` -> what its card says (name, checkpoint, data, licence)."""
    name, _, checkpoint = source.removeprefix("model:").partition("@")
    entry: dict[str, Any] = {"source": source, "model": name, "checkpoint": checkpoint}
    card_path = folder / f"{name}.json"
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError):
        entry["card"] = None
        return entry
    full = str(card.get("checkpoint_sha256", ""))
    entry["card"] = str(card_path)
    entry["card_matches"] = bool(checkpoint) and full.startswith(checkpoint)
    entry.update({k: card[k] for k in CARD_FIELDS if k in card})
    return entry


def crowd_decisions(data: ShowLogData) -> list[dict[str, Any]]:
    """Each poll result: what the crowd chose, the steers it made and the notes they shaped."""
    specs = {r["spec"].get("id"): r["spec"] for r in data.of("poll")}
    titles = {int(r["song"]): r.get("title", "") for r in data.of("song")}
    steer_of: dict[tuple[int, int], list[str]] = {
        (int(r["song"]), int(r["id"])): list(r.get("steer", [])) for r in data.of("controls")}
    shaped: Counter[str] = Counter()
    for record in data.of("note"):
        if record.get("ctl") is not None:
            for poll in steer_of.get((int(record["song"]), int(record["ctl"])), ()):
                shaped[poll] += 1
    decisions = []
    for record in data.of("result"):
        result = record["result"]
        spec = specs.get(result["poll"], {})
        options = spec.get("options") or []
        winner = result.get("winner")
        chose = (options[winner] if winner is not None and winner < len(options)
                 else round(float(result["value"]), 3))
        steers = [{"tick": s["tick"], "controls": s.get("controls"), "section": s.get("section")}
                  for s in data.of("steer")
                  if result["poll"] in s.get("polls", []) and s["song"] == record["song"]]
        decisions.append({"song": titles.get(int(record["song"]), ""), "poll": result["poll"],
                          "question": spec.get("question", ""), "chose": chose,
                          "voters": result.get("voters"), "steers": steers,
                          "notes_shaped": shaped.get(result["poll"], 0)})
    return decisions


def credits(log_path: Path, weights: Path = WEIGHTS_DIR) -> dict[str, Any]:
    try:
        data = read_log(log_path)
    except ShowLogError as exc:
        raise UsageError(str(exc)) from None
    sources = note_sources(data)
    total = sum(sources.values())
    styles: Counter[str] = Counter()
    for source, count in sources.items():
        if source.startswith("style:"):
            styles[source.removeprefix("style:").split("/", 1)[0]] += count
    models = [dict(model_card(s, weights), notes=c) for s, c in sorted(sources.items())
              if s.startswith("model:")]
    return {
        "log": str(log_path), "complete": data.complete,
        "setlist": (data.header.get("setlist") or {}).get("path"),
        "songs": [r.get("title", "") for r in data.of("song")],
        "generated_notes": total,
        "share_by_source": {s: round(c / total, 4) for s, c in sources.most_common()}
        if total else {},
        "notes_by_source": dict(sources.most_common()),
        "styles": dict(styles.most_common()), "models": models,
        "crowd": data.header.get("crowd"), "crowd_decisions": crowd_decisions(data),
    }


def _print(report: dict[str, Any]) -> None:
    print(f"show: {', '.join(report['songs'])}")
    print(f"generated notes: {report['generated_notes']}")
    print("styles: " + ", ".join(f"{s} ({n} notes)" for s, n in report["styles"].items()))
    for model in report["models"]:
        extra = {k: v for k, v in model.items() if k in CARD_FIELDS}
        print(f"model {model['model']} @ {model['checkpoint']}: {model['notes']} notes"
              + (f"; {json.dumps(extra)}" if extra else "; no model card found"))
    print("share of generated notes by source:")
    for source, share in report["share_by_source"].items():
        print(f"  {share * 100:6.2f} %  {source}")
    print(f"crowd decisions ({len(report['crowd_decisions'])}):")
    for decision in report["crowd_decisions"]:
        changed = "; ".join(", ".join(
            [f"{k} {v:.2f}" for k, v in (s["controls"] or {}).items()]
            + ([f"section {s['section']}"] if s["section"] else [])) for s in decision["steers"])
        print(f"  {decision['song']}: {decision['poll']} -> {decision['chose']} "
              f"({decision['voters']} voters): {changed or 'no change'}; "
              f"{decision['notes_shaped']} notes played under it")


def _run(args: argparse.Namespace) -> int:
    report = credits(args.log, args.weights)
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        _print(report)
    return 0


def run(args: argparse.Namespace) -> int:
    return guarded(_run, args)
