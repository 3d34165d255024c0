"""Decoder backends behind one interface: zxing-cpp (default, by measurement) and pyzbar.

A backend turns a grey image into ``(format, raw bytes, text, is_bytes, corners)`` tuples; the
:class:`Hints` say which of its extra passes (downscaled, inverted, rotated) it may skip and which
format family to try, so the reader's ladder can ask for exactly what a crop needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp
from pyzbar import pyzbar  # type: ignore[import-untyped]

Image = npt.NDArray[np.uint8]

#: formats this plugin reads (names as zxing-cpp spells them)
FORMATS = ("QRCode", "MicroQRCode", "DataMatrix", "PDF417", "Aztec",
           "Code128", "Code39", "EAN13", "EAN8", "UPCA", "UPCE")
#: what libzbar0 reads (its PDF417 decoder is unfinished and read none of ours; no Data Matrix, Aztec, Micro QR)
ZBAR_FORMATS = ("QRCode", "Code128", "Code39", "EAN13", "EAN8", "UPCA", "UPCE")
_ZBAR_NAMES = {"QRCODE": "QRCode", "PDF417": "PDF417", "CODE128": "Code128", "CODE39": "Code39",
               "EAN13": "EAN13", "EAN8": "EAN8", "UPCA": "UPCA", "UPCE": "UPCE",
               "ISBN10": "EAN13", "ISBN13": "EAN13"}
_ZBAR_SYMBOLS = {"QRCode": "QRCODE", "PDF417": "PDF417", "Code128": "CODE128", "Code39": "CODE39",
                 "EAN13": "EAN13", "EAN8": "EAN8", "UPCA": "UPCA", "UPCE": "UPCE"}


class ReaderError(ValueError):
    """The frame or the reader's configuration cannot be used."""


@dataclass(frozen=True)
class Code:
    """One decoded symbol: format, payload and its four corners in frame pixels."""

    format: str
    raw: bytes
    text: str
    is_bytes: bool
    box: tuple[tuple[int, int], ...]

    @property
    def key(self) -> tuple[str, bytes]:
        return (self.format, self.raw)

    def bbox(self) -> tuple[int, int, int, int]:
        xs, ys = [p[0] for p in self.box], [p[1] for p in self.box]
        return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def to_grey(frame: npt.NDArray[np.generic]) -> Image:
    """A contiguous uint8 grey view of a BGR, BGRA or grey frame; :class:`ReaderError` otherwise."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise ReaderError("frame must be a uint8 numpy array")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2GRAY if frame.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return np.asarray(cv2.cvtColor(np.asarray(frame, np.uint8), code), dtype=np.uint8)
    if frame.ndim != 2 or min(frame.shape) < 8:
        raise ReaderError(f"frame shape {frame.shape} is not a grey or BGR image")
    return np.ascontiguousarray(frame)


def _text(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return "", True


LINEAR = frozenset({"Code128", "Code39", "EAN13", "EAN8", "UPCA", "UPCE", "PDF417"})  # PDF417: stacked rows
MATRIX = frozenset({"QRCode", "MicroQRCode", "DataMatrix", "PDF417", "Aztec"})
Found = tuple[str, bytes, str, bool, list[tuple[float, float]]]


@dataclass(frozen=True)
class Hints:
    """What a backend may skip for one image (the defaults are a raw whole-frame call).

    ``downscale``: also scan downscaled copies; ``invert``: also scan the inverted image;
    ``rotate``: also scan 1D codes at 90 degrees; ``kind``: ``"linear"`` or ``"matrix"``
    narrows the formats tried to those families.
    """

    downscale: bool = True
    invert: bool = True
    rotate: bool = True
    kind: str = "all"


WHOLE = Hints()
REGION = Hints(downscale=False, invert=False)


class ZxingBackend:
    """zxing-cpp (self-contained wheel): every format in :data:`FORMATS`."""

    name = "zxing"

    def __init__(self, formats: Sequence[str] = FORMATS) -> None:
        self.formats = tuple(formats)
        # format names, turned into zxing-cpp's flags per call (~10 us): a flags object kept for the process's
        # life is still alive when the interpreter exits, and nanobind reports every one of them as a leak
        self._formats = {
            "all": ",".join(self.formats),
            "linear": ",".join(f for f in self.formats if f in LINEAR),
            "matrix": ",".join(f for f in self.formats if f in MATRIX),
        }

    def decode(self, img: Image, hints: Hints = WHOLE) -> list[Found]:
        """All codes in ``img`` that ``hints`` allow."""
        out: list[Found] = []
        if not self._formats[hints.kind]:
            return out  # none of this family's formats is configured (zxing-cpp reads every format given none)
        formats = zxingcpp.barcode_formats_from_str(self._formats[hints.kind])
        for r in zxingcpp.read_barcodes(img, formats=formats, try_downscale=hints.downscale, try_invert=hints.invert,
                                        try_rotate=hints.rotate):
            name = r.format.name
            if name not in self.formats and name == "EAN13" and "UPCA" in self.formats:
                name = "UPCA"
            binary = r.content_type == zxingcpp.ContentType.Binary
            text, bad = _text(r.bytes) if not binary else ("", True)
            if not bad and r.text and r.content_type != zxingcpp.ContentType.Binary:
                text = r.text
            p = r.position
            pts = [(p.top_left.x, p.top_left.y), (p.top_right.x, p.top_right.y),
                   (p.bottom_right.x, p.bottom_right.y), (p.bottom_left.x, p.bottom_left.y)]
            out.append((name, bytes(r.bytes), text, bad, [(float(x), float(y)) for x, y in pts]))
        return out


class ZbarBackend:
    """pyzbar over the system ``libzbar0``: QR and the 1D formats."""

    name = "zbar"

    def __init__(self, formats: Sequence[str] = ZBAR_FORMATS) -> None:
        unsupported = sorted(set(formats) - set(ZBAR_FORMATS))
        self.formats = tuple(f for f in formats if f in ZBAR_FORMATS)
        self.unsupported = tuple(unsupported)
        self._symbols = [pyzbar.ZBarSymbol[_ZBAR_SYMBOLS[f]] for f in self.formats]

    def decode(self, img: Image, hints: Hints = WHOLE) -> list[Found]:
        """All codes in ``img`` (zbar has no downscaled, inverted or rotated passes to skip)."""
        out = []
        for d in pyzbar.decode(img, symbols=self._symbols):
            name = _ZBAR_NAMES.get(d.type, d.type)
            pts = np.array([(p.x, p.y) for p in d.polygon], np.float32)
            if len(pts) < 3:
                r = d.rect
                pts = np.array([(r.left, r.top), (r.left + r.width, r.top + r.height)], np.float32)
            corners = cv2.boxPoints(cv2.minAreaRect(pts))
            text, bad = _text(d.data)
            out.append((name, bytes(d.data), text, bad, [(float(x), float(y)) for x, y in corners]))
        return out


Backend = ZxingBackend | ZbarBackend


def make_backend(name: str, formats: Sequence[str] | None = None) -> Backend:
    """``"zxing"`` or ``"zbar"``; unknown names raise :class:`ReaderError`."""
    if formats is not None and (bad := sorted(set(formats) - set(FORMATS))):
        raise ReaderError(f"unsupported formats {bad}; supported: {list(FORMATS)}")
    if name == "zxing":
        return ZxingBackend(formats or FORMATS)
    if name == "zbar":
        return ZbarBackend(formats or ZBAR_FORMATS)
    raise ReaderError(f"unknown barcode backend {name!r}; expected 'zxing' or 'zbar'")
