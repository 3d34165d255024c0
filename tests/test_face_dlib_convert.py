"""The dlib family's converted models against dlib itself (dlib-bin, a test dependency only): descriptors,
detections, landmarks and face chips; and what ``gatecore face models install`` writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import dlib
import numpy as np
import pytest

from face_models import networks, shape_predictor
from face_models.dlib_format import FormatError
from face_models.install import CONVERSIONS, MANIFEST, InstallError, install, package_models, sha256
from face_models.onnx_export import mmod_onnx
from gate_face.chips import face_chip
from gate_face.embedders import DlibResNetEmbedder
from gate_face.landmarks import ShapePredictor
from gate_face.mmod import MmodDetector

from .face_photos import capture, photos
from .test_face_dlib_format import dlib_float, dlib_int

Array = np.ndarray[Any, Any]
SOURCE, _ = package_models()
PHOTOS = photos()


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    """dlib's own models, loaded by dlib, from the same package files the converter read."""
    return {"detector": dlib.cnn_face_detection_model_v1(str(SOURCE / "mmod_human_face_detector.dat")),
            "landmarks": dlib.shape_predictor(str(SOURCE / "shape_predictor_5_face_landmarks.dat")),
            "embedder": dlib.face_recognition_model_v1(str(SOURCE / "dlib_face_recognition_resnet_model_v1.dat"))}


def rgb(image: Array) -> Array:
    return np.ascontiguousarray(image[:, :, ::-1])


def dlib_landmarks(reference: dict[str, Any], image: Array, rect: tuple[int, int, int, int]) -> Any:
    return reference["landmarks"](rgb(image), dlib.rectangle(*rect))


def points(shape: Any) -> Array:
    return np.array([[p.x, p.y] for p in shape.parts()], np.float64)


def two_faces() -> Array:
    """A 640 x 480 frame with two people in it, at two sizes."""
    frame = capture(PHOTOS["hopper"], face_px=110, shift=(-170, -40))
    other = capture(PHOTOS["astronaut"], face_px=150, angle=4, shift=(150, 40))
    frame[:, 320:] = other[:, 320:]
    return frame


def test_descriptors_equal_dlibs_on_the_same_chips(dlib_models: Path, reference: dict[str, Any]) -> None:
    """On chips of real faces and on noise, the ONNX ResNet gives dlib's compute_face_descriptor within 1e-5."""
    embedder = DlibResNetEmbedder(dlib_models / "dlib_face_recognition_resnet_model_v1.onnx")
    chips = [rgb(dlib.get_face_chip(rgb(p.image), dlib_landmarks(reference, p.image, p.face), 150, 0.25))
             for p in PHOTOS.values()]  # BGR, as the pipeline's frames are
    rng = np.random.default_rng(7)
    chips += [rng.integers(0, 256, (150, 150, 3), dtype=np.uint8) for _ in range(2)]
    for chip in chips:
        theirs = np.array(reference["embedder"].compute_face_descriptor(rgb(chip)))
        mine = embedder.descriptor(chip)
        assert np.abs(mine - theirs).max() < 1e-5
        assert np.linalg.norm(embedder.embed(chip)) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("scene", ["astronaut", "two_faces"])
def test_detector_finds_dlibs_faces_with_scores_within_one_percent(dlib_models: Path, reference: dict[str, Any],
                                                                  scene: str) -> None:
    """With every pyramid level (as dlib runs it), the same boxes as dlib's cnn_face_detection_model_v1,
    scores within 1 %."""
    image = PHOTOS["astronaut"].image if scene == "astronaut" else two_faces()
    theirs = [((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), d.confidence)
              for d in reference["detector"](rgb(image), 0)]
    mine = MmodDetector(dlib_models / "mmod_human_face_detector.onnx").detect_rects(image)
    assert len(theirs) == (1 if scene == "astronaut" else 2)
    assert [r for r, _ in mine] == [r for r, _ in theirs]
    for (_, s_mine), (_, s_theirs) in zip(mine, theirs, strict=True):
        assert s_mine == pytest.approx(s_theirs, rel=0.01)


def test_landmarks_are_within_a_pixel_of_dlibs(dlib_models: Path, reference: dict[str, Any]) -> None:
    """The numba port of the 5-point shape predictor, on each photograph's face box, boxes moved and
    resized around it, and a turned face."""
    predictor = ShapePredictor(dlib_models / "shape_predictor_5_face_landmarks.npz")
    rng = np.random.default_rng(3)
    cases: list[tuple[Array, tuple[int, int, int, int]]] = []
    for p in PHOTOS.values():
        left, top, right, bottom = p.face
        cases.append((p.image, p.face))
        for _ in range(8):
            dx, dy, dw = (int(v) for v in rng.integers(-12, 13, 3))
            cases.append((p.image, (left + dx, top + dy, right + dx + dw, bottom + dy + dw)))
    turned = capture(PHOTOS["astronaut"], face_px=160, angle=18)
    cases.append((turned, (245, 150, 405, 310)))
    for image, rect in cases:
        theirs = points(dlib_landmarks(reference, image, rect))
        mine = predictor.predict(image, (rect[0], rect[1], rect[2] - rect[0] + 1, rect[3] - rect[1] + 1))
        assert np.abs(mine - theirs).max() <= 1.0


@pytest.mark.parametrize("case", ["astronaut", "hopper", "large", "turned", "at_the_edge"])
def test_face_chips_equal_dlibs_get_face_chip(reference: dict[str, Any], case: str) -> None:
    """150 x 150, padding 0.25; ``large`` goes through dlib's image pyramid, ``at_the_edge`` samples
    outside the image (black)."""
    photo = PHOTOS["hopper" if case == "hopper" else "astronaut"]
    image, rect = photo.image, photo.face
    if case == "large":
        image = cv2.resize(PHOTOS["hopper"].image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
        rect = tuple(3 * v for v in PHOTOS["hopper"].face)  # type: ignore[assignment]
    elif case == "turned":
        image, rect = capture(photo, face_px=160, angle=18), (245, 150, 405, 310)
    elif case == "at_the_edge":
        image = np.ascontiguousarray(image[60:, 150:])
        rect = (rect[0] - 150, rect[1] - 60, rect[2] - 150, rect[3] - 60)
    shape = dlib_landmarks(reference, image, rect)  # type: ignore[arg-type]
    theirs = rgb(dlib.get_face_chip(rgb(image), shape, 150, 0.25))
    mine = face_chip(image, points(shape))
    assert mine.shape == (150, 150, 3)
    assert np.abs(mine.astype(int) - theirs.astype(int)).max() <= 1


def test_install_records_the_hashes_of_what_it_wrote(dlib_models: Path) -> None:
    manifest = json.loads((dlib_models / MANIFEST).read_text())
    assert {p.name for p in dlib_models.iterdir()} == {MANIFEST, *(c.target for c in CONVERSIONS)}
    for c in CONVERSIONS:
        entry = manifest["models"][c.role]
        assert entry["file"] == c.target and entry["from"] == c.source
        assert entry["sha256"] == sha256(dlib_models / c.target)
        assert entry["from_sha256"] == sha256(SOURCE / c.source)
    assert manifest["operating_point"]["metric"] == "euclidean" and manifest["operating_point"]["threshold"] == 0.6


def test_the_68_point_model_is_skipped_and_never_converted(dlib_models: Path, tmp_path: Path) -> None:
    """The package ships it; install names it as skipped and writes nothing from it; the converter refuses
    it by name, and any shape predictor of other than 5 points by its first bytes."""
    manifest = json.loads((dlib_models / MANIFEST).read_text())
    assert (SOURCE / shape_predictor.REFUSED).exists()
    assert list(manifest["skipped"]) == [shape_predictor.REFUSED]
    assert "commercially" in manifest["skipped"][shape_predictor.REFUSED]
    assert all(m["from"] != shape_predictor.REFUSED for m in manifest["models"].values())
    with pytest.raises(shape_predictor.WrongModel, match="forbids commercial use"):
        shape_predictor.convert(SOURCE / shape_predictor.REFUSED, tmp_path / "x.npz")
    renamed = tmp_path / "landmarks.dat"
    renamed.write_bytes(dlib_int(1) + dlib_int(-136) + dlib_int(-1) + dlib_float(0.5) * 136 + b"\xff" * 64)
    with pytest.raises(shape_predictor.WrongModel, match="predicts 68 points"):
        shape_predictor.convert(renamed, tmp_path / "y.npz")
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "y.npz").exists()


def test_conversion_is_reproducible(dlib_models: Path, tmp_path: Path) -> None:
    """The same package file converts to the same bytes, so a pinned hash survives a re-install."""
    source = SOURCE / "mmod_human_face_detector.dat"
    mmod_onnx(networks.read_mmod(source.read_bytes()), tmp_path / "again.onnx", sha256(source))
    recorded = json.loads((dlib_models / MANIFEST).read_text())["models"]["detector"]["sha256"]
    assert sha256(tmp_path / "again.onnx") == recorded


def test_files_that_are_not_the_expected_dlib_model_are_refused_clearly(tmp_path: Path) -> None:
    data = (SOURCE / "mmod_human_face_detector.dat").read_bytes()
    with pytest.raises(FormatError, match="expected 'loss_metric_'"):
        networks.read_resnet(data)
    with pytest.raises(FormatError, match="file ends at byte 1000"):
        networks.read_mmod(data[:1000])
    (tmp_path / "models").mkdir()
    with pytest.raises(InstallError, match="missing"):
        install(tmp_path / "out", tmp_path / "models", "test", say=lambda _: None)


def test_photo_fixture_faces_are_dlibs_detections(reference: dict[str, Any]) -> None:
    """The face boxes the tests start from are what dlib's detector finds in each photograph."""
    for p in [PHOTOS["camera"], PHOTOS["hopper"]]:
        dets = reference["detector"](rgb(p.image), 0)
        assert [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()) for d in dets] == [p.face]



