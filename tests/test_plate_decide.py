"""What the plate and container sources conclude from their candidates (gate_plate.decide), and the votes
the plugin casts on it: watchlists first, then the pre-arrival manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import gate_plate
from gate_plate import decide
from gate_plate.config import ContainerEvidence, ListConfig, PlateSection, VehicleEvidence, WatchlistConfig
from gate_plate.engine import SitePlates
from gate_plate.fusion import Candidate, Read, fuse
from gatecore.api import Evidence, Outcome

MANIFEST = """plate,container,ref
51G-123.45,MSKU1234565;CSQU3054383,M-1
29C1 234.56,,M-2
粤B·12345,TGHU1234567,M-3
30A-111.11,,M-4
30A-111.17,,M-5
"""
STOLEN = '{"plate": "51H-999.99", "ref": "case-1"}\n{"plate": "88A*", "ref": "case-2"}\n'
WATCH = "plate\n29C1 234.56\n"


@pytest.fixture
def state(tmp_path: Path) -> SitePlates:
    (tmp_path / "manifest.csv").write_text(MANIFEST, encoding="utf-8")
    (tmp_path / "stolen.jsonl").write_text(STOLEN, encoding="utf-8")
    (tmp_path / "watch.csv").write_text(WATCH, encoding="utf-8")
    section = PlateSection(manifest=ListConfig(path=str(tmp_path / "manifest.csv")), watchlists={
        "stolen": WatchlistConfig(path=str(tmp_path / "stolen.jsonl"), on_hit="deny"),
        "watch": WatchlistConfig(path=str(tmp_path / "watch.csv"))})
    return SitePlates.from_section(section)


def plates(*reads: tuple[str, float]) -> list[Candidate]:
    return fuse([Read(t, "plate", "", "one_row", c, f"cam{i}") for i, (t, c) in enumerate(reads)],
                SitePlates.from_section(None).costs).get("plate", [])


def codes(*reads: tuple[str, float]) -> list[Candidate]:
    return fuse([Read(t, "container", "", "horizontal", c, f"cam{i}") for i, (t, c) in enumerate(reads)],
                SitePlates.from_section(None).costs).get("container", [])


def vehicle(**kw: Any) -> VehicleEvidence:
    return VehicleEvidence(kind="plate.vehicle", source="plate", **kw)


def container(**kw: Any) -> ContainerEvidence:
    return ContainerEvidence(kind="plate.container", source="container", **kw)


def test_a_confident_exact_manifest_match_passes_with_its_entry(state: SitePlates) -> None:
    v = decide.vehicle(state, vehicle(), plates(("51G12345", 0.9), ("51G12345", 0.9)))
    assert v.reason == "manifest_match" and v.confidence == pytest.approx(0.99)
    assert v.summary["manifest_ref"] == "M-1" and v.summary["match"] == "exact" and v.summary["plate"] == "51G12345"
    assert v.claims["manifest_line"] == 2 and v.claims["text"] == "51G12345"


def test_a_confusable_read_of_a_manifest_plate_passes_as_a_fuzzy_match(state: SitePlates) -> None:
    v = decide.vehicle(state, vehicle(), plates(("51G1Z345", 0.95), ("51G1Z345", 0.95)))
    assert v.reason == "manifest_match" and v.summary["match"] == "fuzzy" and v.summary["distance"] == 0.3


def test_a_read_one_plain_character_from_a_manifest_plate_refers_as_near(state: SitePlates) -> None:
    v = decide.vehicle(state, vehicle(), plates(("51G12E45", 0.99), ("51G12E45", 0.99)))
    assert v.reason == "manifest_near" and v.summary["manifest_ref"] == "M-1"


def test_a_plate_not_in_the_manifest_refers(state: SitePlates) -> None:
    assert decide.vehicle(state, vehicle(), plates(("29C67890", 0.99))).reason == "no_manifest_match"


def test_an_unsure_read_of_a_manifest_plate_refers(state: SitePlates) -> None:
    assert decide.vehicle(state, vehicle(), plates(("51G12345", 0.6))).reason == "low_confidence"


def test_a_read_as_near_to_two_manifest_lines_refers_as_ambiguous(state: SitePlates) -> None:
    v = decide.vehicle(state, vehicle(), plates(("30A11114", 0.99)))  # 1 from 30A11111 and from 30A11117
    assert v.reason == "manifest_ambiguous"


def test_nothing_read_refers(state: SitePlates) -> None:
    assert decide.vehicle(state, vehicle(), []).reason == "no_read"


def test_a_confident_exact_hit_on_a_deny_list_denies_even_when_in_the_manifest(state: SitePlates) -> None:
    v = decide.vehicle(state, vehicle(), plates(("51H99999", 0.95), ("51H99999", 0.95)))
    assert v.reason == "watchlist_deny" and v.summary["watchlist_ref"] == "case-1"
    assert v.claims["watchlist"] == "stolen"
    assert decide.vehicle(state, vehicle(), plates(("88A12345", 0.99))).reason == "watchlist_deny"  # a pattern


@pytest.mark.parametrize(("reads", "why"), [
    ((("51H9999S", 0.99),), "a fuzzy hit (S for 9)"),
    ((("51H99999", 0.85),), "an unsure read"),
])
def test_a_fuzzy_or_unsure_hit_on_a_deny_list_refers(state: SitePlates, reads: tuple[tuple[str, float]],
                                                     why: str) -> None:
    assert decide.vehicle(state, vehicle(), plates(*reads)).reason == "watchlist_refer", why


def test_a_hit_on_a_refer_list_refers_a_manifest_plate(state: SitePlates) -> None:
    v = decide.vehicle(state, vehicle(), plates(("29C123456", 0.99)))
    assert v.reason == "watchlist_refer" and v.claims["watchlist"] == "watch"


def test_a_source_searches_only_the_watchlists_it_names(state: SitePlates) -> None:
    v = decide.vehicle(state, vehicle(watchlists=("stolen",)), plates(("29C123456", 0.99)))
    assert v.reason == "manifest_match"


def test_a_weak_candidate_is_not_searched_in_the_watchlists(state: SitePlates) -> None:
    cands = plates(("51G12345", 0.95), ("51H99999", 0.1))
    assert cands[1].confidence < vehicle().watch_confidence
    assert decide.vehicle(state, vehicle(), cands).reason == "manifest_match"


@pytest.mark.parametrize(("reads", "reason"), [
    ((("51G12345", 0.9),), "read"), ((("51G12345", 0.5),), "low_confidence"),
    ((("51O12345", 0.99),), "invalid_format"),
])
def test_without_the_manifest_a_confident_valid_read_passes(state: SitePlates, reads: tuple[tuple[str, float]],
                                                            reason: str) -> None:
    assert decide.vehicle(state, vehicle(manifest=False), plates(*reads)).reason == reason


def test_containers_of_the_plates_manifest_line_all_read_pass(state: SitePlates) -> None:
    v = decide.containers(state, container(), codes(("MSKU1234565", 0.95), ("CSQU3054383", 0.9)), 2)
    assert v.reason == "manifest_match" and v.summary["codes"] == 2 and v.summary["missing"] == 0
    assert v.claims["manifest_refs"] == ["M-1", "M-1"]


def test_a_container_of_the_line_not_read_refers_as_missing(state: SitePlates) -> None:
    v = decide.containers(state, container(), codes(("MSKU1234565", 0.95)), 2)
    assert v.reason == "container_missing" and v.summary["missing"] == 1


def test_a_container_of_another_manifest_line_refers(state: SitePlates) -> None:
    v = decide.containers(state, container(), codes(("TGHU1234567", 0.95)), 2)
    assert v.reason == "no_manifest_match"


def test_without_the_plates_line_any_manifest_container_passes(state: SitePlates) -> None:
    assert decide.containers(state, container(), codes(("TGHU1234567", 0.95)), None).reason == "manifest_match"
    assert decide.containers(state, container(), codes(("ZEPU0037255", 0.95)), None).reason == "no_manifest_match"


def test_no_container_on_a_line_that_lists_none_passes_and_elsewhere_refers(state: SitePlates) -> None:
    assert decide.containers(state, container(), [], 3).reason == "manifest_match"  # M-2: no containers
    assert decide.containers(state, container(), [], 2).reason == "no_read"
    assert decide.containers(state, container(), [], None).reason == "no_read"


def test_a_container_code_with_a_wrong_check_digit_is_never_sure(state: SitePlates) -> None:
    v = decide.containers(state, container(), codes(("MSKU1234566", 0.99), ("MSKU1234566", 0.99)), None)
    assert v.reason == "invalid_format"


def _evidence(kind: str, reason: str) -> Evidence:
    return Evidence("x", kind, None, 0.9, reason)


@pytest.mark.parametrize(("reason", "outcome"), [
    ("manifest_match", Outcome.PASS), ("read", Outcome.PASS), ("watchlist_deny", Outcome.DENY),
    ("watchlist_refer", Outcome.REFER), ("no_manifest_match", Outcome.REFER), ("manifest_near", Outcome.REFER),
    ("manifest_ambiguous", Outcome.REFER), ("low_confidence", Outcome.REFER), ("no_read", Outcome.REFER),
    ("container_missing", Outcome.REFER), ("invalid_format", Outcome.REFER), ("no_camera", Outcome.REFER),
])
def test_the_plugin_votes_each_reason_of_both_kinds_and_no_other_kind(reason: str, outcome: Outcome) -> None:
    votes = gate_plate.gatecore_vote({"plate": _evidence("plate.vehicle", reason),
                                      "container": _evidence("plate.container", reason),
                                      "face": _evidence("face.match", "match")})
    assert [(v.source, v.outcome, v.reason) for v in votes] == [("plate", outcome, reason),
                                                                ("container", outcome, reason)]
