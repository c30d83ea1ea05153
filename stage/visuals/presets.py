"""Presets: how ``/stage/...`` cues become the addresses a VJ or show-control rig listens to.

A preset is a TOML data file of rules. Each rule names a ``cue`` address (exact, or ``*``
for every cue, or a prefix ending in ``/*``), the ``address`` to send (a template), and the
``args`` to send. Every rule that matches a cue sends one message, so one cue may fan out.

Templates and argument references:
  - ``{address}``: the cue's own address; ``{section_number}``: the 1-based number of the
    cue's section in order of first appearance (``/stage/section`` cues only);
    ``{1}``, ``{2}`` ...: the cue's arguments.
  - an ``args`` entry ``"$1"`` is the cue's first argument; ``"$1:float"`` / ``":int"`` /
    ``":str"`` converts it; ``"$section_number"`` the section number; any other value
    (number or string) is sent as written. No ``args`` key: the cue's arguments as they are.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stage.engine.events import Cue, OscArg

log = logging.getLogger(__name__)

PRESET_DIR = Path(__file__).resolve().parent / "presets"
PRESETS = ("generic", "touchdesigner", "resolume", "qlab")


class PresetError(ValueError):
    """A preset file that cannot be used."""


@dataclass(frozen=True, slots=True)
class Rule:
    cue: str
    address: str
    args: tuple[Any, ...] | None = None

    def matches(self, address: str) -> bool:
        if self.cue == "*":
            return True
        if self.cue.endswith("/*"):
            return address.startswith(self.cue[:-1])
        return address == self.cue


@dataclass
class Preset:
    """Translates cues into (address, args) messages; keeps the section numbering."""

    name: str
    rules: list[Rule]
    _sections: dict[str, int] = field(default_factory=dict)

    def translate(self, cue: Cue) -> list[tuple[str, tuple[OscArg, ...]]]:
        """The OSC messages for ``cue`` (none when no rule matches)."""
        section = self._section_number(cue)
        messages = []
        for rule in self.rules:
            if not rule.matches(cue.address):
                continue
            if "{section_number}" in rule.address and section is None:
                continue
            try:
                address = rule.address.format(
                    "", *cue.args, address=cue.address, section_number=section)
                args = cue.args if rule.args is None else tuple(
                    _arg(value, cue, section) for value in rule.args)
            except (IndexError, KeyError, ValueError, TypeError) as exc:
                log.warning("preset %s: rule %s cannot translate %s (%s)", self.name,
                            rule.cue, cue, exc)
                continue
            messages.append((address, args))
        return messages

    def _section_number(self, cue: Cue) -> int | None:
        if cue.address != "/stage/section" or not cue.args:
            return None
        label = str(cue.args[0])
        return self._sections.setdefault(label, len(self._sections) + 1)


def _arg(value: Any, cue: Cue, section: int | None) -> OscArg:
    if not isinstance(value, str) or not value.startswith("$"):
        return value
    ref, _, kind = value[1:].partition(":")
    raw: OscArg
    if ref == "section_number":
        if section is None:
            raise ValueError("no section number for this cue")
        raw = section
    else:
        raw = cue.args[int(ref) - 1]
    if kind == "float":
        return float(raw)
    if kind == "int":
        return int(raw)
    if kind == "str":
        return str(raw)
    return raw


def load_preset(name_or_path: str | Path,
                extra: Mapping[str, str | Mapping[str, Any]] | None = None) -> Preset:
    """A built-in preset by name (``generic``, ``touchdesigner``, ``resolume``, ``qlab``) or
    a TOML file. ``extra`` (a setlist's own mapping) adds rules before the preset's: cue
    address -> address template, or -> {address = ..., args = [...]}."""
    path = Path(name_or_path)
    if str(name_or_path) in PRESETS:
        path = PRESET_DIR / f"{name_or_path}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PresetError(f"no preset {name_or_path!r} (built in: {', '.join(PRESETS)})") \
            from None
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise PresetError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise PresetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    entries = data.get("rule", [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise PresetError(f"{path}: rule must be a list of tables ([[rule]])")
    rules = [_rule(cue, target) for cue, target in (extra or {}).items()]
    rules += [_rule(entry.get("cue", ""), entry) for entry in entries]
    return Preset(str(data.get("name", path.stem)), rules)


def _rule(cue: str, target: str | Mapping[str, Any]) -> Rule:
    if isinstance(target, str):
        target = {"address": target}
    if not isinstance(target, Mapping):
        raise PresetError(f"rule for {cue!r} must be an address or a table")
    address = target.get("address")
    if not cue or not isinstance(cue, str) or not isinstance(address, str) \
            or not address.startswith(("/", "{")):
        raise PresetError(f"rule for {cue!r} needs cue and an address starting with '/'")
    args = target.get("args")
    if args is not None and not isinstance(args, Sequence):
        raise PresetError(f"rule for {cue!r}: args must be a list")
    return Rule(cue, address, None if args is None else tuple(args))
