"""The profile's model, assembled from the core's sections and every plugin's kinds and sections,
and the translation of validation errors into messages a site integrator can act on."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union

import pluggy
from pydantic import BaseModel, Field, create_model
from pydantic_core import ErrorDetails

from gatecore.config import (
    ConfigModel,
    DeviceConfig,
    EvidenceConfig,
    LaneConfig,
    LoggingConfig,
    RunConfig,
    SiteConfig,
    suggest,
)
from gatecore.plugins import available
from gatecore.privacy import Reports
from gatecore.tomlpos import KeyPath


class PluginsBase(ConfigModel):
    disable: tuple[str, ...] = Field((), description="plugins not to load, by name")


@dataclass(frozen=True)
class ModelSet:
    root: type[BaseModel]
    device_kinds: Mapping[str, type[DeviceConfig]]
    evidence_kinds: Mapping[str, type[EvidenceConfig]]
    plugin_names: frozenset[str]  # every plugin a profile may name (loaded, or installed and disabled)


def _kinds(found: list[Any], base: type[ConfigModel]) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for group in found:
        for model in group or ():
            if not (isinstance(model, type) and issubclass(model, base)):
                raise TypeError(f"{model!r} is not a {base.__name__} subclass")
            if issubclass(model, EvidenceConfig) and not isinstance(model.reports, Reports):
                raise TypeError(f"{model.__name__}.reports is not a Reports declaration")
            for kind in typing.get_args(model.model_fields["kind"].annotation):
                kinds[kind] = model
    return kinds


def _union(kinds: Mapping[str, Any], base: type[ConfigModel]) -> Any:
    members = tuple(dict.fromkeys(kinds.values()))
    if not members:
        return base
    if len(members) == 1:
        return members[0]
    return Annotated[Union[members], Field(discriminator="kind")]  # noqa: UP007 - built at run time


def build_models(pm: pluggy.PluginManager) -> ModelSet:
    """One model for the whole profile, from the core's sections and every plugin's declarations."""
    devices = _kinds(pm.hook.gatecore_device_kinds(), DeviceConfig)
    evidence = _kinds(pm.hook.gatecore_evidence_kinds(), EvidenceConfig)
    sections: dict[str, Any] = {}
    for found in pm.hook.gatecore_config_section():
        if found:
            name, model = found
            sections[name] = (model | None, Field(None, description=model.__doc__))
    device_union, evidence_union = _union(devices, DeviceConfig), _union(evidence, EvidenceConfig)
    lane_fields: dict[str, Any] = {
        "devices": (tuple[device_union, ...], ()),  # type: ignore[valid-type]
        "evidence": (tuple[evidence_union, ...], ()),  # type: ignore[valid-type]
    }
    lane = create_model("Lane", __base__=LaneConfig, **lane_fields)
    plugins = create_model("Plugins", __base__=PluginsBase, **sections)
    root = create_model(
        "Profile", __base__=ConfigModel,
        include=(tuple[str, ...], Field((), description="profiles to merge under this one")),
        site=(SiteConfig, ...),
        logging=(LoggingConfig, Field(default_factory=LoggingConfig)),
        run=(RunConfig, Field(default_factory=RunConfig)),
        lanes=(tuple[lane, ...], Field(description="the lanes of this site")),
        plugins=(plugins, Field(default_factory=plugins)),
    )
    names = {name for name, _ in pm.list_name_plugin()} | available()
    return ModelSet(root, devices, evidence, frozenset(names))


# -- error translation ----------------------------------------------------------------------------


_ABSENT = object()


def _child(node: Any, part: int | str) -> Any:
    if isinstance(node, dict):
        return node.get(part, _ABSENT)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _ABSENT


def _real_path(loc: tuple[int | str, ...], raw: Any, tags: Mapping[str, Any]) -> KeyPath:
    """Drop the parts of a pydantic location that are not in the document (union tags)."""
    out: list[str | int] = []
    node = raw
    for part in loc:
        child = _child(node, part)
        if child is not _ABSENT:
            node = child
        elif isinstance(node, dict) and part in tags and out and isinstance(out[-1], int):
            continue  # a discriminated union's tag
        else:
            out.append(part)
            break
        out.append(part)
    return tuple(out)


def _model_at(loc: tuple[int | str, ...], root: type[BaseModel], tags: Mapping[str, Any]) -> type[BaseModel] | None:
    """The model that validates the table at pydantic's ``loc`` (union tags included), to list its keys."""
    node: Any = root
    for part in loc:
        node = _strip(node)
        if isinstance(part, int) and typing.get_origin(node) is tuple:
            node = typing.get_args(node)[0]
        elif typing.get_origin(node) in (Union, types.UnionType):
            node = tags.get(str(part))  # a discriminated union: ``part`` is the tag
        elif isinstance(node, type) and issubclass(node, BaseModel) and part in node.model_fields:
            node = node.model_fields[str(part)].annotation
        else:
            return None
    node = _strip(node)
    return node if isinstance(node, type) and issubclass(node, BaseModel) else None


def _strip(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` to ``X``."""
    while True:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is Annotated:
            annotation = args[0]
        elif origin in (Union, types.UnionType) and type(None) in args and len(args) == 2:
            annotation = next(a for a in args if a is not type(None))
        else:
            return annotation


def describe_error(err: ErrorDetails, raw: Any, models: ModelSet) -> tuple[KeyPath, str]:
    tags = {**models.device_kinds, **models.evidence_kinds}
    path = _real_path(tuple(err["loc"]), raw, tags)
    kind, msg, found = err["type"], err["msg"], err.get("input")
    if kind == "missing":
        return path, f"missing required key {path[-1]!r}" if path else "missing required key"
    if kind == "extra_forbidden":
        model = _model_at(tuple(err["loc"])[:-1], models.root, tags)
        known = sorted(model.model_fields) if model else []
        name = str(path[-1])
        hint = suggest(name, known) or (f"; known keys: {', '.join(known)}" if known else "")
        return path, f"unknown key {name!r}{hint}"
    if msg.startswith("Input should be "):
        msg = "expected " + msg.removeprefix("Input should be ")
    elif msg.startswith("String should "):
        msg = "expected a string that would " + msg.removeprefix("String should ")
    elif msg.startswith("Value error, "):
        msg = msg.removeprefix("Value error, ")
    if kind in ("secret_ref", "secret_unreadable") or isinstance(found, dict | list):
        return path, msg
    return path, f"{msg}; found {found!r} ({_toml_type(found)})"


def _toml_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string"}
    return names.get(type(value), type(value).__name__)
