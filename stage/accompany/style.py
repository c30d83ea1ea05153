"""Styles as data: a TOML file per style holds its patterns per section, feel and part mix.

A style file (``stage/accompany/styles/<name>.toml``) has:

- ``name``, ``description``, ``meter`` (the meter its patterns are written in), ``tempo``
  (a suggested ``[low, high]`` bpm range), ``swing`` (0 straight .. 1 full triplet) and
  ``swing_unit`` (8 or 16: which subdivision swings);
- ``[humanize]``: ``timing`` (ticks at 960 per quarter) and ``velocity`` (MIDI steps);
- ``[mix.<part>]`` for each part: ``channel`` (0-based; drums on 9), ``program`` (GM, 0-based),
  ``volume``, register ``low``/``high`` (MIDI pitches), ``gate`` and part options;
- ``[sections.<section>]`` for intro, main_a .. main_d, fill, break, ending: ``bars`` and a
  table per part with its step patterns (a string for every bar, or a list cycled bar by bar).

Step characters (one step = bar length / pattern length):
``.`` rest, ``-`` hold the previous note, ``X`` accent, ``x`` hit, ``o`` ghost (plays when the
effective density is at least 0.35), ``+`` extra (plays from 0.65). Bass steps name the chord
tone instead: ``R`` root accented, ``r`` root, ``3``, ``5``, ``7``, ``8`` (octave), ``a``
(approach into the next chord, played from complexity 0.3), ``o`` ghost root.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stage.engine.state import Meter

STYLES_DIR = Path(__file__).with_name("styles")

PART_NAMES = ("drums", "bass", "keys", "pad", "arp", "harmony")
PATTERN_PARTS = ("drums", "bass", "keys", "pad", "arp")
MAIN_SECTIONS = ("main_a", "main_b", "main_c", "main_d")
SECTION_NAMES = ("intro", *MAIN_SECTIONS, "fill", "break", "ending")

DRUM_NOTES: dict[str, int] = {
    "kick": 36, "side_stick": 37, "snare": 38, "clap": 39, "snare_rim": 40, "tom_low": 45,
    "hat": 42, "pedal_hat": 44, "open_hat": 46, "tom_mid": 47, "tom_high": 50, "crash": 49,
    "ride": 51, "ride_bell": 53, "tambourine": 54, "cowbell": 56, "conga_high": 62,
    "conga_low": 64, "shaker": 70, "cabasa": 69, "claves": 75, "rim": 37, "brush": 38,
}
"""Drum-line names in style files -> General MIDI percussion keys (channel 10)."""

_HIT_CHARS = set(".-Xxo+")
_BASS_CHARS = set(".-Rr3578ao")
_DEFAULT_MIX: dict[str, dict[str, Any]] = {
    "drums": {"channel": 9, "program": 0, "low": 35, "high": 81},
    "bass": {"channel": 1, "program": 33, "low": 28, "high": 50},
    "keys": {"channel": 2, "program": 4, "low": 50, "high": 79},
    "pad": {"channel": 3, "program": 89, "low": 55, "high": 84},
    "arp": {"channel": 4, "program": 81, "low": 60, "high": 91},
    "harmony": {"channel": 5, "program": 52, "low": 48, "high": 84},
}


@dataclass(frozen=True, slots=True)
class PartMix:
    """How one part sounds: MIDI ``channel`` (0-based), GM ``program``, ``volume`` (CC 7),
    register ``low``..``high`` (MIDI pitches), ``gate`` (share of a step's length a note
    sounds), ``gain`` (velocity scale) and part-specific ``options``."""

    channel: int
    program: int
    low: int
    high: int
    volume: int = 100
    gate: float = 0.9
    gain: float = 1.0
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)


@dataclass(frozen=True, slots=True)
class SectionPatterns:
    """One section: its length in ``bars`` (0: as long as it is held) and each part's
    patterns, e.g. ``{"drums": {"kick": ("x...",)}, "bass": {"pattern": ("R...",)}}``."""

    name: str
    bars: int
    parts: dict[str, dict[str, tuple[str, ...]]]

    def lines(self, part: str) -> dict[str, tuple[str, ...]]:
        return self.parts.get(part, {})


@dataclass(frozen=True, slots=True)
class Style:
    name: str
    description: str
    meter: Meter
    tempo: tuple[float, float]
    swing: float
    swing_unit: int
    humanize_timing: int
    humanize_velocity: int
    mix: dict[str, PartMix]
    sections: dict[str, SectionPatterns]

    def with_mix(self, overrides: dict[str, dict[str, Any]]) -> Style:
        """A copy with some parts' mix fields replaced (``{"keys": {"program": 0}}``)."""
        mix = dict(self.mix)
        for part, fields in overrides.items():
            if part not in mix:
                raise ValueError(f"unknown part {part!r} in mix overrides")
            mix[part] = _part_mix(part, {**_mix_as_dict(mix[part]), **fields})
        return replace(self, mix=mix)


def list_styles() -> list[str]:
    """Names of the styles shipped with stage (the TOML files in ``styles/``)."""
    return sorted(path.stem for path in STYLES_DIR.glob("*.toml"))


def load_style(name_or_path: str | Path) -> Style:
    """Load a shipped style by name (``"funk"``) or any style file by path.

    Raises ValueError (naming the file and the field) when the file is malformed.
    """
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = STYLES_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise ValueError(f"no style {name_or_path!r}; styles: {', '.join(list_styles())}")
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    try:
        return parse_style(data, default_name=path.stem)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from error


def parse_style(data: dict[str, Any], default_name: str = "style") -> Style:
    meter = Meter.parse(str(data.get("meter", "4/4")))
    tempo = data.get("tempo", [80, 140])
    humanize = data.get("humanize", {})
    mix_data = data.get("mix", {})
    unknown = set(mix_data) - set(PART_NAMES)
    if unknown:
        raise ValueError(f"unknown parts in [mix]: {', '.join(sorted(unknown))}")
    mix = {part: _part_mix(part, {**_DEFAULT_MIX[part], **mix_data.get(part, {})})
           for part in PART_NAMES}
    sections_data = data.get("sections", {})
    missing = [name for name in SECTION_NAMES if name not in sections_data]
    if missing:
        raise ValueError(f"missing sections: {', '.join(missing)}")
    sections = {name: _section(name, sections_data[name], meter) for name in SECTION_NAMES}
    swing_unit = int(data.get("swing_unit", 8))
    if swing_unit not in (8, 16):
        raise ValueError("swing_unit must be 8 or 16")
    return Style(
        name=str(data.get("name", default_name)),
        description=str(data.get("description", "")),
        meter=meter,
        tempo=(float(tempo[0]), float(tempo[1])),
        swing=_unit_interval("swing", data.get("swing", 0.0)),
        swing_unit=swing_unit,
        humanize_timing=int(humanize.get("timing", 0)),
        humanize_velocity=int(humanize.get("velocity", 0)),
        mix=mix,
        sections=sections,
    )


_MIX_FIELDS = ("channel", "program", "low", "high", "volume", "gate", "gain", "enabled")


def _part_mix(part: str, fields: dict[str, Any]) -> PartMix:
    options = {k: v for k, v in fields.items() if k not in _MIX_FIELDS and k != "options"}
    options.update(fields.get("options", {}))
    mix = PartMix(
        channel=int(fields["channel"]), program=int(fields["program"]),
        low=int(fields["low"]), high=int(fields["high"]),
        volume=int(fields.get("volume", 100)), gate=float(fields.get("gate", 0.9)),
        gain=float(fields.get("gain", 1.0)), enabled=bool(fields.get("enabled", True)),
        options=options,
    )
    if not (0 <= mix.channel <= 15 and 0 <= mix.program <= 127):
        raise ValueError(f"[mix.{part}]: channel 0-15 and program 0-127")
    if not (0 <= mix.low < mix.high <= 127) or mix.high - mix.low < 12:
        raise ValueError(f"[mix.{part}]: register low..high must span an octave or more")
    return mix


def _mix_as_dict(mix: PartMix) -> dict[str, Any]:
    return {"channel": mix.channel, "program": mix.program, "low": mix.low, "high": mix.high,
            "volume": mix.volume, "gate": mix.gate, "gain": mix.gain, "enabled": mix.enabled,
            "options": dict(mix.options)}


def _section(name: str, data: dict[str, Any], meter: Meter) -> SectionPatterns:
    bars = int(data.get("bars", 0 if name.startswith("main") else 1))
    if name not in MAIN_SECTIONS and bars < 1:
        raise ValueError(f"section {name!r} needs bars >= 1")
    parts: dict[str, dict[str, tuple[str, ...]]] = {}
    for part in PATTERN_PARTS:
        table = data.get(part)
        if table is None:
            continue
        lines: dict[str, tuple[str, ...]] = {}
        for line, value in table.items():
            if part == "drums" and line not in DRUM_NOTES:
                raise ValueError(f"[sections.{name}.drums]: unknown drum {line!r}")
            patterns = (value,) if isinstance(value, str) else tuple(value)
            for pattern in patterns:
                _check_pattern(f"{name}.{part}.{line}", pattern, part, meter)
            lines[line] = patterns
        parts[part] = lines
    return SectionPatterns(name, bars, parts)


def _check_pattern(where: str, pattern: str, part: str, meter: Meter) -> None:
    allowed = _BASS_CHARS if part == "bass" else _HIT_CHARS
    bad = set(pattern) - allowed
    if bad:
        raise ValueError(f"{where}: characters {''.join(sorted(bad))!r} not allowed")
    if not pattern or len(pattern) % meter.beats_per_bar:
        raise ValueError(f"{where}: length {len(pattern)} is not a multiple of "
                         f"{meter.beats_per_bar} beats")


def _unit_interval(name: str, value: Any) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be within 0..1")
    return number
