"""Fusion of front and rear reads and several frames of one vehicle into candidates (gate_plate.fusion).

Property runs: 200 examples by default, ``GATECORE_PROPERTY_EXAMPLES=N`` for more."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate_plate.distance import Costs
from gate_plate.fusion import Candidate, Fusion, Read, fuse

EXAMPLES = int(os.environ.get("GATECORE_PROPERTY_EXAMPLES", "200"))
COSTS = Costs()


def plate(text: str, conf: float, view: str = "front", frame: int = 0, country: str = "VN") -> Read:
    return Read(text, "plate", country, "one_row", conf, view, frame, (10.0, 20.0, 110.0, 50.0))


def code(text: str, conf: float, view: str = "side") -> Read:
    return Read(text, "container", "", "horizontal", conf, view)


def best(reads: list[Read], kind: str = "plate", how: Fusion | None = None) -> Candidate:
    return fuse(reads, COSTS, how or Fusion())[kind][0]


def test_one_read_gives_one_candidate_with_its_confidence_country_layout_view_and_box() -> None:
    c = best([plate("51G12345", 0.8)])
    assert (c.text, c.confidence, c.country, c.layout, c.valid, c.reads, c.views, c.box) == (
        "51G12345", 0.8, "VN", "one_row", True, 1, ("front",), (10.0, 20.0, 110.0, 50.0))


def test_front_and_rear_reads_that_agree_reinforce_each_other() -> None:
    c = best([plate("51G12345", 0.8, "front"), plate("51G12345", 0.8, "rear")])
    assert c.confidence == pytest.approx(1 - 0.2 * 0.2) and c.views == ("front", "rear") and c.reads == 2


def test_further_frames_of_one_camera_reinforce_less_than_a_second_camera() -> None:
    same_camera = best([plate("51G12345", 0.8, "front", 0), plate("51G12345", 0.8, "front", 1)])
    two_cameras = best([plate("51G12345", 0.8, "front"), plate("51G12345", 0.8, "rear")])
    assert 0.8 < same_camera.confidence < two_cameras.confidence
    assert same_camera.confidence == pytest.approx(1 - 0.2 * (1 - 0.8 * 0.5))


def test_cameras_that_disagree_split_the_confidence() -> None:
    cands = fuse([plate("51G12345", 0.8, "front"), plate("51G12346", 0.8, "rear")], COSTS)["plate"]
    assert [c.confidence for c in cands] == [pytest.approx(0.4), pytest.approx(0.4)]


def test_a_format_invalid_read_is_weighted_down_and_weighs_less_against_a_valid_one() -> None:
    valid_rival = fuse([plate("51G12345", 0.8, "front"), plate("51G12346", 0.8, "rear")], COSTS)["plate"]
    cands = fuse([plate("51G12345", 0.8, "front"), plate("51O12345", 0.8, "rear")], COSTS)["plate"]
    assert [c.text for c in cands] == ["51G12345", "51O12345"]
    assert cands[0].confidence > valid_rival[0].confidence
    assert cands[0].confidence == pytest.approx(0.8 * 0.8 / (0.8 + 0.8 * 0.3))
    assert not cands[1].valid and "series letter O" in (cands[1].problem or "")
    assert cands[1].confidence < 0.3 * 0.8


def test_a_read_one_confusable_character_away_backs_the_valid_candidate() -> None:
    alone = best([plate("51G12345", 0.8, "front")])
    backed = best([plate("51G12345", 0.8, "front"), plate("51G1Z345", 0.8, "rear")])
    assert backed.text == "51G12345" and backed.confidence < alone.confidence  # a rival, partly agreeing
    split = fuse([plate("51G12345", 0.8, "front"), plate("51G12E45", 0.8, "rear")], COSTS)["plate"]
    assert backed.confidence > split[0].confidence  # a non-confusable rival backs nothing


def test_another_vehicles_plate_in_view_is_no_rival() -> None:
    cands = fuse([plate("51G12345", 0.8, "front"), plate("29C67890", 0.8, "front")], COSTS)["plate"]
    assert sorted(c.confidence for c in cands) == [0.8, 0.8]


def test_plates_and_container_codes_are_separate_candidate_lists() -> None:
    fused = fuse([plate("51G12345", 0.9), code("MSKU1234565", 0.7), code("CSQU3054383", 0.9),
                  code("MSKU1234565", 0.6, "rear")], COSTS)
    assert [c.text for c in fused["plate"]] == ["51G12345"]
    assert [c.text for c in fused["container"]] == ["CSQU3054383", "MSKU1234565"]
    assert fused["container"][1].confidence == pytest.approx(1 - 0.3 * 0.4)


def test_a_container_code_with_a_wrong_check_digit_is_weighted_down() -> None:
    c = best([code("MSKU1234566", 0.9)], "container")
    assert not c.valid and c.confidence == pytest.approx(0.9 * 0.3) and c.read_confidence == 0.9
    assert "check digit" in (c.problem or "")


def test_a_plate_of_a_country_the_lane_does_not_read_is_invalid_there() -> None:
    how = Fusion(countries=("VN",))
    c = best([plate("粤B12345", 0.9, country="CN")], how=how)
    assert not c.valid and "CN plate" in (c.problem or "")
    assert best([plate("粤B12345", 0.9, country="CN")]).valid


def test_the_country_of_a_valid_candidate_is_its_formats_and_the_layout_the_reads_say() -> None:
    reads = [Read("粤B12345", "plate", "VN", "two_row", 0.9, "rear"), Read("粤B12345", "plate", "CN", "one_row", 0.5)]
    c = best(reads)
    assert (c.country, c.layout) == ("CN", "two_row")


def test_empty_reads_give_no_candidates() -> None:
    assert fuse([], COSTS) == {} and fuse([plate("", 0.9)], COSTS) == {}


READ = st.builds(plate, st.sampled_from(["51G12345", "51G1Z345", "51O12345", "29C67890", "51G12346", "13A12345"]),
                 st.floats(0, 1), st.sampled_from(["front", "rear"]), st.integers(0, 5))


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(READ, max_size=12), st.randoms())
def test_candidates_are_ranked_in_0_1_and_do_not_depend_on_the_order_of_the_reads(
    reads: list[Read], rnd: object,
) -> None:
    cands = fuse(reads, COSTS).get("plate", [])
    shuffled = list(reads)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    again = fuse(shuffled, COSTS).get("plate", [])
    assert sorted((c.text, c.confidence) for c in cands) == [
        (c.text, pytest.approx(c.confidence, abs=1e-6)) for c in sorted(again, key=lambda c: c.text)]
    assert all(0 <= c.confidence <= 1 for c in cands)
    assert [c.confidence for c in cands] == sorted((c.confidence for c in cands), reverse=True)
    assert {c.text for c in cands} == {r.text for r in reads}
