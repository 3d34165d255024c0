"""Demo face models, galleries and frames.

DEMO MODELS, NOT FOR PRODUCTION: the detector and embedder are the small generated ONNX models of
``gate_face.testing`` (the ones gate_face's tests use): they find the drawn "faces" of that module and tell
their textures apart, nothing more. A real site installs real models (gate_face's README).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from gate_face import testing
from gate_face.config import FaceConfig, ModelFile
from gate_face.engine import make_pipeline
from gate_face.index import EmbeddingIndex
from gate_face.models import sha256_file
from gate_face.store import GalleryStore

SIZE = 320  # frames and the detector's input
ROW, COL = 4, 5  # where the face is drawn (grid cells of 32 px)


def write_models(out: Path) -> tuple[Path, Path]:
    models = out / "models"
    models.mkdir(parents=True, exist_ok=True)
    return testing.make_scrfd_like(models / "demo-detector.onnx", SIZE), testing.make_embedder(
        models / "demo-embedder.onnx")


def face_frame(identity: int, jitter: int = 0) -> np.ndarray:
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    testing.draw_face(image, ROW, COL, identity, jitter=jitter)
    return image


def write_galleries(out: Path, detector: Path, embedder: Path, galleries: dict[str, Iterable[tuple[str, int]]]
                    ) -> None:
    """Each gallery: (id, drawn identity) pairs enrolled from a clean drawing, as ``gatecore face enroll``."""
    cfg = FaceConfig(family="insightface", detector=ModelFile(path=detector, sha256=sha256_file(detector)),
                     embedder=ModelFile(path=embedder, sha256=sha256_file(embedder)), detector_input=(SIZE, SIZE),
                     galleries_dir=out / "galleries")
    pipe = make_pipeline(cfg)
    store = GalleryStore(out / "galleries")
    for name, people in galleries.items():
        index = EmbeddingIndex(512)
        for ref, identity in people:
            result = pipe.process(face_frame(identity))
            if result.embedding is None:
                raise RuntimeError(f"the demo face of {ref} was not found by the demo models")
            index.add([ref], result.embedding)
        store.save(name, index)
