"""The phone page's beat pulse against the engine's beat: loopback, a real browser.

A real Engine on the real clock plays with the AudienceBridge publishing every bar through
the AudienceLink to the audience service; the tempo moves in the middle of a bar (as the
follower moves it). One phone page in headless Debian chromium (Playwright, no browser
download) estimates the service clock over its socket and places each pulse with the Web
Animations API. Prints one JSON object:
- pulse_error_ms: the pulse's start on the page vs the engine's beat (tempo map), |error|;
- frame_error_ms: the first display frame at or after the pulse vs the beat (adds the
  frame interval of the headless compositor);
- baseline_timer_lateness_ms: a setTimeout aimed at each pulse's time, how late it fired
  (what a timer-driven pulse would add: measured in the same run);
- page_clock_bound_ms: half the fastest round trip used to map the page's clock to ours.

Usage: python benchmarks/pulse.py [--bars 32]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pages_support import browser_or_skip
from test_pages_pulse import measure_pulse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=32)
    parser.add_argument("--bpm", type=float, default=120.0)
    parser.add_argument("--pushed-bpm", type=float, default=132.0)
    args = parser.parse_args()
    browsers = browser_or_skip()
    browser = next(browsers)
    try:
        figures, _ = measure_pulse(browser, args.bars, args.bpm, args.pushed_bpm,
                                   change_at_beats=args.bars * 2 + 1.5)
    finally:
        browsers.close()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
