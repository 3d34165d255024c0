"""Cargo identifiers shared by plugins that must agree on them (plate readers, the partner-gate link,
manifests): one plate normalisation and the ISO 6346 container-code check digit."""

from __future__ import annotations

import re
import unicodedata

# separators printed on plates or typed by people: dash, dots, middle dots, spaces, slashes, row breaks
_SEPARATORS = re.compile(r"[\s\-._·•・/|]+")
# ISO 6346 letter values: 10 upwards, skipping the multiples of 11
_LETTER_VALUES = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", (v for v in range(10, 39) if v % 11), strict=True))
CONTAINER_CODE = re.compile(r"[A-Z]{3}[UJZ]\d{7}")


def normalise_plate(text: str) -> str:
    """A plate as compared everywhere: full-width forms folded (NFKC), upper case, separators and row breaks
    removed, Han characters kept. ``"51G-123.45"`` -> ``"51G12345"``; ``"29C1\\n234.56"`` -> ``"29C123456"``;
    ``"粤B·12345"`` -> ``"粤B12345"``."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).upper())


def container_check_digit(code: str) -> int:
    """The ISO 6346 check digit of the first ten characters (owner code, category, serial) of ``code``;
    raises ``ValueError`` if those are not three letters, a category letter and six digits."""
    head = normalise_plate(code)[:10]
    if not re.fullmatch(r"[A-Z]{4}\d{6}", head):
        raise ValueError("a container code starts with four letters and six digits")
    total = sum((_LETTER_VALUES[c] if c.isalpha() else int(c)) << i for i, c in enumerate(head))
    return total % 11 % 10


def valid_container_code(code: str) -> bool:
    """``code`` (separators allowed) is an ISO 6346 freight container code (category U, J or Z) whose check
    digit is right."""
    code = normalise_plate(code)
    return bool(CONTAINER_CODE.fullmatch(code)) and container_check_digit(code) == int(code[10])
