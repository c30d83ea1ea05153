"""The cue generator: beats, bars, tempo and harmony cues, stamped inside their windows."""

from __future__ import annotations

import itertools

from stage.engine.events import Cue
from stage.engine.harmony import Chord, Key
from stage.engine.state import Meter, PerformanceState
from stage.engine.time import PPQ
from stage.visuals.cues import CueGenerator


def run_windows(generator: CueGenerator, state: PerformanceState, bounds: list[int]
                ) -> list[Cue]:
    cues: list[Cue] = []
    for start, end in itertools.pairwise(bounds):
        window = generator.window(state, start, end)
        assert all(start <= cue.tick < end for cue in window), (start, end, window)
        cues += [c for c in window if isinstance(c, Cue)]
    return cues


def beats(cues: list[Cue]) -> list[tuple[int, tuple]]:
    return [(c.tick, c.args) for c in cues if c.address == "/stage/beat"]


def test_every_beat_once_with_its_place_in_the_bar_whatever_the_windows() -> None:
    state = PerformanceState(meter=Meter(3, 4))
    even = run_windows(CueGenerator(), state, list(range(0, 6 * PPQ + 1, PPQ // 2)))
    ragged = run_windows(CueGenerator(), state, [0, 7, 961, 962, 2500, 2880, 4000, 6 * PPQ])
    expected = [(i * PPQ, (i % 3 + 1, i // 3 + 1)) for i in range(6)]
    assert beats(even) == expected
    assert beats(ragged) == expected


def test_bars_on_downbeats_only_and_counted_from_one() -> None:
    cues = run_windows(CueGenerator(), PerformanceState(), list(range(0, 12 * PPQ + 1, 480)))
    bars = [(c.tick, c.args) for c in cues if c.address == "/stage/bar"]
    assert bars == [(0, (1,)), (4 * PPQ, (2,)), (8 * PPQ, (3,))]
    for tick, _ in bars:  # the bar cue comes before its downbeat's beat cue
        at = [c.address for c in cues if c.tick == tick]
        assert at.index("/stage/bar") < at.index("/stage/beat")


def test_beats_follow_the_followers_bar_grid() -> None:
    # The performer's bar started on an off-grid tick: beats fall on that grid.
    state = PerformanceState(bar_start_tick=100)
    got = beats(run_windows(CueGenerator(), state, [0, PPQ, 2 * PPQ, 3 * PPQ]))
    assert got[0] == (100, (1, 1))
    assert [t for t, _ in got] == [100, 100 + PPQ, 100 + 2 * PPQ]


def test_tempo_cue_only_when_it_moves_more_than_half_a_bpm() -> None:
    generator = CueGenerator()
    tempos = []
    for index, bpm in enumerate([120.0, 120.3, 120.45, 121.3, 121.0, 100.0]):
        window = generator.window(PerformanceState(bpm=bpm), index * 480, index * 480 + 480)
        tempos += [(c.tick, c.args) for c in window
                   if isinstance(c, Cue) and c.address == "/stage/tempo"]
    assert tempos == [(0, (120.0,)), (3 * 480, (121.3,)), (5 * 480, (100.0,))]
    assert all(isinstance(args[0], float) for _, args in tempos)


def test_chord_and_key_cues_when_they_change() -> None:
    generator = CueGenerator()
    c_major, a_minor = Chord.parse("C:maj"), Chord.parse("A:min")
    key = Key.parse("C:maj")
    states = [PerformanceState(chord=c_major, key=key), PerformanceState(chord=c_major, key=key),
              PerformanceState(chord=a_minor, key=key),
              PerformanceState(chord=None, key=Key.parse("A:min"))]
    harmony = []
    for index, state in enumerate(states):
        window = generator.window(state, index * 480, index * 480 + 480)
        harmony += [(c.tick, c.address, c.args) for c in window
                    if isinstance(c, Cue) and c.address in ("/stage/chord", "/stage/key")]
    assert harmony == [(0, "/stage/key", ("C:maj",)), (0, "/stage/chord", ("C:maj",)),
                       (960, "/stage/chord", ("A:min",)), (1440, "/stage/key", ("A:min",)),
                       (1440, "/stage/chord", ("N",))]


def test_empty_window_and_no_reaction() -> None:
    generator = CueGenerator()
    assert generator.window(PerformanceState(), 480, 480) == []
    assert generator.react(None, PerformanceState()) == ()  # type: ignore[arg-type]
    assert generator.name == "cues"


def test_scene_cue_when_a_song_section_with_a_scene_starts() -> None:
    form = [(0, "intro"), (4 * PPQ, "verse"), (12 * PPQ, "chorus"), (20 * PPQ, "verse")]

    def section_at(tick: int) -> str | None:
        return max((entry for entry in form if entry[0] <= tick), default=(0, None))[1]

    generator = CueGenerator(scenes={"intro": "dusk", "chorus": "strobe", "verse": "grid"},
                             section_at=section_at)
    cues = run_windows(generator, PerformanceState(), list(range(0, 24 * PPQ + 1, PPQ // 2)))
    scenes = [(c.tick, c.args) for c in cues if c.address == "/stage/scene"]
    assert scenes == [(0, ("dusk", "intro")), (4 * PPQ, ("grid", "verse")),
                      (12 * PPQ, ("strobe", "chorus")), (20 * PPQ, ("grid", "verse"))]
    quiet = CueGenerator(scenes={"chorus": "strobe"}, section_at=section_at)
    cues = run_windows(quiet, PerformanceState(), list(range(0, 24 * PPQ + 1, PPQ)))
    assert [c.tick for c in cues if c.address == "/stage/scene"] == [12 * PPQ]


def test_demo_show_sends_each_songs_scenes_where_its_sections_start(tmp_path) -> None:
    from pathlib import Path

    from stage.commands._songs import show_plugins
    from stage.engine.ports.base import MemoryOutput
    from stage.engine.setlist import load_setlist
    from stage.engine.show import play_show_offline

    class CueRecorder(MemoryOutput):
        def accepts(self, event: object) -> bool:
            return isinstance(event, Cue)

    show = load_setlist(Path(__file__).resolve().parents[1] / "setlists" / "demo.toml")
    recorder = CueRecorder()
    songs = show_plugins(show, cues=True)
    play_show_offline(songs, tmp_path / "show.mid", [recorder])
    scenes = [e for _, e in recorder.sent if isinstance(e, Cue) and e.address == "/stage/scene"]
    expected = []
    for song, plugins in zip(show.songs, songs, strict=True):
        conductor = plugins.generators[0]
        expected += [(entry.start_tick, (song.osc_scenes[entry.name], entry.name))
                     for index, entry in enumerate(conductor.form)
                     if entry.name in song.osc_scenes
                     and (index == 0 or conductor.form[index - 1].name != entry.name)]
    assert len(expected) >= 5  # the demo's songs name scenes for several sections
    assert [(c.tick, c.args) for c in scenes] == expected
