"""A setlist chooses the rig's OSC preset and maps any cue to any address ([show.osc])."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from stage.commands._osc import open_osc
from stage.engine.events import Cue
from stage.engine.setlist import load_setlist

SHOW = '''
[show]
title = "osc test"
audience = false

[show.osc]
preset = "resolume"

[show.osc.map]
"/stage/bar" = "/custom/bar/{1}"
"/stage/chord" = { address = "/custom/chord", args = ["$1", 1.0] }

[[song]]
title = "One"
tempo = 120.0
key = "C:maj"
style = "pop-rock"
form = ["verse"]

[song.sections.verse]
arranger = "main-a"
chords = ["C", "F", "G", "C"]
'''


def _args(preset: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(osc=["127.0.0.1:9"], osc_preset=preset, osc_mode="immediate",
                              osc_latency_ms=20.0)


def _addresses(output: object, cue: Cue) -> list[str]:
    return [packet.address for packet in output.packets(cue, cue.tick)]  # type: ignore[attr-defined]


def test_setlist_preset_and_map_reach_the_osc_output(tmp_path: Path) -> None:
    path = tmp_path / "show.toml"
    path.write_text(SHOW)
    show = load_setlist(path)
    assert show.osc_preset == "resolume"
    [output] = open_osc(_args(), show)
    try:
        assert _addresses(output, Cue(0, "/stage/bar", (3,))) == ["/custom/bar/3"]
        chord = output.packets(Cue(0, "/stage/chord", ("A:min",)), 0)[0]
        assert chord.address == "/custom/chord" and list(chord.params) == ["A:min", 1.0]
        # the preset's own rules still apply to the rest: resolume's tempo controller
        assert _addresses(output, Cue(0, "/stage/tempo", (128.0,))) == [
            "/composition/tempocontroller/tempo"]
    finally:
        output.close()
    [generic] = open_osc(_args("generic"), show)  # the flag wins over the setlist's preset
    try:
        assert _addresses(generic, Cue(0, "/stage/tempo", (128.0,))) == ["/stage/tempo"]
    finally:
        generic.close()


def test_a_bad_mapping_is_a_located_check_error(tmp_path: Path) -> None:
    path = tmp_path / "show.toml"
    path.write_text(SHOW.replace('"/custom/bar/{1}"', '"custom-without-slash"'))
    proc = subprocess.run([sys.executable, "-m", "stage.cli", "check", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"{path}:10:" in proc.stdout + proc.stderr
