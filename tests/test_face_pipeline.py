"""Face pipeline: alignment geometry, quality gates, both model families end to end."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gate_face import testing
from gate_face.align import REFERENCE_112, align, similarity
from gate_face.detectors import ScrfdDetector, YuNetDetector
from gate_face.embedders import ArcFaceEmbedder, SFaceEmbedder
from gate_face.index import EmbeddingIndex
from gate_face.models import ModelError, check_model, sha256_file
from gate_face.pipeline import FacePipeline
from gate_face.quality import QualityLimits, pose
from gate_face.runner import LatestFrameWorker

Array = np.ndarray[Any, Any]


def transform(points: Array, scale: float, angle_deg: float, shift: tuple[float, float]) -> Array:
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    out: Array = points @ rot.T + np.array(shift)
    return out


@pytest.mark.parametrize(("scale", "angle", "shift"),
                         [(1.0, 0.0, (0.0, 0.0)), (2.5, 17.0, (300.0, 120.0)), (0.6, -40.0, (-5.0, 60.0))])
def test_similarity_recovers_a_known_transform(scale: float, angle: float,
                                               shift: tuple[float, float]) -> None:
    landmarks = transform(REFERENCE_112, scale, angle, shift)
    m = similarity(landmarks, REFERENCE_112)
    mapped = landmarks @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(mapped, REFERENCE_112, atol=1e-9)
    assert math.hypot(m[0, 0], m[1, 0]) == pytest.approx(1 / scale)
    assert math.degrees(math.atan2(m[1, 0], m[0, 0])) == pytest.approx(-angle)


def test_similarity_never_reflects() -> None:
    mirrored = REFERENCE_112 * np.array([-1.0, 1.0])
    m = similarity(mirrored, REFERENCE_112)
    assert np.linalg.det(m[:, :2]) > 0
    with pytest.raises(ValueError):
        similarity(np.zeros((5, 2)), REFERENCE_112)


def test_align_puts_image_landmarks_on_the_reference_points() -> None:
    landmarks = transform(REFERENCE_112, 2.0, 25.0, (150.0, 90.0))
    image = np.zeros((480, 640, 3), np.uint8)
    for i, (x, y) in enumerate(landmarks):
        cv2.circle(image, (round(x), round(y)), 4, (0, 0, 50 * (i + 1)), -1)
    crop = align(image, landmarks)
    assert crop.shape == (112, 112, 3)
    for i, (x, y) in enumerate(REFERENCE_112):
        assert crop[round(y), round(x), 2] == pytest.approx(50 * (i + 1), abs=20)


def test_pose_from_landmarks() -> None:
    yaw, roll, pitch = pose(REFERENCE_112)
    assert abs(yaw) < 1 and abs(roll) < 1 and abs(pitch) < 0.02
    assert pose(transform(REFERENCE_112, 1.3, 20.0, (10, 10)))[1] - roll == pytest.approx(20.0)
    turned = REFERENCE_112.copy()
    turned[2, 0] += 10
    assert pose(turned)[0] > 20
    assert pose(transform(turned, 1.0, 30.0, (0, 0)))[0] == pytest.approx(pose(turned)[0], abs=0.01)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {"scrfd": testing.make_scrfd_like(d / "scrfd.onnx"),
            "yunet": testing.make_yunet_like(d / "yunet.onnx"),
            "arcface": testing.make_embedder(d / "arcface.onnx"),
            "sface": testing.make_embedder(d / "sface.onnx", dim=128, input_name="data",
                                           output_name="fc1", seed=1)}


def make_pipeline(models: dict[str, Path], family: str, **kw: Any) -> FacePipeline:
    if family == "insightface":
        return FacePipeline(ScrfdDetector(models["scrfd"], input_size=(320, 320)),
                            ArcFaceEmbedder(models["arcface"]), **kw)
    return FacePipeline(YuNetDetector(models["yunet"]), SFaceEmbedder(models["sface"]), **kw)


def scene(identity: int, cell: tuple[int, int] = (4, 5), jitter: int = 0) -> tuple[Array, Array]:
    image = np.zeros((320, 320, 3), np.uint8)
    return image, testing.draw_face(image, *cell, identity, jitter=jitter)


@pytest.mark.parametrize("family", ["insightface", "opencv"])
def test_detector_finds_the_drawn_face_and_its_landmarks(models: dict[str, Path], family: str) -> None:
    pipe = make_pipeline(models, family)
    image, landmarks = scene(3, (3, 6))
    faces = pipe.detector.detect(image)
    assert len(faces) == 1
    np.testing.assert_allclose(faces[0].landmarks, landmarks, atol=0.5)
    assert pipe.detector.detect(np.zeros((320, 320, 3), np.uint8)) == []


@pytest.mark.parametrize("family", ["insightface", "opencv"])
def test_whole_pipeline_identifies_enrolled_people(models: dict[str, Path], family: str) -> None:
    pipe = make_pipeline(models, family)
    dim = pipe.embedder.dim
    index = EmbeddingIndex(dim)
    for person in range(1, 9):
        result = pipe.process(scene(person)[0])
        assert result.status == "ok" and result.embedding is not None
        assert result.embedding.shape == (dim,)
        assert np.linalg.norm(result.embedding) == pytest.approx(1.0, abs=1e-5)
        assert set(result.timings_ms) == {"detect", "align", "embed"}
        index.add([f"person-{person}"], result.embedding)
    for person in range(1, 9):
        probe = pipe.process(scene(person, jitter=6)[0])
        assert probe.embedding is not None
        best = index.search(probe.embedding, 2)
        assert best[0].id == f"person-{person}"
        assert best[0].score > 0.95 > best[1].score


@pytest.mark.parametrize("family", ["insightface", "opencv"])
def test_pipeline_refers_no_face_and_several_faces(models: dict[str, Path], family: str) -> None:
    assert make_pipeline(models, family).process(np.zeros((320, 320, 3), np.uint8)).status == "no_face"
    image, _ = scene(1, (2, 2))
    testing.draw_face(image, 7, 7, 2)
    assert make_pipeline(models, family, multiple="refuse").process(image).status == "multiple_faces"
    result = make_pipeline(models, family).process(image)
    assert result.status == "ok" and result.faces == 2


def test_quality_gates(models: dict[str, Path]) -> None:
    image, _ = scene(1)
    strict = make_pipeline(models, "insightface", limits=QualityLimits(min_eye_distance_px=50))
    assert strict.process(image).status == "too_small"
    blurred = cv2.GaussianBlur(image, (0, 0), 6)
    blurred[4 * 32: 5 * 32, 5 * 32: 6 * 32] = 255  # keep the detector's cell bright
    result = make_pipeline(models, "insightface", limits=QualityLimits(min_sharpness=200)).process(blurred)
    assert result.status == "blurry" and result.embedding is None
    assert make_pipeline(models, "insightface").process(np.zeros((8, 8, 3), np.uint8)).status == "bad_image"


def test_models_are_pinned_by_sha256(models: dict[str, Path], tmp_path: Path) -> None:
    good = sha256_file(models["arcface"])
    assert check_model(models["arcface"], good.upper()) == models["arcface"]
    with pytest.raises(ModelError, match="SHA-256"):
        check_model(models["arcface"], "0" * 64)
    with pytest.raises(ModelError, match="missing"):
        check_model(tmp_path / "absent.onnx", good)
    with pytest.raises(ModelError, match="no output 'fc1'"):
        ArcFaceEmbedder(models["arcface"], output="fc1")
    assert ArcFaceEmbedder(models["arcface"], output="683").dim == 512
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        ArcFaceEmbedder(tmp_path / "junk.onnx")


async def test_latest_frame_wins_and_the_loop_keeps_running() -> None:
    release = {0: threading.Event(), 5: threading.Event()}
    seen: list[int] = []

    def slow(frame: int) -> int:
        release[frame].wait(5)
        seen.append(frame)
        return frame * 10

    worker: LatestFrameWorker[int] = LatestFrameWorker(slow)
    task = asyncio.create_task(worker.run())
    first = worker.submit(0)
    await asyncio.sleep(0.05)  # frame 0 is now in the executor
    tickets = [worker.submit(frame) for frame in range(1, 6)]
    ticks = 0
    t_end = time.monotonic() + 0.1
    while time.monotonic() < t_end:
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks >= 3  # the event loop is not blocked by the running inference
    for_first = asyncio.create_task(worker.result(first, 5))
    for_third = asyncio.create_task(worker.result(tickets[2], 5))  # frame 3: replaced by frame 5
    await asyncio.sleep(0)
    release[0].set()
    assert await for_first == 0
    await asyncio.sleep(0.05)
    assert not for_third.done()  # frame 0 is older than frame 3: it cannot answer for it
    release[5].set()
    assert await for_third == 50
    assert seen == [0, 5] and worker.dropped == 4
    with pytest.raises(TimeoutError):
        await worker.result(tickets[-1] + 1, 0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_failing_frame_does_not_stop_the_worker() -> None:
    def fragile(frame: int) -> int:
        if frame < 0:
            raise ValueError("bad frame")
        return frame

    worker: LatestFrameWorker[int] = LatestFrameWorker(fragile)
    task = asyncio.create_task(worker.run())
    with pytest.raises(ValueError):
        await worker.result(worker.submit(-1), 5)
    assert await worker.result(worker.submit(7), 5) == 7 and worker.failed == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
