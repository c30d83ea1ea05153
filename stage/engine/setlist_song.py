"""One song's cross-reference checks and its :class:`Song`: form -> sections, chords,
polls, controller and scenes. Tolerates any shape (the schema reports those); adds a
problem for every reference that does not resolve."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from stage.engine.chart import ChartSection, ChordChart
from stage.engine.harmony import Key
from stage.engine.setlist import (
    ARRANGER_SECTIONS,
    ControllerSettings,
    PartSettings,
    Poll,
    Song,
    SongSection,
    arranger_section,
)
from stage.engine.setlist_toml import PathKey
from stage.engine.state import Meter

log = logging.getLogger(__name__)


class Reporter(Protocol):
    def add(self, path: PathKey, message: str) -> None: ...

    def count(self) -> int: ...


def known_styles() -> list[str]:
    """The band's style names, or [] (accept any) when the band is not installed."""
    try:
        from stage.accompany.style import list_styles  # lazy: the engine never needs it
    except ImportError:
        return []
    try:
        return list(list_styles())
    except Exception:  # a broken styles folder must not break `stage check`
        log.exception("listing styles failed")
        return []


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def build_song(data: dict[str, Any], where: Reporter, source: Path,
               since: int | None = None) -> Song | None:
    """Check what refers to what in ``data`` (one song's table); the Song, or None when
    ``where`` got any problem since its count was ``since`` (schema problems included)."""
    before = where.count() if since is None else since
    meter = _meter(data, where)
    key = _key(data, where)
    _style(data, where, meter)
    sections = _sections(data, where, meter)
    form = _form(data, where, sections)
    chart = _chart(form, sections)
    named = {**{name: None for name in _table(data, "sections")}, **sections}  # no cascades
    _polls(data, where, named)
    controller = _controller(_table(data, "controller"), where)
    _scenes(data, where, named)
    _bounds(data, where)
    if where.count() != before:
        return None
    mix = {part: PartSettings(
        part, program=None if "program" not in fields else int(fields["program"]) - 1,
        channel=None if "channel" not in fields else int(fields["channel"]) - 1,
        volume=fields.get("volume"), mute=bool(fields.get("mute", False)),
        engine=str(fields.get("engine", "pattern")))
        for part, fields in _table(data, "mix").items()}
    return Song(
        title=str(data["title"]), tempo=float(data["tempo"]), meter=meter, key=key,
        style=str(data["style"]), form=tuple(form), sections=sections, chart=chart, mix=mix,
        controls={k: float(v) for k, v in _table(data, "controls").items()},
        crowd_bounds={k: (float(v[0]), float(v[1])) for k, v in _table(data, "bounds").items()},
        controller=controller, polls=tuple(_poll(p) for p in data.get("polls", ())),
        osc_scenes={k: str(v) for k, v in _table(_table(data, "osc"), "scenes").items()},
        source=source)


def _meter(data: dict[str, Any], where: Reporter) -> Meter:
    text = data.get("meter", "4/4")
    if isinstance(text, str):
        try:
            return Meter.parse(text)
        except ValueError:
            pass  # the schema's pattern reports it
    return Meter()


def _key(data: dict[str, Any], where: Reporter) -> Key | None:
    text = data.get("key")
    if not isinstance(text, str) or not text:
        return None
    try:
        return Key.parse(text)
    except ValueError as exc:
        where.add(("key",), f"key: {exc} (write keys like 'Eb:maj', 'A:min', 'F#m')")
        return None


def _style(data: dict[str, Any], where: Reporter, meter: Meter) -> None:
    style = data.get("style")
    styles = known_styles()
    if not isinstance(style, str) or not style or not styles:
        return
    if style not in styles:
        where.add(("style",), f"style: unknown style {style!r}; styles: {', '.join(styles)}")
        return
    style_meter = style_meter_of(style)
    if style_meter is not None and style_meter != meter and "meter" in data:
        where.add(("meter",), f"meter: the {style!r} style's patterns are in {style_meter}, "
                              f"not {meter}; choose a style written in {meter}")


def style_meter_of(name: str) -> Meter | None:
    """The meter a shipped style's patterns are written in, or None when unknown."""
    try:
        from stage.accompany.style import load_style

        meter = load_style(name).meter
    except Exception:  # a style that fails to load is the band's problem, not the setlist's
        log.debug("loading style %s failed", name, exc_info=True)
        return None
    return meter if isinstance(meter, Meter) else None


def _sections(data: dict[str, Any], where: Reporter, meter: Meter) -> dict[str, SongSection]:
    sections: dict[str, SongSection] = {}
    for name, table in _table(data, "sections").items():
        if not isinstance(table, dict):
            continue
        at: PathKey = ("sections", name)
        arranger = _section_arranger(name, table, where, at)
        chords = _section_chords(name, table, where, at)
        bars = table.get("bars") if isinstance(table.get("bars"), int) else None
        if chords is not None and bars is not None and bars != len(chords.bars):
            where.add((*at, "bars"), f"sections.{name}.bars: {bars} bars, but the chords "
                                     f"give {len(chords.bars)}; drop bars or make them agree")
        if arranger is not None:
            written = table.get("chords")  # a bad chord label must not also cost the length
            length = len(written) if isinstance(written, list) and written else bars
            sections[name] = SongSection(name, arranger, length, chords)
    return sections


def _section_arranger(name: str, table: dict[str, Any], where: Reporter,
                      at: PathKey) -> str | None:
    written = table.get("arranger")
    if written is None:
        try:
            return arranger_section(name)
        except ValueError:
            where.add(at, f"sections.{name}: say which arranger section plays it, e.g. "
                          f"arranger = \"main-a\" (one of {_arranger_list()})")
            return None
    if not isinstance(written, str):
        return None
    try:
        return arranger_section(written)
    except ValueError as exc:
        where.add((*at, "arranger"), f"sections.{name}.arranger: {exc}")
        return None


def _section_chords(name: str, table: dict[str, Any], where: Reporter,
                    at: PathKey) -> ChartSection | None:
    bars = table.get("chords")
    if not isinstance(bars, list) or not bars:
        return None
    good = True
    for index, bar in enumerate(bars):
        if not isinstance(bar, str):
            good = False
            continue
        try:
            ChartSection.parse(name, [bar])
        except ValueError as exc:
            where.add((*at, "chords", index), f"sections.{name}.chords[{index}]: {exc} "
                      "(bars hold chord labels like 'C', 'A:min7', 'G:7/3', 'N')")
            good = False
    return ChartSection.parse(name, bars) if good else None


def _form(data: dict[str, Any], where: Reporter,
          sections: dict[str, SongSection]) -> list[str]:
    """Form entries name song sections; an arranger section's own name needs no table."""
    entries = data.get("form")
    form: list[str] = []
    if not isinstance(entries, list):
        return form
    declared = _table(data, "sections")
    for index, entry in enumerate(entries):
        if not isinstance(entry, str) or not entry:
            continue
        if entry not in sections:
            if entry in declared:
                continue  # its table has a problem of its own, already reported
            try:
                sections[entry] = SongSection(entry, arranger_section(entry))
            except ValueError:
                where.add(("form", index), f"form[{index}]: {entry!r} is neither a section of "
                          f"this song ([sections.{entry}]) nor an arranger section "
                          f"({_arranger_list()})")
                continue
        form.append(entry)
    if any(sections[name].chords is not None for name in form):
        for index, name in enumerate(entries):
            section = sections.get(name) if isinstance(name, str) else None
            if section is not None and section.bars is None:
                where.add(("form", index), f"form[{index}]: the song has a chord chart, so "
                          f"section {name!r} needs a length: [sections.{name}] bars = N")
    return form


def _chart(form: list[str], sections: dict[str, SongSection]) -> ChordChart | None:
    """The chart over the whole form; sections without chords hold 'N' for their bars."""
    used = [sections[name] for name in form if name in sections]
    if not any(s.chords is not None for s in used) or any(s.bars is None for s in used):
        return None
    charts = {s.name: s.chords or ChartSection(s.name, ((None,),) * (s.bars or 1))
              for s in used}
    return ChordChart(sections=charts, form=tuple(form))


def _polls(data: dict[str, Any], where: Reporter, sections: Mapping[str, object]) -> None:
    seen: set[str] = set()
    entries = data.get("polls")
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        poll_id = entry.get("id")
        if isinstance(poll_id, str):
            if poll_id in seen:
                where.add(("polls", index, "id"), f"polls[{index}].id: {poll_id!r} is used "
                          "by an earlier poll; ids are unique in a song")
            seen.add(poll_id)
        _poll_ok(entry, ("polls", index), where, sections)


def _poll_ok(entry: dict[str, Any], at: PathKey, where: Reporter,
             sections: Mapping[str, object]) -> None:
    name = f"polls[{at[-1]}]"
    kind = entry.get("kind")
    if kind == "choice":
        _choice_ok(entry, at, where)
    elif kind in ("scale", "tap", "reactions"):
        if "control" not in entry:
            where.add(at, f"{name}: a {kind} poll needs control = the control it steers")
        for key in ("options", "effects"):
            if key in entry:
                where.add((*at, key), f"{name}.{key}: only choice polls have {key}")
    if ("open_section" in entry) == ("open_bar" in entry):
        where.add(at, f"{name}: give exactly one of open_section or open_bar")
    opening = entry.get("open_section")
    if isinstance(opening, str) and opening not in sections:
        where.add((*at, "open_section"), f"{name}.open_section: {opening!r} is not a "
                  f"section of this song (sections: {', '.join(sections) or 'none'})")
    if "open_bars" not in entry and not entry.get("close_on_section", False):
        where.add(at, f"{name}: the poll never closes; set open_bars = N and/or "
                      "close_on_section = true")


def _choice_ok(entry: dict[str, Any], at: PathKey, where: Reporter) -> None:
    name = f"polls[{at[-1]}]"
    options, effects = entry.get("options"), entry.get("effects")
    if options is None:
        where.add(at, f"{name}: a choice poll needs options (2 to 6)")
    if effects is None:
        where.add(at, f"{name}: a choice poll needs effects, one table per option")
    elif isinstance(options, list) and isinstance(effects, list) and \
            len(options) != len(effects):
        where.add((*at, "effects"), f"{name}.effects: {len(effects)} effects for "
                  f"{len(options)} options; give one per option")
    if "control" in entry:
        where.add((*at, "control"), f"{name}.control: a choice poll steers through its "
                  "effects, not control")
    for index, effect in enumerate(effects if isinstance(effects, list) else []):
        section = effect.get("section") if isinstance(effect, dict) else None
        if isinstance(section, str):
            try:
                arranger_section(section)
            except ValueError as exc:
                where.add((*at, "effects", index, "section"),
                          f"{name}.effects[{index}].section: {exc}")


def _poll(entry: dict[str, Any]) -> Poll:
    effects = tuple(
        {k: (arranger_section(v) if k == "section" else float(v)) for k, v in e.items()}
        for e in entry.get("effects", ()))
    lo, hi = entry.get("range", (0.0, 1.0))
    return Poll(
        id=entry["id"], kind=entry["kind"], question=entry.get("question", ""),
        options=tuple(entry.get("options", ())), effects=effects,
        control=entry.get("control"), value_range=(float(lo), float(hi)),
        open_section=entry.get("open_section"), open_bar=entry.get("open_bar"),
        open_bars=entry.get("open_bars"),
        close_on_section=bool(entry.get("close_on_section", False)),
        apply=entry.get("apply", "bar"), smoothing=entry.get("smoothing"))


def _controller(table: dict[str, Any], where: Reporter) -> ControllerSettings | None:
    if not table:
        return None
    pads: list[tuple[int, str]] = []
    for note, section in _mapping(table, "pads"):
        if not note.isdigit():
            continue  # the schema reports it
        try:
            pads.append((int(note), arranger_section(section)))
        except ValueError as exc:
            where.add(("controller", "pads", note), f"controller.pads.{note}: {exc}")
    tap = table.get("sustain_double_tap")
    if isinstance(tap, str) and tap:
        try:
            tap = arranger_section(tap)
        except ValueError as exc:
            where.add(("controller", "sustain_double_tap"),
                      f"controller.sustain_double_tap: {exc} (\"\" turns it off)")
    ccs = [(int(n), c) for n, c in _mapping(table, "ccs") if n.isdigit()]
    return ControllerSettings(
        pads=tuple(pads) if "pads" in table else None,
        ccs=tuple(ccs) if "ccs" in table else None,
        pad_channel=_channel(table.get("pad_channel")),
        cc_channel=_channel(table.get("cc_channel")),
        double_tap=tap if isinstance(tap, str) else None,
        double_tap_ms=table.get("double_tap_ms"))


def _mapping(table: dict[str, Any], key: str) -> list[tuple[str, str]]:
    value = table.get(key)
    if not isinstance(value, dict):
        return []
    return [(k, v) for k, v in value.items() if isinstance(v, str)]


def _channel(value: Any) -> int | None:
    """1-16 as written -> 0-15; 0 (any channel) -> -1."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value - 1 if value > 0 else -1


def _scenes(data: dict[str, Any], where: Reporter, sections: Mapping[str, object]) -> None:
    for name in _table(_table(data, "osc"), "scenes"):
        if name in sections:
            continue
        try:
            arranger_section(name)
        except ValueError:
            where.add(("osc", "scenes", name), f"osc.scenes.{name}: {name!r} is not a "
                      f"section of this song (sections: {', '.join(sections) or 'none'})")


def _arranger_list() -> str:
    return ", ".join(s.replace("_", "-") for s in ARRANGER_SECTIONS)


def _bounds(data: dict[str, Any], where: Reporter) -> None:
    for name, pair in _table(data, "bounds").items():
        if isinstance(pair, list) and len(pair) == 2 and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in pair) \
                and pair[0] > pair[1]:
            where.add(("bounds", name), f"bounds.{name}: low {pair[0]} is above high {pair[1]}")
