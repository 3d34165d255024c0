"""Plate and container-code format rules (gate_plate.formats): tables for Vietnam and China, normalisation
through gatecore.api.normalise_plate, and agreement with the generator the models are trained on."""

from __future__ import annotations

import numpy as np
import pytest

from gate_plate import formats
from gatecore.api import normalise_plate
from tools.plates import texts

# (printed text, country, series, layouts it may be printed in)
VALID_VN = [
    ("51G-123.45", "VN", "vehicle", ("one_row", "two_row")),      # five-digit number, one row
    ("51G\n123.45", "VN", "vehicle", ("one_row", "two_row")),     # the same on two rows
    ("30A-1234", "VN", "vehicle", ("one_row", "two_row")),        # older four-digit number
    ("29C1\n234.56", "VN", "motorcycle", ("two_row",)),           # letter and digit series: two rows only
    ("29-C1 2345", "VN", "vehicle", ("one_row", "two_row")),      # ambiguous with a car's 5-digit number
    ("29AB\n123.45", "VN", "motorcycle", ("two_row",)),           # two-letter series since 2023
    ("15R-012.34", "VN", "trailer", ("one_row", "two_row")),      # R: trailers and semi-trailers
    ("51LD-123.45", "VN", "foreign_invested", ("one_row", "two_row")),
    ("29TĐ-123.45", "VN", "pilot", ("one_row", "two_row")),
    ("80NG-011.01", "VN", "diplomatic", ("one_row", "two_row")),  # nationality 011, order 01
    ("80-011-NG-01", "VN", "diplomatic", ("one_row", "two_row")),  # the older grouping
    ("41QT-123.45", "VN", "international_org", ("one_row", "two_row")),
    ("29NN-123.456", "VN", "foreign", ("one_row", "two_row")),
    ("80CV-123.45", "VN", "mission_staff", ("one_row", "two_row")),
    ("T51-123.45", "VN", "transit", ("one_row", "two_row")),      # temporary registration
    ("39A-123.45", "VN", "vehicle", ("one_row", "two_row")),      # 39: Dong Nai
    ("99A-999.99", "VN", "vehicle", ("one_row", "two_row")),
    ("11A-000.01", "VN", "vehicle", ("one_row", "two_row")),
]
VALID_CN = [
    ("粤B·12345", "CN", "blue_or_yellow", ("one_row", "two_row")),
    ("京A·8HJ27", "CN", "blue_or_yellow", ("one_row", "two_row")),
    ("桂A\n12345", "CN", "blue_or_yellow", ("one_row", "two_row")),    # yellow, two rows
    ("粤B·1234挂", "CN", "trailer", ("two_row", "one_row")),
    ("粤B·D12345", "CN", "green_small", ("one_row",)),                 # D first: battery electric
    ("粤B·FA1234", "CN", "green_small", ("one_row",)),                 # F, then a letter
    ("粤B·12345D", "CN", "green_large", ("one_row",)),                 # D last: large vehicle
    ("沪A·12345F", "CN", "green_large", ("one_row",)),
    ("使014·578", "CN", "embassy", ("one_row",)),
    ("沪A·1234领", "CN", "consulate", ("one_row",)),
    ("粤Z·1234港", "CN", "hong_kong", ("one_row",)),
    ("粤Z·1234澳", "CN", "macau", ("one_row",)),
    ("苏E·1234学", "CN", "learner", ("one_row",)),
    ("京A·1234警", "CN", "police", ("one_row",)),
    ("琼A·12345", "CN", "blue_or_yellow", ("one_row", "two_row")),
]
VALID_CODES = [
    ("CSQU 305438 3", "freight"), ("MSKU1234565", "freight"), ("ZEPU 003725 5", "freight"),
    ("TGHU1234567", "freight"), ("CSQJ3054386", "equipment"),
]


@pytest.mark.parametrize(("text", "country", "series", "layouts"), VALID_VN + VALID_CN, ids=lambda v: str(v))
def test_a_valid_plate_is_classified_with_its_country_series_and_layouts(
    text: str, country: str, series: str, layouts: tuple[str, ...],
) -> None:
    fmt = formats.classify(text)
    assert fmt is not None, formats.validate(text)
    assert (fmt.kind, fmt.country, fmt.series, fmt.layouts) == ("plate", country, series, layouts)
    assert formats.validate(text, country, layouts[0], "plate") is None


@pytest.mark.parametrize(("text", "series"), VALID_CODES)
def test_a_container_code_with_its_check_digit_is_valid_in_both_layouts(text: str, series: str) -> None:
    fmt = formats.classify(text)
    assert fmt is not None and (fmt.kind, fmt.country, fmt.series) == ("container", "", series)
    assert formats.validate(text, layout="vertical", kind="container") is None


INVALID = [  # (text, a fragment of the reason)
    ("13A-123.45", "province code 13 is not issued"),
    ("42A-123.45", "province code 42 is not issued"),
    ("96C-123.45", "province code 96 is not issued"),
    ("10A-123.45", "province code 10 is not issued"),
    ("51O-123.45", "series letter O is not used"),
    ("51I-123.45", "series letter I is not used"),
    ("51W-123.45", "series letter W is not used"),
    ("29CR-123.45", "series letter R is not used"),       # R only alone
    ("29AB-1234", "two-letter series (AB) has a 5-digit number"),
    ("51G-123", "a 4- or 5-digit number"),
    ("51G-12", "a 4- or 5-digit number"),
    ("51G-1234567", "a 4- or 5-digit number"),
    ("51-123.45", "a 4- or 5-digit number"),
    ("80NG-011.012", "3-digit nationality and a 2-digit order"),
    ("T13-123.45", "province code 13 is not issued"),
    ("粤I·12345", "authority's letter"),
    ("粤O·12345", "authority's letter"),
    ("粤B·1O345", "O cannot be in a Chinese serial"),
    ("粤B·1234", "5 characters"),
    ("粤B·1234567", "5 characters"),
    ("粤B·1D2345", "D or F first"),                           # D in neither position of a green plate
    ("粤B·DA12X4", "D or F first"),
    ("粤B·123D45", "D or F first"),
    ("粤B·12挂", "4 letters or digits before 挂"),
    ("使01457", "使 and 6 digits"),
    ("港A·12345", "not one of the 31 province abbreviations"),
    ("CSQU3054384", "check digit 4 is wrong: ISO 6346 gives 3"),
    ("CSQX3054383", "the category U, J or Z"),
    ("CSQU305438", "the category U, J or Z and 7 digits"),
    ("", "empty"),
    ("-. ", "empty"),
    ("ABC", "neither a Vietnamese plate"),
]


@pytest.mark.parametrize(("text", "fragment"), INVALID, ids=[t for t, _ in INVALID])
def test_an_invalid_text_is_refused_with_the_rule_it_breaks(text: str, fragment: str) -> None:
    reason = formats.validate(text)
    assert reason is not None and fragment in reason, reason
    assert formats.classify(text) is None


@pytest.mark.parametrize(("text", "country", "layout", "kind", "fragment"), [
    ("29C1\n234.56", None, "one_row", None, "motorcycle plate is not printed one row"),
    ("粤B·D12345", None, "two_row", None, "green small plate is not printed two row"),
    ("51G-123.45", "CN", None, None, "a VN format, not CN"),
    ("MSKU1234565", None, None, "plate", "not a plate"),
    ("51G-123.45", None, None, "container", "not a container code"),
])
def test_a_valid_text_of_another_country_layout_or_kind_than_asked_is_refused(
    text: str, country: str | None, layout: str | None, kind: str | None, fragment: str,
) -> None:
    reason = formats.validate(text, country, layout, kind)
    assert reason is not None and fragment in reason, reason


@pytest.mark.parametrize(("printed", "normalised"), [
    ("51G-123.45", "51G12345"), ("29C1\n234.56", "29C123456"), ("29-C1 234.56", "29C123456"),
    ("粤B·12345", "粤B12345"), ("粤B・D12345", "粤BD12345"),
    ("\uff4d\uff53\uff4b\uff55 \uff11\uff12\uff13\uff14\uff15\uff16 \uff15", "MSKU1234565"),  # full width
    ("80-011-NG-01", "80011NG01"), ("t51/123.45", "T5112345"),
])
def test_texts_are_validated_as_the_shared_normalisation_gives_them(printed: str, normalised: str) -> None:
    assert normalise_plate(printed) == normalised
    assert formats.validate(printed) is None and formats.classify(printed) == formats.classify(normalised)


def test_every_province_code_issued_is_valid_and_every_other_refused() -> None:
    """11-99 as issued (13, 42, 44-46, 87, 91, 96 are not), for cars and for transit plates."""
    not_issued = {13, 42, 44, 45, 46, 87, 91, 96}
    for n in range(100):
        ok = 11 <= n <= 99 and n not in not_issued
        assert (formats.validate(f"{n:02d}C-123.45") is None) == ok, n
        assert (formats.validate(f"T{n:02d}-123.45") is None) == ok, n


def test_every_series_letter_and_no_other_is_valid_on_a_vietnamese_plate() -> None:
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        assert (formats.validate(f"51{letter}-123.45") is None) == (letter not in "IJOQW"), letter


def test_every_province_abbreviation_and_no_other_character_starts_a_chinese_plate() -> None:
    assert len(formats.CN_PROVINCES) == 31
    for han in formats.CN_PROVINCES:
        assert formats.validate(f"{han}A12345") is None
    for han in "港澳台北中使领挂":
        assert formats.validate(f"{han}A12345") is not None


def test_every_text_the_training_generator_makes_is_valid_with_its_country_and_layout() -> None:
    """The models learn from tools.plates.texts: each of its texts follows these rules, in its own layout."""
    rng = np.random.default_rng(12)
    for _ in range(3000):
        sample = texts.random_text(rng)
        country = sample.country if sample.kind == "plate" else ""
        assert formats.validate(sample.text, country, sample.layout, sample.kind) is None, sample
