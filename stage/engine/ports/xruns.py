"""Counting JACK xruns: a small JACK client whose xrun callback only adds one.

Every xrun on the server (the synth's audio, MIDI ports, any client missing its deadline)
reaches every client, so one counter covers the show's whole JACK audio path. The callback
runs on JACK's notification thread, never the process thread, and does nothing else.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class XrunCounter:
    """``count`` xruns since it opened; ``delays_us`` the last reported delays (bounded)."""

    MAX_DELAYS = 256

    def __init__(self, client: Any) -> None:
        self._client = client
        self.count = 0
        self.delays_us: list[float] = []
        self._lock = threading.Lock()
        client.set_xrun_callback(self._on_xrun)
        client.activate()

    @classmethod
    def open(cls, name: str = "stage-xruns") -> XrunCounter | None:
        """A counter on the running JACK server, or None (no JACK-Client, no server)."""
        try:
            import jack
        except (ImportError, OSError) as exc:  # the library or libjack is missing
            log.info("xruns are not counted: %s", exc)
            return None
        try:
            client = jack.Client(name, no_start_server=True)
        except jack.JackError as exc:
            log.info("xruns are not counted: no JACK server (%s)", exc)
            return None
        return cls(client)

    def _on_xrun(self, delay_us: float) -> None:
        with self._lock:
            self.count += 1
            if len(self.delays_us) < self.MAX_DELAYS:
                self.delays_us.append(float(delay_us))

    def close(self) -> None:
        try:
            self._client.deactivate()
            self._client.close()
        except Exception:
            log.exception("closing the xrun counter failed")
