"""The model keys part in the band: notes with provenance, a missed deadline played by the
pattern part (counted), the worker's bounded queue, and performer notes reaching the model."""

from __future__ import annotations

import logging
import threading

import pytest

from stage.accompany.band import Band
from stage.accompany.model.part import ModelKeysPart
from stage.accompany.model.runtime import AccompanistRuntime, BarNote, BarRequest
from stage.accompany.model.worker import ModelWorker
from stage.engine.events import MidiMessage, Note
from stage.engine.harmony import Chord, Key
from stage.engine.state import PerformanceState
from stage.engine.time import PPQ

BAR = 4 * PPQ


def _render(band: Band, bars: int, window: int = PPQ // 2) -> list[Note]:
    state = PerformanceState(chord=Chord(0, "maj"), next_chord=Chord(9, "min"),
                             key=Key(0, "maj"))
    notes: list[Note] = []
    for start in range(0, bars * BAR, window):
        notes.extend(e for e in band.window(state, start, start + window)
                     if isinstance(e, Note))
    return notes


def _keys(band: Band) -> ModelKeysPart:
    part = next(p for p in band.parts if p.name == "keys")
    assert isinstance(part, ModelKeysPart)
    return part


def test_offline_band_plays_model_keys_with_the_checkpoint_hash() -> None:
    band = Band("pop-rock", parts=["keys", "bass"], engines={"keys": "model"},
                model_wait_s=None)
    notes = _render(band, 6)
    keys = [n for n in notes if n.part == "keys"]
    runtime = _keys(band).runtime
    assert keys and all(n.source == runtime.source for n in keys)
    assert runtime.source.startswith("model:accompanist@") and len(runtime.source) == 30
    assert _keys(band).stats.played >= 5 and _keys(band).stats.missed == 0
    again = _render(Band("pop-rock", parts=["keys", "bass"], engines={"keys": "model"},
                         model_wait_s=None), 6)
    assert [n for n in again if n.part == "keys"] == keys, "offline renders are identical"


class _Stalled(AccompanistRuntime):
    """The shipped model, held back until released: a bar that cannot be ready in time."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def generate(self, request: BarRequest) -> list[BarNote]:
        self.release.wait(5.0)
        return super().generate(request)


def test_a_missed_deadline_plays_the_pattern_part_and_is_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    band = Band("pop-rock", parts=["keys"])
    stalled = _Stalled()
    part = ModelKeysPart("keys", band.style, 0, runtime=stalled, wait_s=0.0)
    band.parts = [part]
    with caplog.at_level(logging.WARNING, logger="stage.accompany.model.part"):
        notes = _render(band, 2)
    stalled.release.set()
    assert part.stats.missed >= 1
    assert any("missed its deadline" in r.message for r in caplog.records)
    assert notes, "the pattern part played the missed bars"
    assert all(not n.source.startswith("model:") for n in notes)
    part.close()


def test_a_full_queue_refuses_at_once_rather_than_blocking() -> None:
    gate = threading.Event()
    worker: ModelWorker[int, int] = ModelWorker(lambda x: gate.wait(5.0) and x, size=1)
    first = worker.submit(1)
    while first is not None and not first.running():
        pass  # the worker has taken the first request
    assert worker.submit(2) is not None  # fills the queue
    assert worker.submit(3) is None  # refused, not waited for
    gate.set()
    assert first is not None and first.result(timeout=5.0) == 1
    worker.close()


def test_performer_notes_reach_the_model_through_the_band() -> None:
    band = Band("pop-rock", parts=["keys"], engines={"keys": "model"}, model_wait_s=None)
    part = _keys(band)
    state = PerformanceState(tick=100)
    band.react(MidiMessage(0, bytes((0x90, 67, 100))), state)
    band.react(MidiMessage(0, bytes((0x80, 67, 0))), PerformanceState(tick=500))
    heard = list(part._heard)
    assert heard[-1].pitch == 67 and heard[-1].tick == 100 and heard[-1].end == 500


def test_other_parts_asked_for_a_model_play_their_patterns() -> None:
    band = Band("pop-rock", parts=["pad"], engines={"pad": "model"})
    assert not any(isinstance(p, ModelKeysPart) for p in band.parts)
    assert _render(band, 1)


def test_missing_weights_leave_the_pattern_part_playing(
        tmp_path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("STAGE_MODEL_WEIGHTS", str(tmp_path))  # an empty folder
    with caplog.at_level(logging.ERROR, logger="stage.accompany.model.part"):
        band = Band("pop-rock", parts=["keys"], engines={"keys": "model"})
    assert not any(isinstance(p, ModelKeysPart) for p in band.parts)
    assert any("cannot start" in r.message for r in caplog.records)
    notes = _render(band, 1)
    assert notes and all(not n.source.startswith("model:") for n in notes)


def test_closing_the_band_stops_the_model_worker() -> None:
    band = Band("pop-rock", parts=["keys"], engines={"keys": "model"}, model_wait_s=None)
    _render(band, 2)
    thread = _keys(band).worker._thread
    assert thread.is_alive()
    band.close()
    assert not thread.is_alive()


def test_the_engine_closes_its_generators_after_the_outputs() -> None:
    from stage.engine.ports.base import MemoryOutput
    from stage.engine.prior import PriorFollower
    from stage.engine.runner import Engine
    from stage.engine.state import Meter
    from stage.engine.time import TempoMap, VirtualClock

    output = MemoryOutput()
    order: list[str] = []

    class Holder:
        name = "holder"

        def window(self, state: PerformanceState, start: int, end: int) -> list[Note]:
            return []

        def react(self, message: MidiMessage, state: PerformanceState) -> list[Note]:
            return []

        def close(self) -> None:
            order.append("generator" if output.closed else "generator before outputs")

    engine = Engine(VirtualClock(), TempoMap(120.0), PriorFollower(Meter(), None), [Holder()],
                    [output])
    engine.start(origin_ns=0)
    engine.close()
    assert order == ["generator"]
