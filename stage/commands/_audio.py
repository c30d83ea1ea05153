"""``--audio-in DEVICE`` for ``stage run``: a live audio input the follower listens to."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from stage.commands._common import UsageError
from stage.engine.audio import BLOCK_SIZES, AudioInput
from stage.engine.follow.audio_follow import AudioFollower
from stage.engine.setlist import Show
from stage.engine.show import SongPlugins


def add_audio_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--audio-in", metavar="DEVICE",
                        help="follow a singer or instrument on this audio input (sounddevice "
                             "name or index; 'default' for the system's default)")
    parser.add_argument("--audio-rate", type=int, default=48_000, help="sample rate, Hz")
    parser.add_argument("--audio-block", type=int, default=128, choices=BLOCK_SIZES,
                        help="frames per audio block")
    parser.add_argument("--audio-channel", type=int, default=0,
                        help="input channel to follow (0-based)")


def open_audio(args: argparse.Namespace) -> AudioInput | None:
    """The audio input named by ``--audio-in`` (not started yet), or None."""
    if not args.audio_in:
        return None
    device: str | int | None = args.audio_in
    if device == "default":
        device = None
    elif isinstance(device, str) and device.isdigit():
        device = int(device)
    try:
        import sounddevice as sd

        sd.check_input_settings(device=device, samplerate=args.audio_rate,
                                channels=args.audio_channel + 1)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--audio-in {args.audio_in}: {exc}") from None
    return AudioInput(device, args.audio_rate, args.audio_block, args.audio_channel)


def follow_audio(songs: Sequence[SongPlugins], show: Show, audio: AudioInput) -> None:
    """Every song's follower hears the audio (and any MIDI input, fused)."""
    for plugins, song in zip(songs, show.songs, strict=True):
        plugins.follower = AudioFollower(song.meter, song.tempo, chart=song.chart,
                                         key_prior=song.key, feed=audio,
                                         hop_s=audio.front.hop_s)
