"""Enrollment from image folders, a CSV, and embedding files, with rejection reports."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gate_face import testing
from gate_face.detectors import ScrfdDetector
from gate_face.embedders import ArcFaceEmbedder
from gate_face.enroll import enroll_embeddings, enroll_images, image_sources
from gate_face.index import EmbeddingIndex
from gate_face.pipeline import FacePipeline


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> FacePipeline:
    d = tmp_path_factory.mktemp("m")
    return FacePipeline(ScrfdDetector(testing.make_scrfd_like(d / "s.onnx"), input_size=(320, 320)),
                        ArcFaceEmbedder(testing.make_embedder(d / "a.onnx")))


def write_face(path: Path, identity: int, jitter: int = 0) -> None:
    image = np.zeros((320, 320, 3), np.uint8)
    if identity:
        testing.draw_face(image, 4, 5, identity, jitter=jitter)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def test_enroll_folders_reports_rejected_images(pipeline: FacePipeline, tmp_path: Path) -> None:
    write_face(tmp_path / "alice" / "1.png", 1)
    write_face(tmp_path / "alice" / "2.png", 1, jitter=4)
    write_face(tmp_path / "bob" / "1.png", 2)
    write_face(tmp_path / "bob" / "blank.png", 0)
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "broken.jpg").write_bytes(b"not an image")
    index = EmbeddingIndex(512)
    report = enroll_images(index, pipeline, image_sources(tmp_path))
    assert sorted(report.enrolled) == ["alice", "bob"]
    reasons = dict(report.rejected)
    assert reasons[str(tmp_path / "bob" / "blank.png")] == "no_face"
    assert reasons[str(tmp_path / "carol" / "broken.jpg")] == "unreadable image"
    assert reasons["carol"] == "no usable image"
    image = cv2.imread(str(tmp_path / "alice" / "2.png"))
    assert image is not None
    probe = pipeline.process(image)
    assert probe.embedding is not None and index.search(probe.embedding, 1)[0].id == "alice"
    assert "rejected 3 inputs" in report.lines()[0]


def test_enroll_from_csv(pipeline: FacePipeline, tmp_path: Path) -> None:
    write_face(tmp_path / "img" / "a.png", 5)
    write_face(tmp_path / "img" / "b.png", 6)
    (tmp_path / "list.csv").write_text("id,path\nP-1,a.png\nP-2,b.png\n")
    index = EmbeddingIndex(512)
    report = enroll_images(index, pipeline, image_sources(tmp_path / "img", tmp_path / "list.csv"))
    assert report.enrolled == ["P-1", "P-2"] and report.rejected == []


def test_enroll_embeddings_rejects_bad_rows() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((5, 64)).astype(np.float32)
    vecs[2] = np.nan
    vecs[3] = 0
    index = EmbeddingIndex(64)
    report = enroll_embeddings(index, vecs, ["a", "b", "c", "d", "a"])
    assert report.enrolled == ["a", "b"]
    assert dict(report.rejected) == {"c": "non-finite or zero vector", "d": "non-finite or zero vector",
                                     "a": "duplicate id"}
    assert enroll_embeddings(index, vecs[:, :10], list("abcde")).enrolled == []
