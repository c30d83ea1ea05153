"""Builds each song's plug-ins from the setlist: the follower, the band and its form.

This is where the command layer joins the engine to the band (the engine never imports it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from stage.accompany.arranger import ControllerMap
from stage.accompany.band import Band
from stage.accompany.conductor import SongConductor
from stage.audience.bridge import AudienceBridge, Link, ShowBars
from stage.audience.steering import CONTROLS, Steering
from stage.engine.follow.midi import MidiFollower
from stage.engine.plugins import Follower, Generator
from stage.engine.ports.midifile import MidiFilePerformer
from stage.engine.prior import PriorFollower
from stage.engine.setlist import Show, Song
from stage.engine.show import SongPlugins

log = logging.getLogger(__name__)

OFFLINE_MODEL_WAIT_S = 5.0
"""Offline a model part waits for each bar (a deterministic render), but never forever."""
UNBOUNDED_BARS = 100_000
"""A song with no form ends with its performer; this only stops a runaway render."""


def song_form(song: Song) -> list[tuple[str, str, int]]:
    """(song section, arranger section, bars) in playing order; held sections get 4 bars."""
    form = []
    for section in song.arrangement():
        bars = section.bars
        if bars is None and section.chords is not None:
            bars = len(section.chords.bars)
        form.append((section.name, section.arranger, bars or 4))
    return form


def song_plugins(song: Song, performer: MidiFilePerformer | None = None, seed: int = 0,
                 follow: bool = True, live: bool = False, crowd: Link | None = None,
                 bars: ShowBars | None = None, cues: bool = False) -> SongPlugins:
    """The plug-ins for ``song``. With a performer and ``follow``, the MIDI follower listens;
    without one the band plays the setlist's priors (tempo, chart) alone. With ``cues`` the
    beat, bar, tempo and harmony go out as cues for the VJ rig."""
    form = song_form(song)
    controller = (ControllerMap.from_dict(song.controller.as_dict()) if song.controller
                  else ControllerMap())
    if performer is not None and song.controller is None and not live:
        # A recorded pianist's pedal changes are music, not a call for the ending.
        controller.double_tap = None
    band = Band(song.style, mix=song.mix_overrides(), seed=seed, chart=song.chart,
                key=song.key, start_section=form[0][1] if form else "main_a",
                controls=dict(song.controls), controller_map=controller,
                engines={part: s.engine for part, s in song.mix.items()},
                model_wait_s=0.0 if live else OFFLINE_MODEL_WAIT_S)
    conductor = SongConductor.from_sections(band, form, song.meter)
    generators: list[Generator] = [conductor]
    if crowd is not None:
        # The crowd steers only what the setlist opens to it, within the song's bounds.
        start = {name: float(song.controls.get(name, 0.5)) for name in CONTROLS}
        steering = Steering.from_setlist([p.mapping() for p in song.polls],
                                         bounds=dict(song.crowd_bounds), values=start)
        generators.append(AudienceBridge(
            link=crowd, polls=song.polls, set_control=band.set_control,
            command_section=band.command_section,
            section_at=lambda tick: _section_name(conductor, tick),
            bars=bars or ShowBars(), steering=steering, song=song.title))
    if cues:
        from stage.visuals.cues import CueGenerator

        generators.append(CueGenerator(scenes=song.osc_scenes,
                                       section_at=lambda tick: _section_name(conductor, tick)))
    follower: Follower
    if (performer is not None or live) and follow:
        follower = MidiFollower(song.meter, song.tempo, chart=song.chart, key_prior=song.key)
        if any(s.engine == "model" for s in song.mix.values()):
            from stage.accompany.model.anticipator import attach_chord_model

            attach_chord_model(follower)
    else:
        follower = PriorFollower(song.meter, song.key)
    # No form: the band plays until the performer stops (then one more bar).
    return SongPlugins(
        title=song.title, tempo_bpm=song.tempo, meter=song.meter, follower=follower,
        generators=generators, performer=performer,
        finished=(lambda: conductor.finished) if form else None, tail_bars=1,
        max_bars=sum(bars for _, _, bars in form) + 8 if form else UNBOUNDED_BARS,
    )


def _section_name(conductor: SongConductor, tick: int) -> str | None:
    entry = conductor.section_at(tick)
    return entry.name if entry else None


def show_plugins(show: Show, performer_file: Path | None = None,
                 tracks: Sequence[str] | None = None, follow: bool = True,
                 seed: int = 0, crowd: Link | None = None, cues: bool = False,
                 live: bool = False) -> list[SongPlugins]:
    """Every song of ``show``; the performer (file) plays the first song; ``crowd`` (a link
    to the audience, live or simulated) steers every song through its polls; ``live``: on
    the real clock (a model part never waits for its model there)."""
    performer_path = performer_file or show.performer
    bars = ShowBars()
    songs = []
    for index, song in enumerate(show.songs):
        performer = None
        if index == 0 and performer_path is not None:
            chosen = list(tracks) if tracks else (list(show.performer_tracks) or None)
            performer = MidiFilePerformer.from_file(performer_path, chosen)
        songs.append(song_plugins(song, performer, seed=seed + index, follow=follow,
                                  crowd=crowd, bars=bars, cues=cues, live=live))
    return songs
