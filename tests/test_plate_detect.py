"""gate_plate.detect: the shipped detector finds plates and container codes in generated 1080p scenes, with their
corners; rectification; bad images; the model file is the one its training recipe recorded."""

from __future__ import annotations

import hashlib
import json
import os

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate_plate.detect import DEFAULT_FOLDER, Detector, Region, decode_image, fit_quad, order_corners, rectify
from tools.plates import scenes
from tools.plates.eval_scenes import corner_error, match
from tools.plates.render import render_plate
from tools.plates.texts import vn_plate

EXAMPLES = int(os.environ.get("GATECORE_PROPERTY_EXAMPLES", "30"))
TEST_SEED = 9191  # neither the training seed (recipe.json) nor the evaluation's


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


@pytest.fixture(scope="module")
def test_scenes() -> list[scenes.Scene]:
    return [scenes.scene(np.random.default_rng([TEST_SEED, i])) for i in range(12)]


def test_model_file_is_the_one_the_recipe_recorded() -> None:
    recipe = json.loads((DEFAULT_FOLDER / "recipe.json").read_text())
    model = DEFAULT_FOLDER / "model.onnx"
    assert hashlib.sha256(model.read_bytes()).hexdigest() == recipe["model_sha256"]
    assert model.stat().st_size < 5_000_000
    assert recipe["seed"] != TEST_SEED and "command" in recipe


def test_detector_finds_the_plates_and_codes_of_unseen_scenes(detector: Detector,
                                                              test_scenes: list[scenes.Scene]) -> None:
    """At least 90 % of the plates and codes of freshly generated scenes are found (IoU >= 0.5, right kind)."""
    targets = found = 0
    for s in test_scenes:
        targets += len(s.targets)
        found += len(match(s.targets, detector.detect(s.image)))
    assert targets >= 12
    assert found >= 0.9 * targets


def test_corners_start_at_the_texts_top_left_and_lie_close(detector: Detector,
                                                          test_scenes: list[scenes.Scene]) -> None:
    """Matched regions' corners are, in the median, within a quarter of the text height of the true ones, in
    the same order (clockwise from the text's top-left)."""
    errors = []
    for s in test_scenes:
        regions = detector.detect(s.image)
        for ti, ri in match(s.targets, regions).items():
            errors.append(corner_error(s.targets[ti], regions[ri]))
    assert errors
    assert float(np.median(errors)) < 0.25


def test_a_frame_without_plates_gives_no_region(detector: Detector) -> None:
    frame = np.full((1080, 1920, 3), 128, np.uint8)
    cv2.rectangle(frame, (300, 300), (1500, 900), (40, 90, 160), -1)
    assert detector.detect(frame) == []


def test_grey_and_bgra_frames_are_accepted(detector: Detector, test_scenes: list[scenes.Scene]) -> None:
    image = test_scenes[0].image
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    assert isinstance(detector.detect(grey), list)
    assert [r.kind for r in detector.detect(bgra)] == [r.kind for r in detector.detect(image)]


@pytest.mark.parametrize("bad", [None, b"\xff\xd8 not a jpeg", np.zeros((0, 0, 3), np.uint8),
                                 np.zeros((4, 4, 3), np.uint8), np.zeros((100, 100, 3), np.float32),
                                 np.zeros((100, 100, 5), np.uint8), "frame.jpg"])
def test_an_unusable_frame_is_a_clear_value_error(detector: Detector, bad: object) -> None:
    with pytest.raises(ValueError, match="image"):
        detector.detect(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [b"", b"GIF89a garbage", bytes(range(256))])
def test_an_empty_or_corrupt_file_is_a_clear_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="image"):
        decode_image(data)


def test_a_good_file_decodes(test_scenes: list[scenes.Scene]) -> None:
    ok, buf = cv2.imencode(".png", test_scenes[0].image)
    assert ok and decode_image(buf.tobytes()).shape == (1080, 1920, 3)


def _tilted_plate(angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A rendered plate pasted into a frame, rotated by ``angle`` degrees; the plate and its corners in the frame."""
    plate = render_plate(vn_plate(np.random.default_rng(4), "one_row"), 0.6).image
    h, w = plate.shape[:2]
    frame = np.full((720, 1280, 3), 90, np.uint8)
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    rot[:, 2] += (640 - w / 2, 360 - h / 2)
    cv2.warpAffine(plate, rot, (1280, 720), frame, borderMode=cv2.BORDER_TRANSPARENT)
    corners = cv2.transform(np.array([[[0, 0], [w, 0], [w, h], [0, h]]], np.float32), rot)[0]
    return frame, plate, corners


@pytest.mark.parametrize("angle", [-25.0, -8.0, 0.0, 12.0, 30.0])
def test_rectify_turns_a_tilted_plate_upright(angle: float) -> None:
    """The crop along a tilted plate's corners is the plate itself, upright (not mirrored, not upside down)."""
    frame, plate, corners = _tilted_plate(angle)
    crop = rectify(frame, corners.tolist())
    assert abs(crop.shape[1] - plate.shape[1]) <= 2 and abs(crop.shape[0] - plate.shape[0]) <= 2
    crop = cv2.resize(crop, (plate.shape[1], plate.shape[0]))
    grey, ref = (cv2.cvtColor(x, cv2.COLOR_BGR2GRAY).astype(np.float32) for x in (crop, plate))
    upright = np.corrcoef(grey.ravel(), ref.ravel())[0, 1]
    flipped = np.corrcoef(grey[::-1, ::-1].ravel(), ref.ravel())[0, 1]
    assert upright > 0.9 and upright > flipped + 0.2


def test_rectify_of_a_vertical_code_is_tall() -> None:
    frame = np.zeros((400, 400, 3), np.uint8)
    crop = rectify(frame, [(100, 20), (130, 20), (130, 380), (100, 380)], pad=(0.1, 0.1))
    assert crop.shape[:2] == (366, 36)


@settings(max_examples=EXAMPLES, deadline=None)
@given(x=st.integers(0, 300), y=st.integers(0, 200), w=st.integers(12, 300), h=st.integers(12, 200))
def test_rectify_of_an_upright_box_is_that_part_of_the_frame(x: int, y: int, w: int, h: int) -> None:
    frame = np.random.default_rng(x * 1000 + y).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    crop = rectify(frame, [(x, y), (x + w, y), (x + w, y + h), (x, y + h)])
    assert crop.shape == (h, w, 3)
    assert np.abs(crop.astype(int) - frame[y:y + h, x:x + w]).max() <= 1


def test_region_box_and_size() -> None:
    r = Region(((10.0, 20.0), (110.0, 30.0), (108.0, 60.0), (8.0, 50.0)), "plate", 0.9)
    assert r.box == [8.0, 20.0, 110.0, 60.0]
    assert r.size[0] > 99 and 29 < r.size[1] < 31


def test_a_degenerate_region_is_refused() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        rectify(np.zeros((100, 100, 3), np.uint8), [(5, 5), (5, 5), (5, 5), (5, 5)])


def test_a_tall_region_is_vertical_and_a_wide_one_is_not() -> None:
    tall = Region(((100.0, 20.0), (130.0, 20.0), (131.0, 380.0), (101.0, 380.0)), "container", 0.8)
    wide = Region(((10.0, 20.0), (110.0, 30.0), (108.0, 60.0), (8.0, 50.0)), "container", 0.8)
    assert tall.vertical and not wide.vertical


def _quad(w: float, h: float, angle: float, skew: tuple[float, float, float, float]) -> np.ndarray:
    """A w x h box turned by ``angle`` degrees about (320, 240), its corners pushed up/down by ``skew``
    (fractions of its shorter side: a trapezoid, as perspective makes)."""
    box = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float64)
    box[:, 1] += np.array(skew) * min(w, h)
    a = np.radians(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.asarray(box @ rot.T + (320, 240), np.float64)


@settings(max_examples=EXAMPLES, deadline=None)
@given(w=st.floats(20, 400), h=st.floats(20, 120), angle=st.floats(-20, 20),
       skew=st.tuples(*(st.floats(-0.1, 0.1) for _ in range(4))))
def test_a_soft_outline_is_fitted_with_its_own_quadrilateral(w: float, h: float, angle: float,
                                                             skew: tuple[float, float, float, float]) -> None:
    """The corners fitted to a blurred, thresholded region (as the detector's masks are) are those of the region,
    in order from its top-left, within 2.5 px or a tenth of the shorter side (20 px and up: the size the
    detector's second, closer look gives a region)."""
    truth = _quad(w, h, angle, skew)
    canvas = np.zeros((480, 640), np.float32)
    cv2.fillPoly(canvas, [np.round(truth * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 1.5)
    contours, _ = cv2.findContours((canvas > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    fitted = fit_quad(max(contours, key=cv2.contourArea)) + 0.5
    assert np.linalg.norm(fitted - truth, axis=1).max() <= max(2.5, 0.1 * min(w, h))


@pytest.mark.parametrize("turn", [0, 1, 2, 3])
def test_corners_are_ordered_clockwise_from_the_top_left_whatever_order_they_come_in(turn: int) -> None:
    tall = np.array([[300, 50], [318, 51], [310, 300], [292, 299]], np.float64)
    wide = np.array([[100, 100], [220, 110], [218, 150], [98, 140]], np.float64)
    for quad in (tall, wide):
        shuffled = np.roll(quad, turn, axis=0)[[0, 2, 1, 3]]
        assert order_corners(shuffled).tolist() == quad.tolist()


def test_no_region_is_degenerate_where_an_outline_collapses(detector: Detector) -> None:
    """A scene whose container-code outline once fitted to a sliver (0.2 px wide) gives only regions that can be
    rectified."""
    s = scenes.scene(np.random.default_rng([1007, 183]))
    for region in detector.detect(s.image):
        assert min(region.size) >= 2
        assert detector.rectify(s.image, region).size > 0
