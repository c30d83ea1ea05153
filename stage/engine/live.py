"""A live show's lifecycle: the engine thread, signals, and silence on every way out.

SIGINT and SIGTERM ask the engine to stop; the engine thread's ``finally`` sends every owed
note-off and all-notes-off; ``atexit`` and this module's own ``finally`` close the outputs
again if anything went wrong before that (closing twice is harmless).
"""

from __future__ import annotations

import atexit
import gc
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from stage.engine.runner import Engine

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0005
"""How soon a waiting thread (the MIDI callback) gets the GIL: 0.5 ms, not Python's 5 ms."""


def run_live(engine: Engine, until: Callable[[], bool] | None = None) -> int:
    """Run ``engine`` on its own thread until a signal, ``until()``, or the show ends.

    Returns 0 on a clean stop, 1 when the engine thread died with an error.
    """
    stop = threading.Event()
    failure: list[BaseException] = []

    def engine_main() -> None:
        try:
            engine.run(stop, live=True)
        except BaseException as exc:  # reported below; outputs already silenced by run()
            failure.append(exc)
            log.exception("engine thread failed")

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping the show", signum)
        stop.set()

    atexit.register(_silence, engine)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    engine.start()
    # Everything built so far lives for the whole show: keep the collector off it, so its
    # pauses stay short while the band plays.
    gc.collect()
    gc.freeze()
    thread = threading.Thread(target=engine_main, name="engine", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(timeout=0.1)
            if until is not None and until():
                stop.set()
    finally:
        stop.set()
        thread.join(timeout=2.0)
        _silence(engine)
        sys.setswitchinterval(old_interval)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failure else 0


def _silence(engine: Engine) -> None:
    try:
        engine.close()
    except Exception:
        log.exception("closing the engine failed")
