"""The ``[plugins.gate_face]`` section and the ``face`` evidence kind."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from gate_face.pipeline import Status
from gatecore.api import FLAG, NUMBER, Codes, ConfigModel, EvidenceConfig, Group, Identifier, Reports

#: a face evidence's reasons: what the frame gave (``pipeline.Status``), else how it matched
MATCHES = ("match", "no_match", "not_enrolled")
REASONS = (*typing.get_args(Status), *MATCHES, "no_claim", "watchlist_hit", "no_camera")


class ModelFile(ConfigModel):
    path: Path = Field(description="model file on this controller (never downloaded)")
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 the file must have")


class GalleryPolicy(ConfigModel):
    target_fmr: float = Field(1e-4, gt=0, lt=1, description="false-match rate the threshold is chosen for")
    threshold: float | None = Field(None, ge=-1, le=1,
                                    description="explicit score threshold; overrides the calibration")


class FaceConfig(ConfigModel):
    """Face verification (1:1 against the identity a pass claims) and 1:N search."""

    family: Literal["opencv", "insightface", "dlib"] = Field(
        "opencv", description="opencv: YuNet + SFace; insightface: SCRFD + ArcFace; dlib: MMOD + 5-point "
                              "shape predictor + ResNet (gatecore face models install)")
    detector: ModelFile
    embedder: ModelFile
    landmarks: ModelFile | None = Field(None, description="dlib: the 5-point shape predictor (.npz)")
    face_px: tuple[float, float] = Field(
        (100.0, 300.0), description="dlib: smallest and largest face (detector box side, pixels) the lane "
                                    "camera sees; picks the detector's pyramid levels")
    pyramid_step: int = Field(2, ge=1, le=4, description="dlib: use every n-th level of the detector's "
                                                         "pyramid (1: every level, as dlib does; 2: half the cost)")
    detector_input: tuple[int, int] = Field((640, 640), description="SCRFD input width, height")
    embedder_mean: float = Field(127.5, description="ArcFace: pixel value subtracted")
    embedder_std: float = Field(127.5, gt=0, description="ArcFace: divisor after the mean")
    embedder_rgb: bool = Field(True, description="ArcFace: feed RGB (false: BGR)")
    embedder_output: str | None = Field(None, description="ArcFace: output name (default: the first)")
    galleries_dir: Path = Field(description="directory of NAME.gcidx gallery files")
    verify_gallery: Identifier = Field("travellers", description="gallery of claimed identities (1:1)")
    watchlist: Identifier | None = Field("watchlist", description="gallery searched 1:N; a hit denies")
    residents: Identifier | None = Field(None, description="gallery searched 1:N when nothing is claimed")
    galleries: dict[str, GalleryPolicy] = Field(default_factory=dict,
                                                description="threshold policy per gallery name")
    search_mode: Literal["int8", "f32"] = "int8"
    multiple_faces: Literal["largest", "refuse"] = "largest"
    min_eye_distance_px: float = Field(30.0, gt=0)
    min_sharpness: float = Field(40.0, ge=0)
    max_yaw_deg: float = Field(30.0, gt=0, le=90)
    max_roll_deg: float = Field(25.0, gt=0, le=90)
    workers: int = Field(1, ge=1, le=16, description="inference threads shared by the lanes")
    reload_every_s: float = Field(5.0, ge=0, description="look for newer gallery files this often (0: never); "
                                                         "a newer one replaces the gallery in use")
    share_galleries: tuple[Identifier, ...] = Field(
        (), description="galleries this controller shares with the others (as snapshots, through a transport "
                        "plugin such as gate_ioc's share) at start, after each reload and every share_every_s")
    share_every_s: float = Field(3600.0, gt=0, description="share the share_galleries again this often")

    def policy(self, gallery: str) -> GalleryPolicy:
        return self.galleries.get(gallery, GalleryPolicy())

    def gallery_names(self) -> list[str]:
        return [g for g in (self.verify_gallery, self.watchlist, self.residents) if g]

    @model_validator(mode="after")
    def _family_models(self) -> FaceConfig:
        if self.family == "dlib" and self.landmarks is None:
            raise ValueError("family dlib needs landmarks = { path = ..., sha256 = ... } (the shape predictor "
                             "that gatecore face models install writes)")
        if not 0 < self.face_px[0] <= self.face_px[1]:
            raise ValueError("face_px must be [smallest, largest] with 0 < smallest <= largest")
        return self

    @model_validator(mode="after")
    def _shared_galleries_exist(self) -> FaceConfig:
        unknown = [g for g in self.share_galleries if g not in self.gallery_names()]
        if unknown:
            raise ValueError(f"share_galleries: {', '.join(unknown)} is not one of the galleries in use "
                             f"({', '.join(self.gallery_names())})")
        return self


class FaceEvidence(EvidenceConfig):
    """``[[lanes.evidence]] kind = "face.match"``.

    Its records carry scores, thresholds, verdict codes, frame counts, quality figures and stage timings;
    never an embedding, a crop or an identity (the identity matched stays in the evidence's claims)."""

    reports: ClassVar[Reports] = Reports(
        REASONS, verdict=Codes(*REASONS), frames=NUMBER, faces=NUMBER,
        timings_ms=Group(detect=NUMBER, landmarks=NUMBER, align=NUMBER, embed=NUMBER, match=NUMBER),
        quality=Group(eye_px=NUMBER, sharpness=NUMBER, yaw=NUMBER, roll=NUMBER),
        verify_score=NUMBER, verify_threshold=NUMBER, verdict_1to1=Codes(*MATCHES),
        watchlist_score=NUMBER, watchlist_threshold=NUMBER, watchlist_hit=FLAG,
        resident_score=NUMBER, resident_threshold=NUMBER, verdict_1toN=Codes("match", "no_match"))
    kind: Literal["face.match"] = "face.match"
    camera: Identifier = Field("face", description="role of the lane camera that sees the face")
    claim_source: Identifier | None = Field("pass", description="source whose claims carry identity_ref")
    claim_wait_ms: int = Field(800, gt=0, le=60_000)
    max_frames: int = Field(3, ge=1, le=50, description="frames tried until one passes the quality gates")
