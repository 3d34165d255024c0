"""Candidate regions: a big blob's parts are read before the blob.

The property test runs a bounded number of examples (``GATECORE_FUZZ_EXAMPLES`` scales it up).
"""

from __future__ import annotations

import os
import zlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gate_barcode import synth
from gate_barcode.regions import candidates, parts_first

EXAMPLES = max(1, int(os.environ.get("GATECORE_FUZZ_EXAMPLES", "2000")) // 20)  # 100 by default

Box = tuple[int, int, int, int]
boxes = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(1, 40), st.integers(1, 40)),
                 max_size=12)


def _inside(a: Box, b: Box) -> bool:
    return a != b and b[0] <= a[0] and b[1] <= a[1] and a[0] + a[2] <= b[0] + b[2] and a[1] + a[3] <= b[1] + b[3]


def test_the_parts_of_a_blob_come_just_before_it_and_the_other_boxes_keep_their_order() -> None:
    blob, part, other, small_part = (0, 0, 400, 300), (50, 40, 100, 80), (600, 0, 80, 80), (60, 50, 20, 20)
    assert parts_first([blob, other, part, small_part]) == [small_part, part, blob, other]


@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100)
@given(boxes)
def test_every_box_is_kept_once_and_comes_after_every_box_inside_it(given_boxes: list[Box]) -> None:
    out = parts_first(given_boxes)
    assert sorted(set(out)) == sorted(set(given_boxes)) and len(out) == len(set(out))
    for i, box in enumerate(out):
        assert not any(_inside(later, box) for later in out[i + 1:])


def test_a_frame_whose_codes_merge_with_clutter_gets_its_candidates_parts_first() -> None:
    frame, _ = synth.make_frame(np.random.default_rng([11, zlib.crc32(b"jpeg30"), 68]), "jpeg30")  # the bench's
    found = candidates(frame, 12)
    assert found == parts_first(found)
    assert any(_inside(a, b) for a in found for b in found)  # the frame does have a blob with parts
