"""Profile models of the barcode plugin: the ``[plugins.gate_barcode]`` section and the pass evidence kind.

Everything that needs no hardware is checked when the profile loads (``gatecore check``): the trust
list and the root key parse, a signed trust list verifies with the root key, the state directory can
be used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from gatecore.api import NUMBER, REF, Codes, ConfigModel, EvidenceConfig, Identifier, Reports

from .passes import Reason
from .trust import TrustList, TrustListError, load_root

KIND = "barcode.pass"
#: the reason of a pass source with neither a camera nor a reader on its lane
NO_INPUT = "no_input"
#: the reasons of pass evidence: why a pass was accepted or refused, or that nothing could be read
REASONS = (*(r.value for r in Reason), NO_INPUT)

#: one path segment: crossing codes and replay groups end up in shared-state names
Code = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$",
                            description="lower-case letters, digits and _ . -")]


class BarcodeSection(ConfigModel):
    """[plugins.gate_barcode]: how codes are read and passes verified, for every lane of the site."""

    trust_root: str | None = Field(None, description="PEM public key of the root that signs the trust list; with "
                                   "it, trust_list must be signed and updates are taken over the broker")
    trust_list: str | None = Field(None, description="trust list of pass issuer keys: JSON, or signed by "
                                   "trust_root (docs/pass-format.md)")
    crossing: Code | None = Field(None, description="this border crossing's code as passes name it in their site "
                                  "claim, and the name of its replay guard (default: the site id up to its first /)")
    state_dir: str = Field("var/gate_barcode", description="directory of the replay guard's uses and of the "
                           "trust list taken over the broker (relative to the cwd)")
    backend: Literal["zxing", "zbar"] = Field("zxing", description="decoder library (zxing measured better)")
    budget_ms: float = Field(20.0, gt=0, le=1000, description="CPU time the reader may spend on one frame")
    replay_window_s: float = Field(300.0, ge=0, le=86_400, description="a pass accepted at one lane is REFER at "
                                   "the other lanes of its group for this long")
    leeway_s: int = Field(60, ge=0, le=3600, description="clock tolerance for not-before and expiry")
    hold_s: float = Field(2.0, ge=0, le=60, description="a pass the camera keeps seeing is one scan until it has "
                          "been out of sight this long")

    @field_validator("trust_root")
    @classmethod
    def _root(cls, path: str | None) -> str | None:
        if path is not None:
            try:
                load_root(path)
            except TrustListError as exc:
                raise ValueError(str(exc)) from exc
        return path

    @field_validator("trust_list")
    @classmethod
    def _loads(cls, path: str | None, info: ValidationInfo) -> str | None:
        if path is None:
            return None
        try:
            if "trust_root" in info.data:
                root = info.data["trust_root"]
                TrustList.load(path, load_root(root) if root else None)
            else:  # the root's own error is reported: the list can only be checked for being there
                Path(path).read_bytes()
        except TrustListError as exc:
            raise ValueError(str(exc)) from exc
        except OSError as exc:
            raise ValueError(f"{path}: cannot read trust list: {exc}") from exc
        return path

    @field_validator("state_dir")
    @classmethod
    def _usable(cls, value: str) -> str:
        path = Path(value)
        if path.exists():
            if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
                raise ValueError(f"{value} is not a directory this process can write")
            return value
        parent = next((p for p in path.absolute().parents if p.exists()), None)
        if parent is None or not os.access(parent, os.W_OK | os.X_OK):
            raise ValueError(f"{value} does not exist and cannot be created here")
        return value

    @model_validator(mode="after")
    def _root_needs_list(self) -> BarcodeSection:
        if self.trust_root is not None and self.trust_list is None:
            raise ValueError("trust_root is set without trust_list (the signed list controllers start from)")
        return self


class PassEvidenceConfig(EvidenceConfig):
    """A signed pass, read from a camera (``camera`` role) or taken from a reader scan (``reader`` role).

    Its records carry the reason code, how the pass was read, the frames it took, and the pass id hash
    and the issuer key id as keyed references; never the pass's text or its claims (the subject)."""

    reports: ClassVar[Reports] = Reports(REASONS, reason=Codes(*REASONS), via=Codes("reader", "camera"),
                                         frames=NUMBER, pass_id_hash=REF, kid=REF)
    kind: Literal["barcode.pass"]
    camera: Identifier | None = Field(None, description="role of the camera that sees the pass")
    reader: Identifier | None = Field(None, description="role of the QR reader whose scan may start the crossing")
    frame_interval_ms: int = Field(40, ge=0, le=5000, description="pause between frames with no pass in them")
    replay_group: Code = Field("all", description="lanes of one group (across the crossing's controllers) refuse "
                               "a pass accepted at another of them within replay_window_s")

    @model_validator(mode="after")
    def _some_input(self) -> PassEvidenceConfig:
        if self.camera is None and self.reader is None:
            raise ValueError("a barcode.pass source needs a camera role, a reader role, or both")
        return self
