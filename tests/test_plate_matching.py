"""Manifest and watchlist matching (gate_plate.distance, gate_plate.lists): the weighted edit distance with
confusable characters, the pattern syntax, list files read with their problems located, and the rapidfuzz
prefilter that never loses an entry the weighted distance would match.

Property runs: 200 examples by default, ``GATECORE_PROPERTY_EXAMPLES=N`` for more."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate_plate import distance, lists
from gate_plate.distance import Costs, PatternError, parse

EXAMPLES = int(os.environ.get("GATECORE_PROPERTY_EXAMPLES", "200"))
COSTS = Costs()


@pytest.mark.parametrize(("entry", "text", "expected"), [
    ("51G-123.45", "51G12345", 0.0),    # normalised before comparing
    ("51G-123.45", "51G1Z345", 0.3),    # 2/Z is confusable
    ("51G-123.45", "51G12E45", 1.0),    # 3/E is not
    ("51G-123.45", "5IG12345", 0.2),    # 1/I
    ("51G-123.45", "51G1234", 1.0),     # a character lost
    ("51G-123.45", "51G123456", 1.0),   # one too many
    ("29C1 234.56", "29C1Z3456", 0.3),
    ("51D-0O0.01", "51D00001", 0.2),    # O read for 0 in the serial
    ("51D-123.45", "51012345", 0.3),    # D/0
    ("29TĐ-123.45", "29TD12345", 0.1),  # the Vietnamese Đ read without its bar
    ("粤B·12345", "粤B12345", 0.0),
    ("粤B·12345", "桂B12345", 1.0),      # another province
    ("CSQU3054383", "CSQU3O54383", 0.2),
])
def test_the_distance_of_a_read_to_a_literal_entry_costs_confusable_characters_less(
    entry: str, text: str, expected: float,
) -> None:
    assert parse(entry).distance(text, COSTS) == pytest.approx(expected)


@pytest.mark.parametrize(("entry", "text", "expected"), [
    ("51G*", "51G12345", 0.0), ("51G*", "51G", 0.0), ("51G*", "51C12345", 1.0), ("51G*", "5IG99", 0.2),
    ("*345", "51G12345", 0.0), ("51?12345", "51G12345", 0.0), ("51?12345", "5112345", 1.0),
    ("29C[1-3]*", "29C234567", 0.0), ("29C[1-3]*", "29C423456", 1.0), ("29C[1-3]*", "29CI23456", 0.2),
    ("粤B*", "粤B12345", 0.0), ("粤[AB]12345", "粤B12345", 0.0), ("51G-1*5", "51G12345", 0.0),
])
def test_a_glob_entry_matches_runs_single_characters_and_classes_within_the_distance(
    entry: str, text: str, expected: float,
) -> None:
    pattern = parse(entry)
    assert pattern.kind == "glob" and pattern.distance(text, COSTS) == pytest.approx(expected)


def test_a_regular_expression_entry_matches_the_whole_normalised_text_exactly() -> None:
    pattern = parse(r"re:51[A-Z]\d{5}")
    assert pattern.distance("51G12345", COSTS) == 0
    assert pattern.distance("51G1234", COSTS) == math.inf
    assert pattern.distance("X51G12345", COSTS) == math.inf  # the whole text, not a part


@pytest.mark.parametrize(("entry", "fragment"), [
    ("*", "would match every plate"), ("**", "would match every plate"), ("51G[12", "'[' without ']'"),
    ("51G[]", "an empty [...]"), ("51G[9-0]", "runs backwards"), ("re:51G(", "no regular expression"),
    ("re:.*", "matches an empty text"), ("-.", "an empty entry"),
])
def test_an_entry_that_is_no_literal_glob_or_expression_is_refused(entry: str, fragment: str) -> None:
    with pytest.raises(PatternError, match=fragment.replace("[", r"\[").replace("(", r"\(").replace(".", r"\.")):
        parse(entry)


def test_a_confusable_pair_must_be_two_different_characters_costing_from_0_to_1() -> None:
    for pairs in ({"0": 0.2}, {"00": 0.2}, {"0O": 1.5}, {"0O": -0.1}):
        with pytest.raises(ValueError):
            Costs(pairs)
    assert Costs({"0O": 0.0}).sub("O", "0") == 0.0 and Costs({}).sub("O", "0") == 1.0


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_csv_list_gives_plate_and_container_entries_of_one_line_the_same_group(tmp_path: Path) -> None:
    csv = _write(tmp_path / "m.csv", "# pre-arrival manifest\nplate,container,ref\n"
                 "51G-123.45,MSKU1234565;CSQU3054383,M-1\n\n29C1 234.56,,M-2\n,TGHU1234567,M-3\n")
    manifest = lists.load(csv, COSTS)
    assert [(e.kind, e.pattern.text, e.ref, e.line) for e in manifest.entries] == [
        ("plate", "51G12345", "M-1", 3), ("container", "MSKU1234565", "M-1", 3),
        ("container", "CSQU3054383", "M-1", 3), ("plate", "29C123456", "M-2", 5),
        ("container", "TGHU1234567", "M-3", 6)]
    assert [e.pattern.text for e in manifest.containers_of(3)] == ["MSKU1234565", "CSQU3054383"]


def test_a_json_lines_list_takes_texts_lists_and_patterns(tmp_path: Path) -> None:
    rows = [{"plate": "30A*", "ref": "case-1"}, {"plate": "粤B·12345", "container": ["MSKU1234565"], "ref": 7},
            {"container": "re:MSKU\\d{7}"}]
    wl = lists.load(_write(tmp_path / "w.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)), COSTS)
    assert [(e.kind, e.pattern.kind, e.ref) for e in wl.entries] == [
        ("plate", "glob", "case-1"), ("plate", "literal", "7"), ("container", "literal", "7"),
        ("container", "regex", "")]


@pytest.mark.parametrize(("name", "text", "fragment"), [
    ("m.csv", "plate,ref\n51G-123.45,a\n13A-123.45,b\n", "m.csv:3: plate '13A-123.45': province code 13"),
    ("m.csv", "plate,container\n,CSQU3054384\n", "m.csv:2: container 'CSQU3054384': check digit 4 is wrong"),
    ("m.csv", "plate,vin\n51G-123.45,x\n", "m.csv:1: columns are plate, container, ref"),
    ("m.csv", "plate\n51G-123.45,extra\n", "m.csv:2: 2 values for 1 columns"),
    ("m.csv", "plate,ref\n,r\n", "m.csv:2: an entry needs a plate or a container"),
    ("m.csv", "plate\n51G[1\n", "m.csv:2: '51G[1': '[' without ']'"),
    ("w.jsonl", '{"plate": "51G-123.45"}\n{"plate": 5}\n', "w.jsonl:2: plate and container are texts"),
    ("w.jsonl", '{"plate": "51G-123.45"}\n\n{"plat": "x"}\n', "w.jsonl:3: unknown key 'plat'"),
    ("w.jsonl", '["51G-123.45"]\n', "w.jsonl:1: a JSON object per line"),
    ("w.jsonl", '{"plate": "51G-123.45"\n', "w.jsonl:1: not JSON"),
])
def test_a_list_with_a_bad_entry_is_refused_naming_its_file_and_line(
    tmp_path: Path, name: str, text: str, fragment: str,
) -> None:
    with pytest.raises(lists.ListError) as err:
        lists.load(_write(tmp_path / name, text), COSTS)
    assert fragment in str(err.value).replace(str(tmp_path) + "/", ""), str(err.value)


def test_a_list_that_cannot_be_read_or_is_not_utf8_is_refused(tmp_path: Path) -> None:
    with pytest.raises(lists.ListError, match="cannot read"):
        lists.load(tmp_path / "none.csv", COSTS)
    (tmp_path / "latin1.csv").write_bytes("plate\n51G-123.45 é\n".encode("latin-1"))
    with pytest.raises(lists.ListError, match="not UTF-8"):
        lists.load(tmp_path / "latin1.csv", COSTS)


def test_check_formats_false_takes_entries_of_no_known_format(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.csv", "plate\nABC-1234\n")
    with pytest.raises(lists.ListError):
        lists.load(path, COSTS)
    assert lists.load(path, COSTS, check_formats=False).entries[0].pattern.text == "ABC1234"


def test_a_list_reports_its_first_problems_and_how_many_more(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.csv", "plate\n" + "13A-123.45\n" * 25)
    with pytest.raises(lists.ListError) as err:
        lists.load(path, COSTS)
    assert len(err.value.problems) == lists.MAX_PROBLEMS and str(err.value).endswith("and 5 more")


def test_matching_finds_the_entries_within_the_distance_nearest_first(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.csv", "plate,ref\n51G-123.45,a\n51G-123.46,b\n51G*,c\n30A-999.99,d\n")
    manifest = lists.load(path, COSTS)
    hits = manifest.match("51G12345", "plate", 1.0)
    assert [(h.entry.ref, h.distance, h.how) for h in hits] == [("a", 0.0, "exact"), ("c", 0.0, "pattern"),
                                                                 ("b", 1.0, "fuzzy")]
    assert [h.entry.ref for h in manifest.match("51G1Z345", "plate", 0.5)] == ["c", "a"]
    assert manifest.match("51G12345", "container", 1.0) == []
    assert [h.entry.ref for h in manifest.match("29C12345", "plate", 1.0)] == []


ALPHABET = "0123456789ABDEGHOSZI8粤B"
TEXT = st.text(ALPHABET, min_size=1, max_size=9)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=30), TEXT, st.sampled_from([0.0, 0.2, 0.5, 1.0, 1.5, 2.0]))
def test_the_prefilter_loses_no_entry_the_weighted_distance_matches(entries: list[str], query: str,
                                                                      limit: float) -> None:
    """PlateList.match (rapidfuzz on folded texts, then the weighted distance) equals measuring every entry."""
    plate_list = lists.PlateList("x", tuple(lists.Entry(parse(e), "plate", str(i), i + 1)
                                            for i, e in enumerate(entries)), COSTS)
    found = {(h.entry.line, round(h.distance, 9)) for h in plate_list.match(query, "plate", limit)}
    brute = {(e.line, round(d, 9)) for e in plate_list.entries
             if (d := distance.distance(e.pattern.tokens, query, COSTS)) <= limit}
    assert found == brute


@settings(max_examples=EXAMPLES, deadline=None)
@given(TEXT, TEXT)
def test_the_weighted_distance_is_symmetric_and_zero_only_for_equal_texts(a: str, b: str) -> None:
    d = distance.distance(tuple(a), b, COSTS)
    assert d == pytest.approx(distance.distance(tuple(b), a, COSTS))
    assert (d == 0) == (a == b) or COSTS.sub(a, b) == 0
    assert len(COSTS.fold(a)) == len(a) and d >= abs(len(a) - len(b))
