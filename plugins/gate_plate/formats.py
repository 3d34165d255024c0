"""Format rules of the plates and codes a Bac Luan II lane sees: Vietnamese and Chinese plates, ISO 6346
container codes.

Every text is first normalised with :func:`gatecore.api.normalise_plate` (the one normalisation the partner
link shares): ``"51G-123.45"`` -> ``"51G12345"``, ``"29C1\\n234.56"`` -> ``"29C123456"``. :func:`classify`
says what a text is (a :class:`Format`: kind, country, series, the layouts and colours it is issued in);
:func:`validate` says why it is not a valid plate or code (``None`` when it is).

Vietnam (Circular 24/2023/TT-BCA, before it 58/2020): two digits of the province (11-99 as issued: 13, 42,
44-46, 87, 91 and 96 are not), the series and the number, 4 digits (older plates) or 5 (``123.45``).

- series of one letter from A-H, K-N, P, S-V, X-Z (I, J, O, Q and W are never used; R is the trailer and
  semi-trailer series): cars and trucks, one row (520 x 110 mm) or two (330 x 165 mm, ``51G`` over ``123.45``);
- a letter and a digit (``29C1`` over ``234.56``), or two letters since 2023 (``29AB`` over ``123.45``):
  motorcycle series, always two rows;
- special two-letter series: LD (foreign-invested enterprises), DA (foreign-funded projects), KT (army
  enterprises in business), HC (restricted-range vehicles), TĐ (domestic pilot vehicles), MK (tractors),
  MĐ (electric motorcycles);
- NG (diplomatic missions), QT (international organisations), CV (their technical staff) and NN (other
  foreign bodies and residents), red on white, then nationality (3 digits) and order (2): ``80NG-011.01``
  (and the older grouping ``80-011-NG-01``); 80 is the central registry;
- ``T`` before the province: temporary registration (vehicles in transit to their registration).

Colours do not show in the text; what they mean is :data:`VN_COLOURS`. Military plates (red, unit letters
instead of a province) and economic-zone plates are not formats of this module: they do not validate.

China (GA 36-2018): the province abbreviation (:data:`CN_PROVINCES`, 31), the registering authority's letter
and the serial; letters are never I or O.

- 5 characters: blue (small vehicles) or yellow (large vehicles; the rear plate on two rows, ``粤B`` over
  ``12345``);
- 4 characters then 挂 (trailer, yellow, two rows), 学 (learner, yellow), 警 (police, white), 领 (consulate,
  black), 港/澳 (Hong Kong / Macau vehicles registered in Guangdong, black);
- 6 characters, green new-energy: small vehicles have D (battery electric) or F (other new energy) first,
  then a letter or digit and four digits (``粤BD12345``); large vehicles five digits then D or F
  (``粤B12345D``); one row;
- ``使`` then six digits: embassies (black, one row).

Containers (ISO 6346): owner code (3 letters), category U, J or Z, 6 digits and the check digit
(:func:`gatecore.api.valid_container_code`), written on one line or one character a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gatecore.api import container_check_digit, normalise_plate, valid_container_code

ONE_ROW, TWO_ROW = "one_row", "two_row"
HORIZONTAL, VERTICAL = "horizontal", "vertical"
PLATE_LAYOUTS = (ONE_ROW, TWO_ROW)
CODE_LAYOUTS = (HORIZONTAL, VERTICAL)

#: Vietnamese province codes as issued (80: the central registry of the traffic police department)
VN_PROVINCES = frozenset(
    f"{n:02d}" for n in (11, 12, *range(14, 42), 43, *range(47, 87), 88, 89, 90, 92, 93, 94, 95, 97, 98, 99))
#: the series letters of Vietnamese civil plates (no I, J, O, Q, W; R is for trailers)
VN_LETTERS = frozenset("ABCDEFGHKLMNPSTUVXYZ")
#: two-letter Vietnamese series with a meaning of their own
VN_SPECIAL = {"LD": "foreign_invested", "DA": "foreign_project", "KT": "army_enterprise", "HC": "restricted",
              "TĐ": "pilot", "MK": "tractor", "MĐ": "electric_motorcycle"}
VN_FOREIGN = {"NG": "diplomatic", "QT": "international_org", "CV": "mission_staff", "NN": "foreign"}
VN_COLOURS = {
    "white": "black on white: vehicles of people and bodies not in the transport business",
    "yellow": "black on yellow: vehicles in the transport business (since 1 August 2020)",
    "blue": "white on blue: Party and State bodies, public service units",
    "red": "white on red: military (not a format of this module)",
    "white_red": "black on white, series in red: NG, QT (diplomatic, international organisations)",
}

#: the 31 province abbreviations of Chinese plates
CN_PROVINCES = frozenset("京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼")
CN_LETTERS = frozenset("ABCDEFGHJKLMNPQRSTUVWXYZ")  # no I, O
CN_ALNUM = CN_LETTERS | frozenset("0123456789")
#: the last character of a four-character Chinese serial: what the vehicle is, the colour, the layouts
CN_SUFFIX = {"挂": ("trailer", ("yellow",), (TWO_ROW, ONE_ROW)), "学": ("learner", ("yellow",), (ONE_ROW,)),
             "警": ("police", ("white",), (ONE_ROW,)), "领": ("consulate", ("black",), (ONE_ROW,)),
             "港": ("hong_kong", ("black",), (ONE_ROW,)), "澳": ("macau", ("black",), (ONE_ROW,))}
CN_COLOURS = {
    "blue": "white on blue: small vehicles",
    "yellow": "black on yellow: large vehicles, trailers, learners (two rows on the rear of large vehicles)",
    "green": "black on green: new-energy vehicles (gradient green small, yellow-green large)",
    "black": "white on black: embassies, consulates, Hong Kong and Macau vehicles",
    "white": "black or red on white: police",
}


@dataclass(frozen=True)
class Format:
    """What a normalised text is: ``kind`` ``"plate"`` or ``"container"``, ``country`` ``"VN"``/``"CN"``
    (``""`` for a container code), ``series`` (``"vehicle"``, ``"trailer"``, ``"green_small"``...), the
    layouts it is printed in and the plate colours it is issued in."""

    kind: str
    country: str
    series: str
    layouts: tuple[str, ...]
    colours: tuple[str, ...] = ()


class Invalid(ValueError):
    """Why a text is not a valid plate or code (the message says, naming the rule)."""


def classify(text: str) -> Format | None:
    """What ``text`` is (normalised first), or ``None`` when it is no valid plate or code."""
    try:
        return check(text)
    except Invalid:
        return None


def validate(text: str, country: str | None = None, layout: str | None = None, kind: str | None = None) -> str | None:
    """Why ``text`` is not a valid plate or code - of ``country`` and printed in ``layout`` and of ``kind``
    when they are given - or ``None`` when it is."""
    try:
        fmt = check(text)
    except Invalid as exc:
        return str(exc)
    if kind and fmt.kind != kind:
        return f"a {fmt.kind} code, not a {kind}" if fmt.kind == "container" else f"a plate, not a {kind} code"
    if country is not None and fmt.country != country:
        return f"a {fmt.country or 'container'} format, not {country or 'a container code'}"
    if layout and layout not in fmt.layouts:
        return f"a {fmt.country} {fmt.series.replace('_', ' ')} plate is not printed {layout.replace('_', ' ')}" \
            if fmt.kind == "plate" else f"a container code is not written {layout}"
    return None


def check(text: str) -> Format:
    """The format of ``text`` (normalised first); :class:`Invalid` says why it has none."""
    norm = normalise_plate(text)
    if not norm:
        raise Invalid("empty")
    first = norm[0]
    if re.match(r"[A-Z]{4}", norm):
        return _container(norm)
    if first.isdigit() or (first == "T" and norm[1:3].isdigit()):
        return _vietnam(norm)
    if first in CN_PROVINCES or first == "使" or not first.isascii():
        return _china(norm)
    raise Invalid("neither a Vietnamese plate (digits first), a Chinese plate (a province character first) "
                  "nor a container code (4 letters, 7 digits)")


# -- containers -----------------------------------------------------------------------------------------

def _container(code: str) -> Format:
    if not re.fullmatch(r"[A-Z]{3}[UJZ]\d{7}", code):
        raise Invalid("a container code is 3 letters of the owner, the category U, J or Z and 7 digits")
    if not valid_container_code(code):
        raise Invalid(f"check digit {code[10]} is wrong: ISO 6346 gives {container_check_digit(code)}")
    return Format("container", "", {"U": "freight", "J": "equipment", "Z": "chassis"}[code[3]], CODE_LAYOUTS)


# -- Vietnam --------------------------------------------------------------------------------------------

_VN_FOREIGN_NEW = re.compile(r"(\d\d)(NG|QT|CV|NN)(\d{5,6})")
_VN_FOREIGN_OLD = re.compile(r"(\d\d)(\d{3})(NG|QT|CV|NN)(\d{2,3})")
_VN_TRANSIT = re.compile(r"T(\d\d)(\d{4,5})")
_VN_PLAIN = re.compile(r"(\d\d)([A-ZĐ]{1,2})(\d{4,5})")
_VN_DIGIT_SERIES = re.compile(r"(\d\d)([A-ZĐ])(\d)(\d{4,5})")


def _vn_province(code: str) -> None:
    if code not in VN_PROVINCES:
        raise Invalid(f"province code {code} is not issued (11-99 without 13, 42, 44-46, 87, 91, 96)")


def _vietnam(text: str) -> Format:
    if m := _VN_FOREIGN_NEW.fullmatch(text) or _VN_FOREIGN_OLD.fullmatch(text):
        _vn_province(m.group(1))
        series = next(g for g in m.groups() if g in VN_FOREIGN)
        if series != "NN" and len(text) != 9:
            raise Invalid(f"a {series} plate has a 3-digit nationality and a 2-digit order")
        colours = ("white_red",) if series in ("NG", "QT") else ("white",)
        return Format("plate", "VN", VN_FOREIGN[series], PLATE_LAYOUTS, colours)
    if m := _VN_TRANSIT.fullmatch(text):
        _vn_province(m.group(1))
        return Format("plate", "VN", "transit", PLATE_LAYOUTS, ("white",))
    if m := _VN_PLAIN.fullmatch(text):
        _vn_province(m.group(1))
        return _vn_series(m.group(2), len(m.group(3)))
    if m := _VN_DIGIT_SERIES.fullmatch(text):
        _vn_province(m.group(1))
        _vn_letters(m.group(2))
        return Format("plate", "VN", "motorcycle", (TWO_ROW,), ("white", "blue"))
    raise Invalid("a Vietnamese plate is the province (2 digits), the series (letters, or a letter and a digit) "
                  "and a 4- or 5-digit number")


def _vn_letters(series: str) -> None:
    bad = [c for c in series if c not in VN_LETTERS]
    if bad:
        raise Invalid(f"series letter {bad[0]} is not used on Vietnamese plates (I, J, O, Q and W never are; "
                      "R only alone, for trailers)")


def _vn_series(series: str, digits: int) -> Format:
    if series == "R":
        return Format("plate", "VN", "trailer", PLATE_LAYOUTS, ("white", "yellow", "blue"))
    if series in VN_SPECIAL:
        return Format("plate", "VN", VN_SPECIAL[series], PLATE_LAYOUTS, ("white", "yellow"))
    _vn_letters(series)
    if len(series) == 1:
        return Format("plate", "VN", "vehicle", PLATE_LAYOUTS, ("white", "yellow", "blue"))
    if digits != 5:
        raise Invalid(f"a two-letter series ({series}) has a 5-digit number")
    return Format("plate", "VN", "motorcycle", (TWO_ROW,), ("white", "blue"))


# -- China ----------------------------------------------------------------------------------------------

def _china(text: str) -> Format:
    if text[0] == "使":
        if not re.fullmatch(r"使\d{6}", text):
            raise Invalid("an embassy plate is 使 and 6 digits")
        return Format("plate", "CN", "embassy", (ONE_ROW,), ("black",))
    if text[0] not in CN_PROVINCES:
        raise Invalid(f"{text[0]} is not one of the 31 province abbreviations")
    if len(text) < 2 or text[1] not in CN_LETTERS:
        raise Invalid("a Chinese plate has the registering authority's letter (A-Z, not I or O) after the province")
    serial = text[2:]
    if serial and serial[-1] in CN_SUFFIX:
        return _cn_suffixed(serial)
    bad = [c for c in serial if c not in CN_ALNUM]
    if bad:
        raise Invalid(f"{bad[0]} cannot be in a Chinese serial (letters but I and O, digits)")
    if len(serial) == 5:
        return Format("plate", "CN", "blue_or_yellow", PLATE_LAYOUTS, ("blue", "yellow"))
    if len(serial) == 6:
        return _cn_new_energy(serial)
    raise Invalid("a Chinese serial has 5 characters (6 on green new-energy plates, 4 before 挂/学/警/领/港/澳)")


def _cn_suffixed(serial: str) -> Format:
    name, colours, layouts = CN_SUFFIX[serial[-1]]
    head = serial[:-1]
    if len(head) != 4 or any(c not in CN_ALNUM for c in head):
        raise Invalid(f"a {name.replace('_', ' ')} plate has 4 letters or digits before {serial[-1]}")
    return Format("plate", "CN", name, layouts, colours)


def _cn_new_energy(serial: str) -> Format:
    if serial[0] in "DF" and serial[2:].isdigit():
        return Format("plate", "CN", "green_small", (ONE_ROW,), ("green",))
    if serial[:5].isdigit() and serial[5] in "DF":
        return Format("plate", "CN", "green_large", (ONE_ROW,), ("green",))
    raise Invalid("a green new-energy serial has D or F first then a letter or digit and 4 digits (small "
                  "vehicles), or 5 digits then D or F (large vehicles)")
