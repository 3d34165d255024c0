"""Random valid plate and container-code texts, reproducible from a seed.

Each sample is a `PlateText`: the rows as printed (separators kept, top row first), and what the plate is
(kind, country, layout, style, series). ``normalise_plate`` of the joined rows is what a reader returns.

Formats generated (synthetic, following the published rules; real plates carry more special series):

Vietnam (letters I, J, O, Q, W never used in civil series; R is reserved for trailers)
- ``private`` white, black text; ``business`` yellow (transport business, since 2020); ``state`` blue,
  white text: ``51G-123.45`` (one row, 520x110 mm) or ``51G`` / ``123.45`` (two rows, 330x165 mm); older
  four-digit serials ``51G-1234``; two-letter series (``LD`` foreign-invested); motorbike-style series with a
  digit on two rows (``29C1`` / ``234.56``).
- ``trailer``: series ``R`` (``51R-123.45``), white or yellow.
- ``transit``: temporary registration, ``T`` before the province (``T51-123.45``), white.
- ``foreign``: ``NG`` (diplomatic), ``QT`` (international organisations), ``NN`` (foreign residents) in red on
  white, province then the series then the country number and order: ``80NG-123.45``.

China (GA 36; serial letters never I or O)
- ``blue`` (small vehicles): ``粤B·12345``, one row 440x140 mm.
- ``yellow`` (large vehicles): one row, or two rows 440x220 mm (``粤B`` over ``12345``).
- ``trailer``: yellow two rows ending in 挂 (``粤B`` over ``1234挂``).
- ``green_small`` new energy: 8 characters, D or F first in the serial, then a letter or digit, then four
  digits (``粤B·D12345``); ``green_large``: five digits then D or F (``粤B·12345D``).
- ``embassy``: black, ``使`` then six digits (``使014·578``); ``consulate``: black, four digits then ``领``
  (``粤A·1234领``).

Containers (ISO 6346): three-letter owner code, category U/J/Z, six-digit serial, check digit from
``gatecore.api.container_check_digit``; ``horizontal`` (``MSKU 123456 7``) or ``vertical`` (one character per
row, top to bottom).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gatecore.api import container_check_digit, normalise_plate

DIGITS = "0123456789"
LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
VN_SERIES = "ABCDEFGHKLMNPSTUVXYZ"  # civil series letters: no I, J, O, Q, W; R is for trailers
CN_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, O
CN_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
CN_SPECIAL = "挂使领"
# Vietnamese province codes in use (80 is the central authority that registers foreign missions)
VN_PROVINCES = tuple(
    f"{n:02d}" for n in (*range(11, 13), *range(14, 39), 40, 41, 43, *range(47, 87), *range(88, 91), *range(92, 96),
                         97, 98, 99)
)
ALPHABET = DIGITS + LATIN + CN_PROVINCES + CN_SPECIAL  # every character a reader may return

Rng = np.random.Generator


@dataclass(frozen=True)
class PlateText:
    """One plate or code as printed. ``rows`` keep the printed separators; ``text`` is the normalised read."""

    rows: tuple[str, ...]
    kind: str  # "plate" | "container"
    country: str  # "VN" | "CN" | ""
    layout: str  # "one_row" | "two_row" | "horizontal" | "vertical"
    style: str  # colour scheme for render.py, e.g. "vn_white", "cn_green_small", "container"
    series: str  # what kind of plate: "private", "trailer", "embassy", ...

    @property
    def text(self) -> str:
        return normalise_plate("".join(self.rows))


def _pick(rng: Rng, chars: str | tuple[str, ...], n: int = 1) -> str:
    return "".join(str(chars[int(i)]) for i in rng.integers(0, len(chars), n))


def _vn_serial(rng: Rng) -> str:
    if rng.random() < 0.15:
        return _pick(rng, DIGITS, 4)  # older four-digit serial
    d = _pick(rng, DIGITS, 5)
    return f"{d[:3]}.{d[3:]}"


def _vn_rows(rng: Rng, head: str, serial: str, layout: str) -> tuple[str, ...]:
    if layout == "two_row":
        return (head, serial)
    return (f"{head}-{serial}",)


def _vn_series(rng: Rng, layout: str) -> str:
    r = rng.random()
    if r < 0.12:
        return "LD"
    if layout == "two_row" and r < 0.45:
        return _pick(rng, VN_SERIES) + _pick(rng, DIGITS)  # 29C1 / 234.56
    return _pick(rng, VN_SERIES)


def vn_plate(rng: Rng, layout: str | None = None, series: str | None = None) -> PlateText:
    """A Vietnamese plate; ``layout`` "one_row"/"two_row" and ``series`` (private, business, state, trailer,
    transit, foreign) are drawn at random when not given."""
    layout = layout or ("one_row" if rng.random() < 0.5 else "two_row")
    series = series or str(rng.choice(["private", "business", "state", "trailer", "transit", "foreign"],
                                      p=[0.3, 0.25, 0.12, 0.13, 0.08, 0.12]))
    prov = _pick(rng, VN_PROVINCES)
    serial = _vn_serial(rng)
    style = {"private": "vn_white", "business": "vn_yellow", "state": "vn_blue", "transit": "vn_white"}.get(series)
    if series == "trailer":
        style = "vn_yellow" if rng.random() < 0.5 else "vn_white"
        head = f"{prov}R"
    elif series == "transit":
        head = f"T{prov}"
    elif series == "foreign":
        style = "vn_foreign"
        prov = "80" if rng.random() < 0.6 else _pick(rng, ("41", "29", "51", "43"))
        d = _pick(rng, DIGITS, 5)
        serial = f"{d[:3]}.{d[3:]}"
        head = prov + _pick(rng, ("NG", "QT", "NN"))
    else:
        head = prov + _vn_series(rng, layout)
    if layout == "two_row" and rng.random() < 0.3 and head[:2].isdigit():
        head = f"{head[:2]}-{head[2:]}"  # printed 29-C1 on some plates
    assert style is not None
    return PlateText(_vn_rows(rng, head, serial, layout), "plate", "VN", layout, style, series)


def _cn_serial(rng: Rng, n: int = 5) -> str:
    """n serial characters, letters and digits, at most two letters."""
    chars = list(_pick(rng, DIGITS, n))
    for i in rng.choice(n, size=int(rng.choice([0, 0, 1, 2])), replace=False):
        chars[int(i)] = _pick(rng, CN_LETTERS)
    return "".join(chars)


def cn_plate(rng: Rng, series: str | None = None) -> PlateText:
    """A Chinese plate; ``series`` is one of blue, yellow, yellow_two_row, trailer, green_small, green_large,
    embassy, consulate (drawn at random when not given)."""
    series = series or str(rng.choice(
        ["blue", "yellow", "yellow_two_row", "trailer", "green_small", "green_large", "embassy", "consulate"],
        p=[0.22, 0.12, 0.2, 0.12, 0.14, 0.1, 0.05, 0.05]))
    head = _pick(rng, CN_PROVINCES) + _pick(rng, CN_LETTERS)
    if series in ("blue", "yellow"):
        return PlateText((f"{head}·{_cn_serial(rng)}",), "plate", "CN", "one_row", f"cn_{series}", series)
    if series == "yellow_two_row":
        return PlateText((head, _cn_serial(rng)), "plate", "CN", "two_row", "cn_yellow", series)
    if series == "trailer":
        return PlateText((head, _cn_serial(rng, 4) + "挂"), "plate", "CN", "two_row", "cn_yellow", series)
    if series == "green_small":
        second = _pick(rng, CN_LETTERS + DIGITS)
        serial = _pick(rng, "DF") + second + _pick(rng, DIGITS, 4)
        return PlateText((f"{head}·{serial}",), "plate", "CN", "one_row", "cn_green_small", series)
    if series == "green_large":
        serial = _pick(rng, DIGITS, 5) + _pick(rng, "DF")
        return PlateText((f"{head}·{serial}",), "plate", "CN", "one_row", "cn_green_large", series)
    if series == "embassy":
        d = _pick(rng, DIGITS, 6)
        return PlateText((f"使{d[:3]}·{d[3:]}",), "plate", "CN", "one_row", "cn_black", series)
    if series == "consulate":
        return PlateText((f"{head}·{_pick(rng, DIGITS, 4)}领",), "plate", "CN", "one_row", "cn_black", series)
    raise ValueError(f"unknown Chinese plate series {series!r}")


def container_code(rng: Rng, layout: str | None = None) -> PlateText:
    """An ISO 6346 container code with its check digit; ``layout`` "horizontal" or "vertical"."""
    layout = layout or ("horizontal" if rng.random() < 0.6 else "vertical")
    head = _pick(rng, LATIN, 3) + _pick(rng, "UUUUJZ") + _pick(rng, DIGITS, 6)
    check = container_check_digit(head)
    rows = (*head, str(check)) if layout == "vertical" else (f"{head[:4]} {head[4:]} {check}",)
    return PlateText(rows, "container", "", layout, "container", "iso6346")


CN_ONE_ROW = ("blue", "yellow", "green_small", "green_large", "embassy", "consulate")
# (kind, country, layout) groups the evaluation reports separately
GROUPS: dict[str, Callable[[Rng], PlateText]] = {
    "VN/one_row": lambda rng: vn_plate(rng, "one_row"),
    "VN/two_row": lambda rng: vn_plate(rng, "two_row"),
    "CN/one_row": lambda rng: cn_plate(rng, str(rng.choice(CN_ONE_ROW, p=[0.35, 0.2, 0.2, 0.15, 0.05, 0.05]))),
    "CN/two_row": lambda rng: cn_plate(rng, "yellow_two_row" if rng.random() < 0.6 else "trailer"),
    "container/horizontal": lambda rng: container_code(rng, "horizontal"),
    "container/vertical": lambda rng: container_code(rng, "vertical"),
}


def group_of(sample: PlateText) -> str:
    """The evaluation group of a sample: ``"VN/two_row"``, ``"container/vertical"``..."""
    return f"{sample.country or sample.kind}/{sample.layout}"


def random_text(rng: Rng, group: str | None = None) -> PlateText:
    """A sample of ``group`` (a key of ``GROUPS``), or of a group drawn uniformly."""
    name = group or str(rng.choice(list(GROUPS)))
    return GROUPS[name](rng)
