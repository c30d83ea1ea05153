"""``stage devices``: MIDI ports per API and audio devices, so a performer can pick by name."""

from __future__ import annotations

import argparse
import json
from typing import Any

import rtmidi

from stage.engine.ports.rtmidi_port import API_NAMES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def midi_ports() -> dict[str, Any]:
    found: dict[str, Any] = {}
    compiled = set(rtmidi.get_compiled_api())
    for name, api in API_NAMES.items():
        if api not in compiled:
            continue
        try:
            found[name] = {"inputs": rtmidi.MidiIn(api).get_ports(),
                           "outputs": rtmidi.MidiOut(api).get_ports()}
        except (rtmidi.SystemError, RuntimeError) as exc:
            found[name] = {"error": str(exc).splitlines()[0]}
    return found


def audio_devices() -> list[dict[str, Any]] | str:
    try:
        import sounddevice
    except OSError as exc:  # PortAudio missing
        return f"unavailable: {exc}"
    apis = sounddevice.query_hostapis()
    return [
        {"name": d["name"], "api": apis[d["hostapi"]]["name"],
         "inputs": d["max_input_channels"], "outputs": d["max_output_channels"],
         "default_samplerate": d["default_samplerate"]}
        for d in sounddevice.query_devices()
    ]


def run(args: argparse.Namespace) -> int:
    midi, audio = midi_ports(), audio_devices()
    if args.json:
        print(json.dumps({"midi": midi, "audio": audio}, indent=2))
        return 0
    for api, ports in midi.items():
        print(f"MIDI {api}:")
        if "error" in ports:
            print(f"  unavailable: {ports['error']}")
            continue
        for direction in ("inputs", "outputs"):
            names = ports[direction]
            print(f"  {direction}: " + (", ".join(names) if names else "none"))
    print("Audio:")
    if isinstance(audio, str):
        print(f"  {audio}")
    elif not audio:
        print("  none (no sound card, and no JACK server running)")
    else:
        for device in audio:
            print(f"  [{device['api']}] {device['name']} "
                  f"(in {device['inputs']}, out {device['outputs']})")
    return 0
