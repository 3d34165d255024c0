"""Profile models of the barcode plugin: the ``[plugins.gate_barcode]`` section and the pass evidence kind."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from gatecore.api import ConfigModel, EvidenceConfig, Identifier

from .passes import TrustList, TrustListError


class BarcodeSection(ConfigModel):
    """[plugins.gate_barcode]: how codes are read and passes verified, for every lane of the site."""

    trust_list: str | None = Field(None, description="JSON trust list of pass issuer keys (docs/pass-format.md)")
    backend: Literal["zxing", "zbar"] = Field("zxing", description="decoder library (zxing measured better)")
    budget_ms: float = Field(20.0, gt=0, le=1000, description="CPU time the reader may spend on one frame")
    replay_window_s: float = Field(300.0, ge=0, le=86_400,
                                   description="the same pass at another lane within this window is REFER")
    leeway_s: int = Field(60, ge=0, le=3600, description="clock tolerance for not-before and expiry")
    hold_s: float = Field(2.0, ge=0, le=60, description="a pass the camera keeps seeing is one scan until it has "
                          "been out of sight this long")

    @field_validator("trust_list")
    @classmethod
    def _loads(cls, path: str | None) -> str | None:
        if path is not None:
            try:
                TrustList.load(path)
            except TrustListError as exc:
                raise ValueError(str(exc)) from exc
        return path


class PassEvidenceConfig(EvidenceConfig):
    """A signed pass, read from a camera (``camera`` role) or taken from a reader scan (``reader`` role)."""

    kind: Literal["barcode.pass"]
    camera: Identifier | None = Field(None, description="role of the camera that sees the pass")
    reader: Identifier | None = Field(None, description="role of the QR reader whose scan may start the crossing")
    frame_interval_ms: int = Field(40, ge=0, le=5000, description="pause between frames with no pass in them")

    @model_validator(mode="after")
    def _some_input(self) -> PassEvidenceConfig:
        if self.camera is None and self.reader is None:
            raise ValueError("a barcode.pass source needs a camera role, a reader role, or both")
        return self
