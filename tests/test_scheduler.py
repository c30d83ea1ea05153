from stage.engine.events import ControlChange, Note, NoteOff, NoteOn
from stage.engine.scheduler import Scheduler
from stage.engine.time import PPQ, TempoMap


def _names(dues):  # type: ignore[no-untyped-def]
    return [(type(d.event).__name__, d.event.tick, getattr(d.event, "pitch", None)) for d in dues]


def test_note_becomes_on_and_off_at_their_times() -> None:
    sched = Scheduler(TempoMap(120))
    sched.add_output("out")
    sched.schedule(Note(PPQ, PPQ // 2, 60, 100), "out")
    assert sched.pop_due(499_999_999) == []
    assert _names(sched.pop_due(500_000_000)) == [("NoteOn", PPQ, 60)]
    assert sched.next_due_ns() == 750_000_000
    assert _names(sched.pop_due(750_000_000)) == [("NoteOff", PPQ + PPQ // 2, 60)]
    assert sched.pending() == 0


def test_latency_offset_sends_early_per_output() -> None:
    sched = Scheduler(TempoMap(120))
    sched.add_output("fast")
    sched.add_output("slow", latency_ns=20_000_000)
    for out in ("fast", "slow"):
        sched.schedule(ControlChange(PPQ, 1, 64), out)
    due = sched.pop_due(480_000_000)
    assert [d.output for d in due] == ["slow"]
    assert [d.output for d in sched.pop_due(500_000_000)] == ["fast"]


def test_tempo_change_moves_what_is_not_yet_sent() -> None:
    tempo = TempoMap(120)
    sched = Scheduler(tempo)
    sched.add_output("out")
    sched.schedule(NoteOn(4 * PPQ, 60, 90), "out")
    tempo.set_tempo(60, 2 * PPQ)
    assert sched.next_due_ns() == 1_000_000_000 + 2_000_000_000


def test_late_events_are_sent_and_counted() -> None:
    sched = Scheduler(TempoMap(120))
    sched.add_output("out")
    sched.schedule(Note(0, PPQ, 60, 100), "out")
    due = sched.pop_due(5_000_000)
    assert len(due) == 1 and due[0].lateness_ns == 5_000_000
    assert sched.lateness.late == 1


def test_overlapping_repeats_never_cut_the_later_note() -> None:
    sched = Scheduler(TempoMap(120))
    sched.add_output("out")
    sched.schedule(Note(0, PPQ, 60, 100), "out")
    sched.schedule(Note(PPQ // 2, PPQ, 60, 100), "out")
    sent = []
    for ns in range(0, 2_000_000_000, 10_000_000):
        sent += _names(sched.pop_due(ns))
    # the second strike re-sounds the pitch; the first note's off is swallowed; one final off
    assert sent == [("NoteOn", 0, 60), ("NoteOff", PPQ // 2, 60), ("NoteOn", PPQ // 2, 60),
                    ("NoteOff", PPQ + PPQ // 2, 60)]


def test_release_all_returns_owed_note_offs_and_drops_the_rest() -> None:
    sched = Scheduler(TempoMap(120))
    sched.add_output("out")
    sched.schedule(Note(0, 4 * PPQ, 60, 100), "out")
    sched.schedule(Note(2 * PPQ, PPQ, 64, 100), "out")
    sched.pop_due(0)  # 60 sounds, 64 not yet
    owed = sched.release_all()
    assert [(type(d.event), d.event.pitch) for d in owed] == [(NoteOff, 60)]
    assert sched.pending() == 0


def test_play_now_voices_at_once_and_queues_the_off() -> None:
    sched = Scheduler(TempoMap(120))
    sched.add_output("out")
    now = sched.play_now(Note(100, PPQ, 67, 90), "out", now_ns=123)
    assert _names(now) == [("NoteOn", 100, 67)] and now[0].lateness_ns == 0
    assert _names(sched.pop_due(10**10)) == [("NoteOff", 100 + PPQ, 67)]
