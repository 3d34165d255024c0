"""Profile models of the plate plugin: the ``[plugins.gate_plate]`` section and the evidence kinds
``plate.vehicle`` (the plate, front and rear) and ``plate.container`` (container codes).

What needs no hardware is checked when the profile loads (``gatecore check``): each list file reads, and
every entry in it is a plate, a container code or a pattern of the list syntax (errors name the file and
line); the confusable costs are pairs with a cost from 0 to 1; a source's capture window leaves time to
decide. The model folders and the lanes' camera roles are checked by ``gatecore_check_profile``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from gatecore.api import FLAG, NUMBER, REF, Codes, ConfigModel, EvidenceConfig, Group, Identifier, Reports

from .distance import DEFAULT_CONFUSABLES, Costs
from .lists import ListError, load

VEHICLE, CONTAINER = "plate.vehicle", "plate.container"
KINDS = (VEHICLE, CONTAINER)
#: what the evidence says: PASS for a confident manifest match (or, with ``manifest = false``, a confident
#: valid read), DENY for a confident exact hit on a deny watchlist; REFER for everything else
PASS_REASONS = ("manifest_match", "read")
DENY_REASONS = ("watchlist_deny",)
REFER_REASONS = ("watchlist_refer", "no_manifest_match", "manifest_near", "manifest_ambiguous", "low_confidence",
                 "invalid_format", "no_read", "no_camera", "container_missing")
REASONS = (*PASS_REASONS, *DENY_REASONS, *REFER_REASONS)
Country = Literal["VN", "CN"]
COUNTRIES: tuple[Country, ...] = ("VN", "CN")


class ListConfig(ConfigModel):
    """A list file (CSV or JSON lines, see gate_plate/README.md), read again when it changes."""

    check_formats: bool = Field(True, description="refuse an entry that is no plate or container code of a known "
                                "format (patterns are not checked)")
    path: str = Field(description="the list file: .csv, or JSON lines (.jsonl)")
    max_distance: float = Field(1.0, ge=0, le=4, description="edit distance within which an entry matches "
                                "(a confusable pair such as 0/O costs less than 1)")

    @field_validator("path")
    @classmethod
    def _loads(cls, path: str, info: ValidationInfo) -> str:
        try:
            load(path, Costs(), info.data.get("check_formats", True))
        except ListError as exc:
            raise ValueError(str(exc)) from None
        return path


class WatchlistConfig(ListConfig):
    """A watchlist: a hit refers the crossing to an officer, or denies it when ``on_hit = "deny"`` and the
    read is confident and exact (a fuzzy or unsure hit on a deny list refers)."""

    on_hit: Literal["deny", "refer"] = Field("refer", description="what a confident exact hit does")


class PlateSection(ConfigModel):
    """[plugins.gate_plate]: models, lists and the weighing of reads, for every plate source of the site."""

    detector: str | None = Field(None, description="detector model folder (default: the one shipped)")
    recogniser: str | None = Field(None, description="recogniser model folder (default: the one shipped)")
    threads: int = Field(1, ge=1, le=16, description="onnxruntime threads per model")
    workers: int = Field(1, ge=1, le=16, description="frames read at once, across the site's lanes")
    manifest: ListConfig | None = Field(None, description="the pre-arrival manifest: plates and container codes")
    watchlists: dict[Identifier, WatchlistConfig] = Field(default_factory=dict, description="watchlists by name")
    reload_every_s: float = Field(5.0, ge=0, le=3600, description="read a list file again when it changed, this "
                                  "often (0: never)")
    confusables: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_CONFUSABLES),
                                          description="character pairs a reader confuses and what substituting "
                                          "one for the other costs (from 0 to 1)")
    repeat_weight: float = Field(0.5, ge=0, le=1, description="weight of a camera's further frames of one text")
    invalid_weight: float = Field(0.3, ge=0, le=1, description="weight of a read whose format is invalid")

    @field_validator("confusables")
    @classmethod
    def _pairs(cls, pairs: dict[str, float]) -> dict[str, float]:
        Costs(pairs)  # ValueError names the pair
        return pairs


class ReadEvidence(EvidenceConfig):
    """What both kinds share: the cameras, the capture window and the thresholds."""

    cameras: tuple[Identifier, ...] = Field(min_length=1, description="roles of the lane cameras that see it")
    window_ms: int = Field(700, gt=0, le=30_000, description="how long frames are read (less than deadline_ms)")
    max_frames: int = Field(8, ge=1, le=100, description="frames read per camera at most")
    frame_interval_ms: int = Field(30, ge=0, le=5000, description="pause between two frames of a camera")
    manifest: bool = Field(True, description="match against [plugins.gate_plate].manifest (false: a confident "
                           "valid read passes)")
    watchlists: tuple[Identifier, ...] | None = Field(None, description="watchlists to search (default: all)")
    countries: tuple[Country, ...] = Field(COUNTRIES, min_length=1, description="plate formats "
                                                       "this lane reads as valid")
    pass_confidence: float = Field(0.8, ge=0, le=1, description="a manifest match passes from this confidence")
    deny_confidence: float = Field(0.9, ge=0, le=1, description="a deny-list hit denies from this confidence")
    watch_confidence: float = Field(0.3, ge=0, le=1, description="candidates from this confidence are searched "
                                    "in the watchlists")

    @model_validator(mode="after")
    def _leaves_time(self) -> ReadEvidence:
        if self.window_ms >= self.deadline_ms:
            raise ValueError(f"window_ms ({self.window_ms}) must be less than deadline_ms ({self.deadline_ms}): "
                             "the reads are fused and matched after the window")
        return self


_COMMON: dict[str, Any] = dict(
    confidence=NUMBER, candidates=NUMBER, reads=NUMBER, views=NUMBER, frames=NUMBER, bad_frames=NUMBER,
    distance=NUMBER, match=Codes("exact", "fuzzy", "pattern"), manifest_ref=REF, watchlist_ref=REF, valid=FLAG,
    timings_ms=Group(capture=NUMBER, match=NUMBER))


class VehicleEvidence(ReadEvidence):
    """``kind = "plate.vehicle"``: the vehicle's plate, read by its front and rear cameras.

    Records carry the reason, the best candidate's confidence, country and layout codes, counts and timings,
    and the plate and the manifest or watchlist entry's ref as keyed references (HMAC with the IOC's
    ``doc_salt``: plates are personal data); never a plate's text."""

    reports: ClassVar[Reports] = Reports(REASONS, plate=REF, country=Codes("vn", "cn"),
                                         layout=Codes("one_row", "two_row"), **_COMMON)
    kind: Literal["plate.vehicle"]
    cameras: tuple[Identifier, ...] = Field(("plate-front", "plate-rear"), min_length=1,
                                            description="roles of the lane cameras that see the plates")
    stop_agree: int = Field(3, ge=0, le=100, description="stop reading once this many reads agree with "
                            "stop_confidence (0: read the whole window)")
    stop_confidence: float = Field(0.9, ge=0, le=1)


class ContainerEvidence(ReadEvidence):
    """``kind = "plate.container"``: the container codes on the vehicle (ISO 6346, check digit checked).

    With ``plate_source``, the codes are checked against the manifest line the plate matched (each expected
    container read, no other); without, each confident code must be in the manifest. Records carry the
    reason, counts, timings and the best code and refs as keyed references."""

    reports: ClassVar[Reports] = Reports(REASONS, container=REF, codes=NUMBER, missing=NUMBER,
                                         layout=Codes("horizontal", "vertical"), **_COMMON)
    kind: Literal["plate.container"]
    cameras: tuple[Identifier, ...] = Field(("container",), min_length=1,
                                            description="roles of the lane cameras that see the codes")
    plate_source: Identifier | None = Field(None, description="the plate.vehicle source whose manifest line "
                                            "names the containers expected")
    plate_wait_ms: int = Field(300, ge=0, le=60_000, description="wait this long after the window for the plate "
                               "source's evidence")
