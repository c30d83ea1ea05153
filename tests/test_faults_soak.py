"""The soak benchmark's 1-minute version: the show on the paced virtual clock (8x) with the
real audience service and 40 simulated phones voting; no stuck note, no lost vote, no log
record dropped, memory flat after warm-up. (The 30-minute run is benchmarks/soak.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import TIMEOUT_S

ROOT = Path(__file__).resolve().parents[1]


def test_a_one_minute_soak_keeps_every_note_ended_and_every_vote_counted() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "soak.py"),
                           "--minutes", "1", "--speed", "8", "--phones", "40",
                           "--setlist", str(ROOT / "tests" / "fixtures" / "soak_song.toml")],
                          capture_output=True, text=True, timeout=TIMEOUT_S * 9, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["show_s"] >= 55 and report["notes"] > 500
    assert report["stuck_notes"] == 0 and report["baseline_unpaced_no_crowd"]["stuck_notes"] == 0
    votes = report["votes"]
    assert votes["polls_checked"] == 2 and votes["results"] == 2
    assert votes["acked_final_votes_checked"] > 0  # the phones did vote: lost=0 means something
    assert report["lost_votes"] == 0 and votes["lost"] == 0
    assert report["log"]["dropped"] == 0
    assert report["memory"]["growth_after_warmup_pct"] <= 5.0
    assert report["late_events"] == 0
