"""Configuration models: the base classes plugins extend, and the core's own sections.

Every model is frozen and forbids unknown keys. A plugin owns the model of its ``[plugins.NAME]``
section (a :class:`ConfigModel`), of each device kind (a :class:`DeviceConfig` with a ``kind`` literal)
and of each evidence kind (an :class:`EvidenceConfig`). The core merges the kinds into discriminated
unions (see :mod:`gatecore.profile`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

Identifier = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9_.\-/]{0,63}$", description="lower-case letters, digits and _ . - /"),
]


class ConfigModel(BaseModel):
    """Base of every configuration model: frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class DeviceConfig(ConfigModel):
    """Base of a device kind. Subclasses narrow ``kind`` to a ``Literal["vendor.thing"]``."""

    kind: str = Field(description="device kind, provided by a plugin (see `gatecore plugins`)")
    role: Identifier = Field(description="what the device does in its lane, e.g. 'entry', 'barrier'")


class EvidenceConfig(ConfigModel):
    """Base of an evidence kind. ``source`` names the evidence in the policy's ``require`` list."""

    kind: str = Field(description="evidence kind, provided by a plugin")
    source: Identifier = Field(description="name of this evidence in the lane policy, e.g. 'face'")
    deadline_ms: int = Field(1000, gt=0, le=60_000, description="time this source may take")


class SecretRef:
    """A reference to a secret: ``env:NAME`` or ``file:PATH``. Secrets are never written in a profile.

    Validation checks that the secret can be read; :meth:`reveal` reads it when it is needed.
    """

    __slots__ = ("ref",)

    def __init__(self, ref: str) -> None:
        self.ref = ref

    @property
    def scheme(self) -> str:
        return self.ref.split(":", 1)[0]

    @property
    def target(self) -> str:
        return self.ref.split(":", 1)[1]

    def reveal(self) -> str:
        if self.scheme == "env":
            value = os.environ.get(self.target)
            if value is None:
                raise LookupError(f"environment variable {self.target} is not set")
            return value
        return Path(self.target).read_text(encoding="utf-8").strip()

    def check(self) -> str | None:
        """Why the secret cannot be read, or None."""
        try:
            self.reveal()
        except (LookupError, OSError) as exc:
            return str(exc) if isinstance(exc, LookupError) else f"cannot read {self.target}: {exc.strerror}"
        return None

    def __repr__(self) -> str:
        return f"SecretRef({self.ref!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretRef) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)

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
