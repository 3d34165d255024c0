"""gate_plate.reader: a whole frame in, every plate and container code read out with where it was, best first."""

from __future__ import annotations

import numpy as np
import pytest

from gate_plate.detect import Detector, Region
from gate_plate.reader import PlateReader, SceneRead, grow
from gate_plate.recognise import CropRead, Recogniser
from gatecore.api import valid_container_code
from tools.plates import scenes
from tools.plates.eval_scenes import match
from tools.plates.render import render_container
from tools.plates.texts import container_code

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


def _painted(layout: str, seed: int) -> tuple[np.ndarray, str, np.ndarray]:
    """A container code painted on a wall, in a frame with room around it: the frame, the code, its corners."""
    sample = container_code(np.random.default_rng(seed), layout)
    painted = render_container(sample, char_h=28, rng=np.random.default_rng(seed))
    frame = np.full((painted.image.shape[0] + 200, painted.image.shape[1] + 200, 3), 90, np.uint8)
    frame[100:100 + painted.image.shape[0], 100:100 + painted.image.shape[1]] = painted.image
    return frame, sample.text, np.asarray(painted.text_corners, np.float64) + 100


@pytest.mark.parametrize(("layout", "keep"), [("horizontal", (0.42, 1.0)), ("horizontal", (0.0, 0.86)),
                                              ("vertical", (0.0, 0.88))])
def test_a_code_detected_short_of_a_group_is_read_whole_from_the_region_grown(
        reader: PlateReader, layout: str, keep: tuple[float, float]) -> None:
    """The owner code or the boxed check digit, painted apart, left out of the region: what is read is short
    of 11 characters and invalid, and the reader reads it whole from the region grown along the text."""
    for seed in range(3):
        frame, text, (tl, tr, br, bl) = _painted(layout, seed)
        a, b = keep
        if layout == "horizontal":
            part = (tl + a * (tr - tl), tl + b * (tr - tl), bl + b * (br - bl), bl + a * (br - bl))
        else:
            part = (tl + a * (bl - tl), tr + a * (br - tr), tr + b * (br - tr), tl + b * (bl - tl))
        region = Region(tuple((float(x), float(y)) for x, y in part), "container", 0.9)
        short = reader.recogniser.read(reader.detector.rectify(frame, region))
        assert len(short.text) < 11 and not valid_container_code(short.text)
        read, grown = reader._grown(frame, short, region)
        assert read.text == text and valid_container_code(read.text)
        assert grown.size[0 if layout == "horizontal" else 1] > region.size[0 if layout == "horizontal" else 1]


def test_a_region_grows_along_its_text_before_and_after() -> None:
    wide = Region(((10.0, 10.0), (110.0, 10.0), (110.0, 30.0), (10.0, 30.0)), "container", 1.0)
    assert grow(wide, 0.5, 0.25).corners == ((-40.0, 10.0), (135.0, 10.0), (135.0, 30.0), (-40.0, 30.0))
    tall = Region(((10.0, 10.0), (30.0, 10.0), (30.0, 210.0), (10.0, 210.0)), "container", 1.0)
    assert grow(tall, 0.1, 0.0).corners == ((10.0, -10.0), (30.0, -10.0), (30.0, 210.0), (10.0, 210.0))
