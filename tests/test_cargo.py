"""The cargo identifiers every plugin shares: plate normalisation and ISO 6346 check digits."""

import pytest

from gatecore.api import container_check_digit, normalise_plate, valid_container_code


@pytest.mark.parametrize(
    ("printed", "normal"),
    [
        ("51G-123.45", "51G12345"),
        ("29C1\n234.56", "29C123456"),
        ("29c1 / 234.56", "29C123456"),
        ("粤B·12345", "粤B12345"),
        ("桂A 1234挂", "桂A1234挂"),
        ("\uff2e\uff27\uff0d\uff11\uff12\uff13", "NG123"),  # full-width forms, as some keyboards type them
        ("", ""),
    ],
)
def test_a_plate_normalises_to_its_characters_without_separators(printed: str, normal: str) -> None:
    assert normalise_plate(printed) == normal


@pytest.mark.parametrize(
    ("code", "digit"),
    [("CSQU305438", 3), ("ZEPU003725", 5), ("MSKU123456", 5)],  # published examples
)
def test_the_iso6346_check_digit(code: str, digit: int) -> None:
    assert container_check_digit(code) == digit


def test_a_check_digit_of_ten_is_written_zero() -> None:
    # a head whose weighted sum leaves 10 modulo 11, found by an independent computation below
    ten = next(f"ABCU{n:06d}" for n in range(10**6) if _remainder(f"ABCU{n:06d}") == 10)
    assert container_check_digit(ten) == 0


def _remainder(head: str) -> int:
    values = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", [v for v in range(10, 39) if v % 11], strict=True))
    return sum((values[c] if c.isalpha() else int(c)) * 2**i for i, c in enumerate(head)) % 11


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("CSQU3054383", True),
        ("CSQU 305438 3", True),
        ("CSQU3054384", False),  # wrong check digit
        ("CSQX3054383", False),  # category must be U, J or Z
        ("CSQU305438", False),  # no check digit
        ("CS1U3054383", False),
    ],
)
def test_a_container_code_is_valid_only_with_its_check_digit(code: str, valid: bool) -> None:
    assert valid_container_code(code) is valid


def test_a_malformed_head_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="four letters and six digits"):
        container_check_digit("12345")
