"""Configuration models: the base classes plugins extend, and the core's own sections.

Every model is frozen and forbids unknown keys. A plugin owns the model of its ``[plugins.NAME]``
section (a :class:`ConfigModel`), of each device kind (a :class:`DeviceConfig` with a ``kind`` literal)
and of each evidence kind (an :class:`EvidenceConfig`). The core merges the kinds into discriminated
unions (see :mod:`gatecore.profile`).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from gatecore.devices import Barrier, Device, Display, Lights, Presence, Reader
from gatecore.privacy import NOTHING, Reports

Identifier = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9_.\-/]{0,63}$", description="lower-case letters, digits and _ . - /"),
]


class ConfigModel(BaseModel):
    """Base of every configuration model: frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class DeviceConfig(ConfigModel):
    """Base of a device kind. Subclasses narrow ``kind`` to a ``Literal["vendor.thing"]`` and say which
    device model the kind makes in ``makes``, so that ``gatecore check`` sees a lane's roles are right."""

    makes: ClassVar[type[Device] | None] = None
    """The device model (:class:`Barrier`, :class:`Presence`, :class:`Lights`, ...) the factory returns."""
    kind: str = Field(description="device kind, provided by a plugin (see `gatecore plugins`)")
    role: Identifier = Field(description="what the device does in its lane, e.g. 'entry', 'barrier'")


class EvidenceConfig(ConfigModel):
    """Base of an evidence kind. ``source`` names the evidence in the policy's ``require`` list. Subclasses
    narrow ``kind`` to a ``Literal["vendor.thing"]`` and declare in ``reports`` what their evidence may
    report outside the controller (:class:`gatecore.api.Reports`: reason codes, summary fields and their
    types); anything else is dropped from records and counted."""

    reports: ClassVar[Reports] = NOTHING
    """The reason codes and summary fields (number, flag, codes, hashed reference) fit to leave the controller."""
    kind: str = Field(description="evidence kind, provided by a plugin")
    source: Identifier = Field(description="name of this evidence in the lane policy, e.g. 'face'")
    deadline_ms: int = Field(1000, gt=0, le=60_000, description="time this source may take")


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A reference to a secret: ``env:NAME`` or ``file:PATH``. Secrets are never written in a profile.

    Validation checks that the secret can be read; :meth:`reveal` reads it when it is needed.
    """

    ref: str

    def reveal(self) -> str:
        scheme, _, target = self.ref.partition(":")
        if scheme == "env":
            value = os.environ.get(target)
            if value is None:
                raise LookupError(f"environment variable {target} is not set")
            return value
        return Path(target).read_text(encoding="utf-8").strip()

    def check(self) -> str | None:
        """Why the secret cannot be read, or None."""
        try:
            self.reveal()
        except LookupError as exc:
            return str(exc)
        except OSError as exc:
            return f"cannot read {self.ref.partition(':')[2]}: {exc.strerror}"
        return None

    @classmethod
    def parse(cls, value: Any) -> SecretRef:
        if isinstance(value, SecretRef):
            return value
        if not isinstance(value, str):
            raise PydanticCustomError("secret_ref", "expected a secret reference 'env:NAME' or 'file:PATH'")
        scheme, sep, target = value.partition(":")
        if not sep or scheme not in ("env", "file") or not target:
            raise PydanticCustomError(
                "secret_ref",
                "secrets are never written in a profile: expected 'env:NAME' or 'file:PATH'",
            )
        ref = cls(value)
        problem = ref.check()
        if problem:
            raise PydanticCustomError("secret_unreadable", "secret {ref} cannot be read: {problem}",
                                      {"ref": value, "problem": problem})
        return ref

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse,
            json_schema_input_schema=core_schema.str_schema(pattern=r"^(env|file):.+$"),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda s: s.ref),
        )


class PolicyConfig(ConfigModel):
    """How a lane combines votes and how long it waits."""

    require: tuple[Identifier, ...] = Field((), description="evidence sources that must PASS")
    deadline_ms: int = Field(1500, gt=0, le=60_000, description="overall evidence deadline")
    refer_on_timeout: bool = Field(True, description="late optional evidence refers instead of being ignored")
    confirm_timeout_ms: int = Field(2000, gt=0, le=60_000, description="wait for the barrier to confirm")
    clear_timeout_ms: int = Field(30_000, gt=0, le=3_600_000, description="wait for the lane to clear")
    refer_hold_ms: int = Field(5000, ge=0, le=3_600_000, description="keep a refer on display at least")
    officer_timeout_ms: int = Field(0, ge=0, le=3_600_000, description="how long a referred crossing waits for "
                                    "an officer's resolution (0: no officer resolves; the refer is only held)")
    recover_every_ms: int = Field(1000, gt=0, le=600_000, description="retry a degraded lane this often")


class SiteConfig(ConfigModel):
    id: Identifier = Field(description="site id, e.g. 'mong-cai/bac-luan-2'")
    name: str = Field("", description="human-readable name")


class LoggingConfig(ConfigModel):
    level: str = Field("info", pattern=r"^(debug|info|warning|error)$")
    format: str = Field("auto", pattern=r"^(auto|json|console)$",
                        description="json lines, console, or auto (console on a TTY)")
    lane_events: bool = Field(True, description="log each lane state change and decision")


class RunConfig(ConfigModel):
    shutdown_timeout_s: float = Field(5.0, gt=0, le=120)
    report_timeout_ms: int = Field(2000, gt=0, le=60_000, description="deadline for report hooks")
    hook_budget_ms: int = Field(100, gt=0, le=10_000, description="how long a plain (not async) hook may run: "
                                "past it the call counts as a failure of its plugin")


class LaneConfig(ConfigModel):
    """One lane. ``devices`` and ``evidence`` are validated against the kinds the plugins declare."""

    id: Identifier = Field(description="lane id, unique in the site")
    flow: str = Field("", description="what crosses here, e.g. 'passenger' or 'cargo' (informative)")
    trigger: Identifier = Field("entry", description="role of the presence sensor or reader that starts a crossing")
    exit: Identifier | None = Field(None, description="role of the presence sensor past the barrier, if any")
    barrier: Identifier = Field("barrier", description="role of the barrier device")
    lights: Identifier | None = Field(None, description="role of the lane lights, if any")
    display: Identifier | None = Field(None, description="role of the lane display, if any")
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    devices: tuple[DeviceConfig, ...] = ()
    evidence: tuple[EvidenceConfig, ...] = ()

    def role_problem(self, role: str, *models: type[Device]) -> str | None:
        """Why no device of this lane with ``role`` is one of ``models`` (for plugins' profile checks)."""
        return role_problem(role, {d.role: (d.kind, type(d).makes) for d in self.devices}, models)


#: The lane keys that name a device role, and the device models the role may be.
LANE_ROLES: Mapping[str, tuple[type[Device], ...]] = {
    "trigger": (Presence, Reader), "exit": (Presence,), "barrier": (Barrier,), "lights": (Lights,),
    "display": (Display,),
}


def role_problem(role: str, devices: Mapping[str, tuple[str, type[Device] | None]],
                 models: tuple[type[Device], ...]) -> str | None:
    """Why ``role`` does not name one of ``models`` among ``devices`` (role -> kind, model it makes)."""
    wanted = " or ".join(m.__name__ for m in models)
    fitting = ", ".join(repr(r) for r, (_, made) in devices.items() if made is not None and issubclass(made, models))
    if role not in devices:
        return (f"no device with role {role!r} in this lane{suggest(role, list(devices))}; "
                f"{wanted} devices in this lane: {fitting or 'none'}")
    kind, made = devices[role]
    if made is None:
        return (f"device {role!r} (kind {kind!r}) does not declare the device model it makes (its plugin's "
                f"config class sets no `makes`), so it cannot be checked to be a {wanted}")
    if not issubclass(made, models):
        return (f"device {role!r} makes {made.__name__} (kind {kind!r}), expected {wanted}; "
                f"{wanted} devices in this lane: {fitting or 'none'}")
    return None


def suggest(name: str, known: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest of ``known``, or nothing."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
