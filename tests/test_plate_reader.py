"""gate_plate.reader: a whole frame in, every plate and container code read out with where it was, best first."""

from __future__ import annotations

import numpy as np
import pytest

from gate_plate.detect import Detector, Region
from gate_plate.formats import validate
from gate_plate.reader import PlateReader, SceneRead, across_fit, grow, narrowed, variations, widen
from gate_plate.recognise import CropRead, Recogniser
from gatecore.api import valid_container_code
from tools.plates import scenes
from tools.plates.eval_scenes import iou, match
from tools.plates.render import render_container, render_plate
from tools.plates.texts import cn_plate, container_code

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


def _cut(corners: np.ndarray, along: tuple[float, float], kind: str = "plate", vertical: bool = False) -> Region:
    """The part ``along`` (fractions from the text's start) of the text box ``corners``."""
    tl, tr, br, bl = corners
    a, b = along
    if vertical:
        part = (tl + a * (bl - tl), tr + a * (br - tr), tr + b * (br - tr), tl + b * (bl - tl))
    else:
        part = (tl + a * (tr - tl), tl + b * (tr - tl), bl + b * (br - bl), bl + a * (br - bl))
    return Region(tuple((float(x), float(y)) for x, y in part), kind, 0.9)


@pytest.mark.parametrize(("layout", "keep"), [("horizontal", (0.42, 1.0)), ("horizontal", (0.0, 0.86)),
                                              ("vertical", (0.0, 0.88))])
def test_a_code_detected_short_of_a_group_is_read_whole_from_a_variation_of_its_region(
        reader: PlateReader, layout: str, keep: tuple[float, float]) -> None:
    """The owner code or the boxed check digit, painted apart, left out of the region: what is read is short
    of 11 characters and invalid, and the reader reads it whole from the region grown along the text."""
    for seed in range(3):
        frame, text, corners = _painted(layout, seed)
        region = _cut(corners, keep, "container", vertical=layout == "vertical")
        short = reader.recogniser.read(reader.detector.rectify(frame, region), "container")
        assert len(short.text) < 11 and not valid_container_code(short.text)
        assert not reader.settled(short, "container")
        read, grown = reader.again(frame, short, region)
        assert read.text == text and valid_container_code(read.text)
        assert grown.size[0 if layout == "horizontal" else 1] > region.size[0 if layout == "horizontal" else 1]


def test_a_chinese_plate_detected_without_its_province_character_is_read_whole_again(reader: PlateReader) -> None:
    """The detector's region starts after the Han character (it is less like the rest of the text): the read
    is no valid plate, and a variation of the region grown at its start reads the plate whole."""
    whole = 0
    for seed in range(4):
        sample = cn_plate(np.random.default_rng(seed), "blue")
        plate = render_plate(sample, px_per_mm=0.6, rng=np.random.default_rng(seed))
        frame = np.full((plate.image.shape[0] + 200, plate.image.shape[1] + 200, 3), 90, np.uint8)
        frame[100:100 + plate.image.shape[0], 100:100 + plate.image.shape[1]] = plate.image
        corners = np.asarray(plate.text_corners, np.float64) + 100
        region = _cut(corners, (0.16, 1.0))
        first = reader.recogniser.read(reader.detector.rectify(frame, region), "plate")
        assert first.text != sample.text and not reader.settled(first, "plate")
        read, _ = reader.again(frame, first, region)
        whole += read.text == sample.text and validate(read.text, kind="plate") is None
    assert whole >= 3


def test_a_valid_confident_read_stands_and_a_weak_or_invalid_one_is_read_again(reader: PlateReader) -> None:
    confident = reader.reread_below["plate"] + 0.1
    read = CropRead(text="29C123456", kind="plate", country="VN", layout="one_row", confidence=confident)
    assert reader.settled(read, "plate")
    weak = CropRead(**{**read.__dict__, "confidence": reader.reread_below["plate"] - 0.1})
    assert not reader.settled(weak, "plate")
    assert not reader.settled(CropRead(**{**read.__dict__, "text": "29C12"}), "plate")  # no Vietnamese plate
    assert not reader.settled(read, "container")  # a plate's text where a code is


def test_a_code_whose_check_digit_is_right_is_reported_at_a_lower_confidence_than_other_reads(
        reader: PlateReader) -> None:
    assert reader.min_confidence_checked < reader.min_confidence
    assert reader.floor("CSQU3054383") == reader.min_confidence_checked
    assert reader.floor("CSQU3054384") == reader.min_confidence  # check digit wrong
    assert reader.floor("51G12345") == reader.min_confidence


def test_the_variations_of_a_region_grow_shorten_and_widen_it_and_keep_its_kind() -> None:
    wide = Region(((0.0, 0.0), (80.0, 0.0), (80.0, 20.0), (0.0, 20.0)), "plate", 0.7)
    options = variations(wide, 8)
    lengths = sorted(round(o.size[0], 3) for o in options)
    assert lengths[0] == pytest.approx(80 - 7.0) and lengths[-1] == pytest.approx(80 + 24.0)
    assert {round(o.size[1], 3) for o in options} == {20.0, 26.0, 16.8}
    assert all(o.kind == "plate" and o.score == 0.7 for o in options)
    short_code = Region(((0.0, 0.0), (70.0, 0.0), (70.0, 10.0), (0.0, 10.0)), "container", 0.7)
    assert len(variations(short_code, 7)) == len(options) + 6  # and by the 4 characters missing


def test_a_region_grows_along_its_text_before_and_after() -> None:
    wide = Region(((10.0, 10.0), (110.0, 10.0), (110.0, 30.0), (10.0, 30.0)), "container", 1.0)
    assert grow(wide, 0.5, 0.25).corners == ((-40.0, 10.0), (135.0, 10.0), (135.0, 30.0), (-40.0, 30.0))
    tall = Region(((10.0, 10.0), (30.0, 10.0), (30.0, 210.0), (10.0, 210.0)), "container", 1.0)
    assert grow(tall, 0.1, 0.0).corners == ((10.0, -10.0), (30.0, -10.0), (30.0, 210.0), (10.0, 210.0))


def test_a_region_widens_across_its_text_on_both_sides() -> None:
    wide = Region(((10.0, 10.0), (110.0, 10.0), (110.0, 30.0), (10.0, 30.0)), "plate", 1.0)
    assert widen(wide, 0.25).corners == ((10.0, 5.0), (110.0, 5.0), (110.0, 35.0), (10.0, 35.0))
    tall = Region(((10.0, 10.0), (30.0, 10.0), (30.0, 210.0), (10.0, 210.0)), "container", 1.0)
    assert widen(tall, -0.25).corners == ((15.0, 10.0), (25.0, 10.0), (25.0, 210.0), (15.0, 210.0))


def test_a_region_is_narrowed_across_its_text_to_shares_of_its_extent() -> None:
    wide = Region(((10.0, 10.0), (110.0, 10.0), (110.0, 30.0), (10.0, 30.0)), "plate", 1.0)
    assert narrowed(wide, 0.25, 0.75).corners == ((10.0, 15.0), (110.0, 15.0), (110.0, 25.0), (10.0, 25.0))
    tall = Region(((10.0, 10.0), (30.0, 10.0), (30.0, 210.0), (10.0, 210.0)), "container", 1.0)
    assert narrowed(tall, 0.5, 1.0).corners == ((20.0, 10.0), (30.0, 10.0), (30.0, 210.0), (20.0, 210.0))


@pytest.mark.parametrize("layout", ["horizontal", "vertical"])
def test_a_region_twice_as_wide_as_its_code_is_fitted_to_the_strokes_across_it(
        reader: PlateReader, layout: str) -> None:
    """The detector's mask leaves a thin text's region up to twice as wide as the text: fitted to where the
    crop has strokes (a ribbed wall's ribs run along a vertical code and do not count), it covers the text and
    little more, and stays inside the region it was."""
    vertical = layout == "vertical"
    for seed in range(3):
        frame, _, corners = _painted(layout, seed)
        region = widen(_cut(corners, (0.0, 1.0), "container", vertical), 0.5)
        pad = reader.detector.pad["tall" if vertical else "wide"][0 if vertical else 1]
        fit = across_fit(reader.detector.rectify(frame, region), region, pad)
        assert iou(corners, region.corners) == pytest.approx(0.5, abs=0.02)
        assert iou(corners, fit.corners) > 0.7
        assert iou(fit.corners, region.corners) == pytest.approx(_area(fit) / _area(region), abs=0.02)


def _area(region: Region) -> float:
    x, y = np.asarray(region.corners).T
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def test_a_crop_without_strokes_leaves_its_region_as_found_and_a_two_row_plate_is_not_fitted(
        reader: PlateReader) -> None:
    region = Region(((100.0, 100.0), (300.0, 100.0), (300.0, 160.0), (100.0, 160.0)), "plate", 0.9)
    flat = np.full((400, 400, 3), 120, np.uint8)
    assert across_fit(reader.detector.rectify(flat, region), region, 0.05) == region
    frame, _, corners = _painted("horizontal", 0)
    wide = widen(_cut(corners, (0.0, 1.0), "container"), 0.5)
    assert reader.fitted(frame, wide, "two_row") == wide
    assert reader.fitted(frame, wide, "horizontal") != wide
