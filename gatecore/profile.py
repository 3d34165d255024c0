"""Profiles: TOML files (with ``include``) turned into validated, frozen configuration.

Every problem becomes a :class:`ProfileIssue` that names the file, line, column and key path, says
what was expected and what was found, and suggests the nearest known name for a misspelling. All
problems of a profile are reported at once.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError

from gatecore.config import (
    ConfigModel,
    LaneConfig,
    LoggingConfig,
    RunConfig,
    SiteConfig,
)
from gatecore.profile_models import ModelSet, build_models, describe_error
from gatecore.tomlpos import KeyPath, key_positions, locate

Origin = tuple[str, int, int]


@dataclass(frozen=True, slots=True, order=True)
class ProfileIssue:
    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path or '<profile>'}: {self.message}"


class ProfileError(Exception):
    def __init__(self, issues: Sequence[ProfileIssue]) -> None:
        self.issues = sorted(set(issues))
        super().__init__("\n".join(map(str, self.issues)))


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- reading files and includes -------------------------------------------------------------------


@dataclass
class _Layer:
    data: dict[str, Any]
    origins: dict[KeyPath, Origin] = field(default_factory=dict)


class _Reader:
    def __init__(self) -> None:
        self.issues: list[ProfileIssue] = []

    def issue(self, origin: Origin, path: KeyPath, message: str) -> None:
        self.issues.append(ProfileIssue(origin[0], origin[1], origin[2], dotted(path), message))

    def read(self, path: Path, stack: tuple[Path, ...] = ()) -> _Layer:
        shown = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            self.issue((shown, 1, 1), (), f"cannot read profile: {exc.strerror}")
            return _Layer({})
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line, col = _toml_error_position(str(exc))
            self.issue((shown, line, col), (), f"TOML syntax error: {re.sub(r' [(]at .*[)]$', '', str(exc))}")
            return _Layer({})
        origins = {key: (shown, ln, cl) for key, (ln, cl) in key_positions(text).items()}
        layer = _Layer({}, {})
        includes = data.pop("include", [])
        if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
            self.issue(origins[("include",)], ("include",), "expected a list of file names")
            includes = []
        for index, name in enumerate(includes):
            target = (path.parent / name).resolve()
            where = origins.get(("include", index), origins[()])
            if target in stack or target == path.resolve():
                self.issue(where, ("include", index), f"include cycle through {name!r}")
            elif not target.is_file():
                self.issue(where, ("include", index), f"included file {name!r} not found")
            else:
                _merge(layer, self.read(target, (*stack, path.resolve())))
        _merge(layer, _Layer(data, {k: v for k, v in origins.items() if k[:1] != ("include",)}))
        return layer


def _toml_error_position(message: str) -> tuple[int, int]:
    found = re.search(r"line (\d+), column (\d+)", message)
    return (int(found.group(1)), int(found.group(2))) if found else (1, 1)


def _merge(base: _Layer, top: _Layer) -> None:
    """Overlay ``top`` on ``base``: tables merge, arrays of tables concatenate, other values replace."""
    shifts: dict[KeyPath, int] = {}

    def merge(dst: dict[str, Any], src: dict[str, Any], path: KeyPath) -> None:
        for key, value in src.items():
            here = (*path, key)
            old = dst.get(key)
            if isinstance(old, dict) and isinstance(value, dict):
                merge(old, value, here)
            elif isinstance(old, list) and _is_table_array(old) and _is_table_array(value):
                shifts[here] = len(old)
                old.extend(value)
            else:
                dst[key] = value

    merge(base.data, top.data, ())
    for key, origin in top.origins.items():
        base.origins[_shift(key, shifts)] = origin


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _shift(key: KeyPath, shifts: Mapping[KeyPath, int]) -> KeyPath:
    for prefix, offset in shifts.items():
        n = len(prefix)
        index = key[n] if len(key) > n else None
        if key[:n] == prefix and isinstance(index, int):
            return (*prefix, index + offset, *key[n + 1:])
    return key


# -- the validated profile ------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """A validated profile. ``root`` is the frozen pydantic model of the whole document."""

    path: Path
    root: BaseModel
    origins: Mapping[KeyPath, Origin]

    @property
    def site(self) -> SiteConfig:
        return self.root.site  # type: ignore[attr-defined, no-any-return]

    @property
    def logging(self) -> LoggingConfig:
        return self.root.logging  # type: ignore[attr-defined, no-any-return]

    @property
    def run(self) -> RunConfig:
        return self.root.run  # type: ignore[attr-defined, no-any-return]

    @property
    def lanes(self) -> tuple[LaneConfig, ...]:
        return self.root.lanes  # type: ignore[attr-defined, no-any-return]

    @property
    def disabled(self) -> tuple[str, ...]:
        return self.root.plugins.disable  # type: ignore[attr-defined, no-any-return]

    def plugin_config(self, name: str) -> ConfigModel | None:
        return getattr(self.root.plugins, name, None)  # type: ignore[attr-defined]

    def issue(self, path: KeyPath, message: str) -> ProfileIssue:
        """A problem at ``path`` (or at its nearest written ancestor), with its file and line."""
        return issue_at(self.origins, str(self.path), path, message)


def issue_at(origins: Mapping[KeyPath, Origin], file: str, path: KeyPath, message: str) -> ProfileIssue:
    found: Origin | None = locate(origins, path)[1]
    where_file, line, col = found or (file, 1, 1)
    return ProfileIssue(where_file, line, col, dotted(path), message)


def read_profile(path: str | Path) -> tuple[dict[str, Any], dict[KeyPath, Origin]]:
    """The merged raw document and the origin of every key; raises :class:`ProfileError`."""
    reader = _Reader()
    layer = reader.read(Path(path))
    if reader.issues:
        raise ProfileError(reader.issues)
    return layer.data, layer.origins


def disabled_plugins(raw: Mapping[str, Any]) -> list[str]:
    plugins = raw.get("plugins")
    disable = plugins.get("disable", []) if isinstance(plugins, dict) else []
    return [d for d in disable if isinstance(d, str)] if isinstance(disable, list) else []


def load_profile(path: str | Path, pm: pluggy.PluginManager) -> Profile:
    """Read, merge and validate a profile against the plugins in ``pm``; raises :class:`ProfileError`."""
    raw, origins = read_profile(path)
    models = build_models(pm)
    issues = _Validator(raw, origins, models, str(path)).run()
    if issues:
        raise ProfileError(issues)
    profile = Profile(Path(path), models.root.model_validate(raw), origins)
    extra: list[ProfileIssue] = []
    for found in pm.hook.gatecore_check_profile(profile=profile):
        extra += [profile.issue(tuple(key), message) for key, message in found or ()]
    if extra:
        raise ProfileError(extra)
    return profile


class _Validator:
    def __init__(self, raw: dict[str, Any], origins: dict[KeyPath, Origin], models: ModelSet, path: str) -> None:
        self.raw, self.origins, self.models, self.path = raw, origins, models, path
        self.issues: list[ProfileIssue] = []
        self.unknown_kinds: set[KeyPath] = set()

    def add(self, path: KeyPath, message: str) -> None:
        self.issues.append(issue_at(self.origins, self.path, path, message))

    def run(self) -> list[ProfileIssue]:
        self.check_lanes()
        self.check_plugins()
        try:
            self.models.root.model_validate(self.raw)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                path, message = describe_error(err, self.raw, self.models)
                if not any(path[: len(k)] == k for k in self.unknown_kinds):
                    self.add(path, message)
        return self.issues

    def check_plugins(self) -> None:
        known = self.models.plugin_names
        for index, name in enumerate(disabled_plugins(self.raw)):
            if name not in known:
                self.add(("plugins", "disable", index), f"no plugin named {name!r}{suggest(name, sorted(known))}")

    def check_lanes(self) -> None:
        lanes = self.raw.get("lanes")
        if lanes == []:
            self.add(("lanes",), "a site needs at least one lane")
        if not isinstance(lanes, list):
            return
        seen: dict[str, int] = {}
        for i, lane in enumerate(lanes):
            if not isinstance(lane, dict):
                continue
            lane_id = lane.get("id")
            if isinstance(lane_id, str):
                if lane_id in seen:
                    first = self.origins.get(("lanes", seen[lane_id], "id"), ("", 0, 0))
                    self.add(("lanes", i, "id"), f"duplicate lane id {lane_id!r} (first defined at line {first[1]})")
                seen.setdefault(lane_id, i)
            roles = self.check_entries(("lanes", i), lane, "devices", "role", self.models.device_kinds)
            sources = self.check_entries(("lanes", i), lane, "evidence", "source", self.models.evidence_kinds)
            self.check_roles(("lanes", i), lane, roles)
            self.check_require(("lanes", i), lane, sources)

    def check_entries(self, at: KeyPath, lane: dict[str, Any], key: str, name_key: str,
                      kinds: Mapping[str, Any]) -> list[str]:
        entries = lane.get(key, [])
        names: list[str] = []
        for j, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, dict):
                continue
            kind = entry.get("kind")
            if isinstance(kind, str) and kind not in kinds:
                what = "device" if key == "devices" else "evidence"
                self.add((*at, key, j, "kind"), f"unknown {what} kind {kind!r}{suggest(kind, sorted(kinds))}; "
                         f"known kinds: {', '.join(sorted(kinds)) or 'none (is the plugin installed?)'}")
                self.unknown_kinds.add((*at, key, j))
            name = entry.get(name_key)
            if isinstance(name, str):
                if name in names:
                    self.add((*at, key, j, name_key), f"duplicate {name_key} {name!r} in this lane")
                names.append(name)
        return names

    def check_roles(self, at: KeyPath, lane: dict[str, Any], roles: list[str]) -> None:
        fields = LaneConfig.model_fields
        for key in ("trigger", "exit", "barrier", "lights", "display"):
            role = lane.get(key, fields[key].default)
            if isinstance(role, str) and role not in roles:
                self.add((*at, key), f"no device with role {role!r} in this lane{suggest(role, roles)}; "
                         f"roles: {', '.join(roles) or 'none'}")

    def check_require(self, at: KeyPath, lane: dict[str, Any], sources: list[str]) -> None:
        policy = lane.get("policy")
        require = policy.get("require", []) if isinstance(policy, dict) else []
        for k, name in enumerate(require if isinstance(require, list) else []):
            if isinstance(name, str) and name not in sources:
                self.add((*at, "policy", "require", k), f"required source {name!r} is not an evidence source of "
                         f"this lane{suggest(name, sources)}; sources: {', '.join(sources) or 'none'}")
