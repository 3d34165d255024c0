"""tools.plates generators: valid texts from a seed, rendered plates with their text corners, degradations."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatecore.api import normalise_plate, valid_container_code
from tools.plates import degrade, texts
from tools.plates.crops import make_crop
from tools.plates.render import render

EXAMPLES = int(os.environ.get("GATECORE_PROPERTY_EXAMPLES", "60"))
VN = re.compile(r"T?\d{2}([A-Z]{1,2}\d?|NG|QT|NN)?(\d{4}|\d{5})")
CN = re.compile(r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z]"
                r"([A-HJ-NP-Z0-9]{5}|[DF][A-HJ-NP-Z0-9]\d{4}|\d{5}[DF]|[A-HJ-NP-Z0-9]{4}[挂领])|使\d{6}")


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(list(texts.GROUPS)))
def test_every_generated_text_follows_its_format(seed: int, group: str) -> None:
    sample = texts.random_text(np.random.default_rng(seed), group)
    assert texts.group_of(sample) == group
    assert set(sample.text) <= set(texts.ALPHABET)
    if sample.kind == "container":
        assert valid_container_code(sample.text)
    else:
        assert (VN if sample.country == "VN" else CN).fullmatch(sample.text), sample.rows
    assert len(sample.rows) == {"one_row": 1, "two_row": 2, "horizontal": 1, "vertical": 11}[sample.layout]


def test_the_same_seed_gives_the_same_samples() -> None:
    first = [texts.random_text(np.random.default_rng([5, i])) for i in range(30)]
    again = [texts.random_text(np.random.default_rng([5, i])) for i in range(30)]
    assert first == again


def test_green_new_energy_plates_keep_the_d_f_position_rule() -> None:
    rng = np.random.default_rng(3)
    small = [texts.cn_plate(rng, "green_small").text for _ in range(50)]
    large = [texts.cn_plate(rng, "green_large").text for _ in range(50)]
    assert all(len(t) == 8 and t[2] in "DF" and t[4:].isdigit() for t in small)
    assert all(len(t) == 8 and t[-1] in "DF" and t[2:7].isdigit() for t in large)


def test_a_two_row_plate_is_rendered_taller_and_its_text_corners_lie_inside() -> None:
    one = render(texts.PlateText(("51G-123.45",), "plate", "VN", "one_row", "vn_white", "private"))
    two = render(texts.PlateText(("29C1", "234.56"), "plate", "VN", "two_row", "vn_white", "private"))
    assert two.image.shape[0] / two.image.shape[1] > one.image.shape[0] / one.image.shape[1]
    for r in (one, two):
        h, w = r.image.shape[:2]
        (x0, y0), (x1, _), (_, y1), _ = r.text_corners
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h


def test_the_text_region_is_where_the_ink_is() -> None:
    r = render(texts.PlateText(("粤B·12345",), "plate", "CN", "one_row", "cn_blue", "blue"))
    (x0, y0), _, (x1, y1), _ = r.text_corners
    grey = r.image.astype(int).sum(axis=2)
    white = grey > 600  # white characters on blue
    inside = white[round(y0): round(y1), round(x0): round(x1)].sum()
    assert inside > 0.8 * white[8:-8, 8:-8].sum()  # the border is white too; the text is within the corners


@pytest.mark.parametrize("step", [degrade.blur, degrade.motion_blur, degrade.noise, degrade.jpeg, degrade.night,
                                  degrade.glare, degrade.dirt, degrade.occlusion, degrade.rescale])
def test_each_degradation_keeps_the_image_shape_and_changes_it(step: degrade.Callable[..., np.ndarray]) -> None:
    image = render(texts.random_text(np.random.default_rng(1), "VN/one_row")).image
    out = step(image, np.random.default_rng(2))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)


def test_perspective_moves_the_corners_with_the_image() -> None:
    r = render(texts.random_text(np.random.default_rng(4), "CN/two_row"))
    warped, (corners,) = degrade.perspective(r.image, np.random.default_rng(5), [r.plate_corners], border=(0, 0, 0))
    h, w = warped.shape[:2]
    for x, y in corners:  # the plate's corners land on the warped plate's edge, not on the black fill
        assert -1 <= x <= w + 1 and -1 <= y <= h + 1
    centre = np.mean(corners, axis=0).round().astype(int)
    assert warped[centre[1], centre[0]].sum() > 0


def test_a_crop_is_an_image_of_its_text() -> None:
    sample = texts.random_text(np.random.default_rng(8), "container/vertical")
    crop = make_crop(sample, np.random.default_rng(9))
    assert crop.ndim == 3 and crop.shape[0] > crop.shape[1]  # a vertical code stays tall
    assert normalise_plate("".join(sample.rows)) == sample.text
