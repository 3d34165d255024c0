"""Profiles: TOML files (with ``include``) turned into validated, frozen configuration.

Every problem becomes a :class:`ProfileIssue` that names the file, line, column and key path, says
what was expected and what was found, and suggests the nearest known name for a misspelling. All
problems of a profile are reported at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError

from gatecore.config import (
    LANE_ROLES,
    ConfigModel,
    LaneConfig,
    LoggingConfig,
    RunConfig,
    SiteConfig,
    role_problem,
    suggest,
)
from gatecore.profile_models import ModelSet, build_models, describe_error
from gatecore.profile_read import (
    MAX_PROFILE_BYTES,
    Origin,
    ProfileError,
    ProfileIssue,
    ReadLimits,
    dotted,
    read_profile,
)
from gatecore.tomlpos import KeyPath, locate

__all__ = [
    "MAX_PROFILE_BYTES", "Origin", "Profile", "ProfileError", "ProfileIssue", "ReadLimits", "disabled_plugins",
    "dotted", "issue_at", "load_profile", "read_profile", "suggest", "validate_profile",
]


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


def disabled_plugins(raw: Mapping[str, Any]) -> list[str]:
    plugins = raw.get("plugins")
    disable = plugins.get("disable", []) if isinstance(plugins, dict) else []
    return [d for d in disable if isinstance(d, str)] if isinstance(disable, list) else []


def load_profile(path: str | Path, pm: pluggy.PluginManager, limits: ReadLimits | None = None) -> Profile:
    """Read, merge and validate a profile against the plugins in ``pm``; raises :class:`ProfileError`."""
    raw, origins = read_profile(path, limits)
    return validate_profile(path, raw, origins, pm)


def validate_profile(path: str | Path, raw: dict[str, Any], origins: dict[KeyPath, Origin],
                     pm: pluggy.PluginManager) -> Profile:
    """Validate what :func:`read_profile` read against the plugins in ``pm``; raises :class:`ProfileError`."""
    root = _Validator(raw, origins, build_models(pm), str(path)).run()
    profile = Profile(Path(path), root, origins)
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

    def run(self) -> BaseModel:
        """The validated document; raises :class:`ProfileError` with every problem found."""
        self.check_lanes()
        self.check_plugins()
        try:
            root = self.models.root.model_validate(self.raw)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                path, message = describe_error(err, self.raw, self.models)
                if not any(path[:n] in self.unknown_kinds for n in range(len(path) + 1)):
                    self.add(path, message)
        if self.issues:
            raise ProfileError(self.issues)
        return root

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
            devices = self.check_entries(("lanes", i), lane, "devices", "role", self.models.device_kinds)
            sources = self.check_entries(("lanes", i), lane, "evidence", "source", self.models.evidence_kinds)
            self.check_roles(("lanes", i), lane, devices)
            self.check_require(("lanes", i), lane, sources)

    def check_entries(self, at: KeyPath, lane: dict[str, Any], key: str, name_key: str,
                      kinds: Mapping[str, Any]) -> dict[str, tuple[str, Any] | None]:
        """Each entry's kind is known and its name unique; returns name -> (kind, its model), or None for
        an entry of no known kind."""
        entries = lane.get(key, [])
        names: dict[str, tuple[str, Any] | None] = {}
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
                names.setdefault(name, (kind, kinds[kind]) if isinstance(kind, str) and kind in kinds else None)
        return names

    def check_roles(self, at: KeyPath, lane: dict[str, Any], devices: Mapping[str, tuple[str, Any] | None]) -> None:
        """Each role the lane names is a device of the model it needs (a barrier for ``barrier``...)."""
        made = {role: (found[0], found[1].makes) if found else ("?", None) for role, found in devices.items()}
        fields = LaneConfig.model_fields
        for key, models in LANE_ROLES.items():
            role = lane.get(key, fields[key].default)
            if not isinstance(role, str) or (role in devices and devices[role] is None):
                continue  # not a name (the model says so), or a device of an unknown kind (said already)
            problem = role_problem(role, made, models)
            if problem:
                self.add((*at, key), problem)

    def check_require(self, at: KeyPath, lane: dict[str, Any], sources: Mapping[str, object]) -> None:
        policy = lane.get("policy")
        require = policy.get("require", []) if isinstance(policy, dict) else []
        for k, name in enumerate(require if isinstance(require, list) else []):
            if isinstance(name, str) and name not in sources:
                self.add((*at, "policy", "require", k), f"required source {name!r} is not an evidence source of "
                         f"this lane{suggest(name, list(sources))}; sources: {', '.join(sources) or 'none'}")
