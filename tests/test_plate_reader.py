"""gate_plate.reader: a whole frame in, every plate and container code read out with where it was, best first."""

from __future__ import annotations

import numpy as np
import pytest

from gate_plate.detect import Detector
from gate_plate.reader import PlateReader, SceneRead
from gate_plate.recognise import CropRead, Recogniser
from tools.plates import scenes
from tools.plates.eval_scenes import match

TEST_SEED = 9292  # used by no training and no evaluation


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(Detector(), Recogniser())


@pytest.fixture(scope="module")
def reads(reader: PlateReader) -> list[tuple[scenes.Scene, list[SceneRead]]]:
    out = []
    for i in range(10):
        s = scenes.scene(np.random.default_rng([TEST_SEED, i]))
        out.append((s, reader.read(s.image)))
    return out


def test_plates_and_codes_of_unseen_scenes_are_read_exactly_where_they_are(
        reads: list[tuple[scenes.Scene, list[SceneRead]]]) -> None:
    """A guard against breaking the chain (a wrong corner order, a crop turned the wrong way reads nothing):
    a good share of the scenes' plates and codes is read exactly, at their place. How well the shipped models
    read is measured by ``tools.plates.eval_scenes`` (``models/detect/eval.json``), not here."""
    targets = right = 0
    for s, found in reads:
        targets += len(s.targets)
        right += sum(found[ri].text == s.targets[ti].sample.text for ti, ri in match(s.targets, found).items())
    assert targets >= 10
    assert right >= 0.4 * targets


def test_a_read_carries_its_box_corners_and_the_recognisers_fields(
        reads: list[tuple[scenes.Scene, list[SceneRead]]]) -> None:
    found = [r for _, rs in reads for r in rs]
    assert found
    for r in found:
        assert isinstance(r, CropRead) and r.kind in ("plate", "container")
        x0, y0, x1, y1 = r.box
        assert len(r.corners) == 4 and x0 < x1 and y0 < y1
        assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in r.corners)
        assert 0.0 <= r.confidence <= 1.0 and 0.0 <= r.detection_score <= 1.0


def test_reads_come_best_first(reads: list[tuple[scenes.Scene, list[SceneRead]]]) -> None:
    for _, found in reads:
        ranks = [r.confidence * r.detection_score for r in found]
        assert ranks == sorted(ranks, reverse=True)


def test_a_frame_with_nothing_to_read_gives_an_empty_list(reader: PlateReader) -> None:
    assert reader.read(np.full((1080, 1920, 3), 200, np.uint8)) == []


@pytest.mark.parametrize("bad", [None, np.zeros((0, 0, 3), np.uint8), np.zeros((1080, 1920), np.int16), b"\x89PNG"])
def test_an_empty_or_corrupt_frame_is_a_clear_value_error(reader: PlateReader, bad: object) -> None:
    with pytest.raises(ValueError, match="image"):
        reader.read(bad)  # type: ignore[arg-type]
