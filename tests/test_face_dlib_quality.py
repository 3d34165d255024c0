"""The dlib family on real photographs (tests/face_photos.py): one person's other captures match, other
people do not, the quality gates refuse what they should, and ``gatecore face compare`` says so.

Three people and a few captures of one photograph each cannot measure error rates; these tests show the
pipeline keeps an identity through capture changes and tells these people apart at dlib's operating point.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gate_face.modelcmds import open_models
from gate_face.pipeline import FacePipeline
from gate_face.quality import FRONTAL_NOSE_DROP, QualityLimits, pose_eyes_nose
from gatecore.cli import main

from .face_photos import CAPTURES, capture, photos

Array = np.ndarray[Any, Any]
PHOTOS = photos()
FRONTAL = ("astronaut", "hopper")  # "camera" looks sideways into a viewfinder


@pytest.fixture(scope="module")
def pipelines(dlib_models: Path) -> dict[str, FacePipeline]:
    """``photo``: every pyramid level (photographs of any size); ``lane``: an e-gate's faces, 100-300 px."""
    return {"photo": open_models(dlib_models)[0], "lane": open_models(dlib_models, face_px=(100, 300))[0]}


def descriptor(pipe: FacePipeline, image: Array) -> Array:
    result = pipe.process(image)
    assert result.status == "ok" and result.crop is not None, result.status
    out: Array = pipe.embedder.descriptor(result.crop)  # type: ignore[attr-defined]
    return out


@pytest.fixture(scope="module")
def described(pipelines: dict[str, FacePipeline]) -> dict[tuple[str, int], Array]:
    """(person, -1) for the photograph itself, (person, i) for its captures in CAPTURES."""
    out = {(name, -1): descriptor(pipelines["photo"], p.image) for name, p in PHOTOS.items()}
    for name in FRONTAL:
        for i, c in enumerate(CAPTURES):
            out[(name, i)] = descriptor(pipelines["lane"], capture(PHOTOS[name], **c))  # type: ignore[arg-type]
    return out


def test_other_captures_of_a_person_are_within_the_operating_point(described: dict[tuple[str, int], Array]) -> None:
    """Every pair of one person's photograph and captures: Euclidean distance below dlib's 0.6."""
    for name in FRONTAL:
        mine = [v for (who, _), v in described.items() if who == name]
        assert len(mine) == 1 + len(CAPTURES)
        for a, b in itertools.combinations(mine, 2):
            assert np.linalg.norm(a - b) < 0.6


def test_other_people_are_beyond_the_operating_point(described: dict[tuple[str, int], Array]) -> None:
    pairs = [(a, b) for (ka, a), (kb, b) in itertools.combinations(described.items(), 2) if ka[0] != kb[0]]
    assert len(pairs) == 5 * 5 + 5 + 5  # astronaut x hopper, and the camera photograph against each
    assert min(float(np.linalg.norm(a - b)) for a, b in pairs) > 0.6


def test_the_quality_gates_refuse_small_soft_and_turned_faces(pipelines: dict[str, FacePipeline],
                                                             dlib_models: Path) -> None:
    """The gates of the other families, on dlib's landmarks (a face the detector finds is rarely below the
    default 30 px between the eyes: the strict limit here stands for a site's own)."""
    lane = pipelines["lane"]
    assert lane.process(capture(PHOTOS["astronaut"], face_px=150, blur=4)).status == "blurry"
    strict = open_models(dlib_models, face_px=(100, 300))[0]
    strict.limits = QualityLimits(min_eye_distance_px=50)
    small = strict.process(capture(PHOTOS["astronaut"], face_px=100))
    assert small.status == "too_small" and small.quality is not None and small.quality.eye_distance_px < 50
    turned = lane.process(capture(PHOTOS["camera"], face_px=230))
    assert turned.status == "pose" and turned.quality is not None and turned.quality.yaw_deg > 30
    frontal = lane.process(capture(PHOTOS["hopper"], face_px=180))
    assert frontal.status == "ok" and set(frontal.timings_ms) == {"detect", "landmarks", "align", "embed"}


def test_pose_from_eyes_and_nose_base() -> None:
    le, re_ = np.array([100.0, 100.0]), np.array([160.0, 100.0])
    nose = np.array([130.0, 100.0 + 60 * FRONTAL_NOSE_DROP])
    assert pose_eyes_nose(le, re_, nose) == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)
    yaw, roll, _ = pose_eyes_nose(le, re_, nose + np.array([15.0, 0.0]))
    assert yaw == pytest.approx(30.0) and roll == pytest.approx(0.0)
    assert pose_eyes_nose(le, re_, nose - np.array([0.0, 20.0]))[2] < -0.3  # head bowed: the nose base rises
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    rot = np.array([[c, -s], [s, c]])
    assert pose_eyes_nose(rot @ le, rot @ re_, rot @ nose) == pytest.approx((0.0, 20.0, 0.0), abs=1e-6)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("photos")
    files = {"astronaut": d / "astronaut.png", "gate": d / "gate.jpg", "hopper": d / "hopper.jpg",
             "no_face": d / "coffee.png", "junk": d / "junk.jpg"}
    cv2.imwrite(str(files["astronaut"]), PHOTOS["astronaut"].image)
    cv2.imwrite(str(files["gate"]), capture(PHOTOS["astronaut"], **CAPTURES[1]))  # type: ignore[arg-type]
    cv2.imwrite(str(files["hopper"]), PHOTOS["hopper"].image)
    cv2.imwrite(str(files["no_face"]), np.full((480, 640, 3), 128, np.uint8))
    files["junk"].write_bytes(b"not an image")
    return files


def compare(capsys: pytest.CaptureFixture[str], models: Path, *args: str | Path) -> tuple[int, dict[str, Any]]:
    code = main(["face", "compare", "--models", str(models), *map(str, args)])
    out = capsys.readouterr().out.strip()
    return code, json.loads(out) if out else {}


def test_compare_says_same_for_a_persons_photo_and_gate_capture(
        dlib_models: Path, images: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, line = compare(capsys, dlib_models, images["astronaut"], images["gate"])
    assert code == 0 and line["same"] is True and line["faces"] == [1, 1]
    assert line["threshold"] == 0.6 and line["metric"] == "euclidean" and 0 <= line["score"] < 0.6


def test_compare_says_not_same_for_two_people_and_takes_a_threshold(
        dlib_models: Path, images: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, line = compare(capsys, dlib_models, images["astronaut"], images["hopper"])
    assert code == 0 and line["same"] is False and line["score"] > 0.6
    code, loose = compare(capsys, dlib_models, "--threshold", "0.9", images["astronaut"], images["hopper"])
    assert loose["same"] is True and loose["threshold"] == 0.9 and loose["score"] == line["score"]


def test_compare_without_a_face_or_an_image_or_intact_models(
        dlib_models: Path, images: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, line = compare(capsys, dlib_models, images["astronaut"], images["no_face"])
    assert code == 1 and line == {"score": None, "threshold": 0.6, "same": False, "faces": [1, 0],
                                  "metric": "euclidean", "status": ["ok", "no_face"]}
    assert main(["face", "compare", "--models", str(dlib_models), str(images["junk"]), str(images["gate"])]) == 2
    assert "cannot read" in capsys.readouterr().err
    altered = tmp_path / "models"
    shutil.copytree(dlib_models, altered)
    with open(altered / "mmod_human_face_detector.onnx", "ab") as f:
        f.write(b"\0")
    assert main(["face", "compare", "--models", str(altered), str(images["astronaut"]), str(images["gate"])]) == 2
    assert "SHA-256" in capsys.readouterr().err
