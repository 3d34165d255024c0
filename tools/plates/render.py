"""A clean plate or container-code image from a `PlateText`, with the corners of its text.

Plates are drawn to their published sizes in millimetres (Vietnam 520x110 one row, 330x165 two rows; China
440x140, 480x140 new energy, 440x220 two rows) at ``px_per_mm``; each glyph is fitted into its character cell
(plate fonts are tall and condensed), so any bold sans font of `fonts` gives a plate-like look.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tools.plates.fonts import han_fonts, latin_fonts
from tools.plates.texts import CN_PROVINCES, CN_SPECIAL, PlateText

Color = tuple[int, int, int]  # BGR
Corners = tuple[tuple[float, float], ...]  # 4 points clockwise from top-left


@dataclass(frozen=True)
class Row:
    """One printed row, in millimetres: centre line, character cell, gap between characters."""

    y: float
    char_h: float
    char_w: float
    gap: float


@dataclass(frozen=True)
class Geometry:
    width: float
    height: float
    rows: tuple[Row, ...]
    margin: float = 12.0


@dataclass(frozen=True)
class Style:
    bg: Color
    fg: Color
    border: Color
    accent: Color | None = None  # colour of special series (NG/QT/NN, 使, 领)
    bg2: Color | None = None  # gradient end (green_small) or second part (green_large)


GEOMETRY = {
    ("VN", "one_row"): Geometry(520, 110, (Row(55, 80, 40, 5),)),
    ("VN", "two_row"): Geometry(330, 165, (Row(44, 64, 40, 6), Row(120, 64, 44, 6))),
    ("CN", "one_row"): Geometry(440, 140, (Row(70, 90, 45, 12),)),
    ("CN", "two_row"): Geometry(440, 220, (Row(45, 60, 62, 30), Row(145, 110, 65, 15))),
}
GREEN_GEOMETRY = Geometry(480, 140, (Row(70, 90, 43, 9),))
RED: Color = (30, 30, 200)
STYLES = {
    "vn_white": Style((235, 238, 240), (25, 25, 25), (25, 25, 25)),
    "vn_yellow": Style((20, 200, 240), (25, 25, 25), (25, 25, 25)),
    "vn_blue": Style((150, 70, 20), (245, 245, 245), (245, 245, 245)),
    "vn_foreign": Style((235, 238, 240), (25, 25, 25), (25, 25, 25), accent=RED),
    "cn_blue": Style((170, 70, 10), (245, 245, 245), (245, 245, 245)),
    "cn_yellow": Style((20, 190, 245), (20, 20, 20), (20, 20, 20)),
    "cn_green_small": Style((245, 250, 245), (20, 20, 20), (20, 20, 20), bg2=(90, 190, 60)),
    "cn_green_large": Style((20, 190, 245), (20, 20, 20), (20, 20, 20), bg2=(90, 190, 60)),
    "cn_black": Style((25, 25, 25), (240, 240, 240), (240, 240, 240), accent=RED),
}
CONTAINER_WALLS: tuple[Color, ...] = ((40, 40, 170), (140, 80, 30), (60, 120, 40), (140, 140, 140),
                                      (230, 230, 230), (30, 110, 220), (60, 60, 60), (30, 30, 110))
SEPARATOR_W = {"-": 0.55, ".": 0.3, "·": 0.5, " ": 0.7}  # width in character widths


@dataclass(frozen=True)
class Rendered:
    image: np.ndarray  # BGR uint8
    text_corners: Corners  # the text region (all rows), clockwise from top-left
    plate_corners: Corners  # the plate or painted-code region (the whole image here)


@cache
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


@cache
def _glyph(path: Path, char: str) -> np.ndarray:
    """The ink of ``char`` in ``path`` at 128 px, cropped to its bounds (float 0..1)."""
    font = _font(path, 128)
    left, top, right, bottom = font.getbbox(char)
    canvas = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(canvas).text((4 - left, 4 - top), char, fill=255, font=font)
    ink = np.asarray(canvas, dtype=np.float32) / 255.0
    ys, xs = np.nonzero(ink > 0.05)
    if len(xs) == 0:
        raise ValueError(f"font {path.name} has no glyph for {char!r}")
    return ink[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def _is_han(char: str) -> bool:
    return char in CN_PROVINCES or char in CN_SPECIAL


def _paint(canvas: np.ndarray, mask: np.ndarray, x: int, y: int, color: Color) -> None:
    h, w = mask.shape
    region = canvas[y: y + h, x: x + w]
    m = mask[: region.shape[0], : region.shape[1], None]
    region[:] = (region * (1 - m) + np.asarray(color, np.float32) * m).astype(np.uint8)


def _draw_char(canvas: np.ndarray, char: str, box: tuple[float, float, float, float], color: Color,
               fonts: tuple[Path, Path]) -> tuple[float, float, float, float]:
    """Fit ``char`` into ``box`` (x, y, w, h in px), keeping narrow glyphs narrow; returns the inked box."""
    x, y, w, h = box
    ink = _glyph(fonts[1] if _is_han(char) else fonts[0], char)
    natural = ink.shape[1] / ink.shape[0] * h
    gw = max(1, round(min(w, natural * 1.15)))
    gh = max(1, round(h))
    mask = cv2.resize(ink, (gw, gh), interpolation=cv2.INTER_AREA)
    gx = round(x + (w - gw) / 2)
    _paint(canvas, mask, gx, round(y), color)
    return (gx, y, gw, h)


def _draw_separator(canvas: np.ndarray, sep: str, x: float, row_y: float, w: float, h: float, color: Color) -> None:
    t = max(1, round(h * 0.09))
    if sep == "-":
        cv2.rectangle(canvas, (round(x + w * 0.15), round(row_y - t / 2)), (round(x + w * 0.85), round(row_y + t / 2)),
                      color, -1)
    elif sep == ".":
        cv2.circle(canvas, (round(x + w / 2), round(row_y + h * 0.42)), t, color, -1, cv2.LINE_AA)
    elif sep == "·":
        cv2.circle(canvas, (round(x + w / 2), round(row_y)), round(t * 1.2), color, -1, cv2.LINE_AA)


def _row_layout(text: str, row: Row, scale: float, width_px: float) -> tuple[list[tuple[str, float, float]], float]:
    """(char, x, w) per printed character and the horizontal factor that makes the row fit the plate."""
    units = [(c, SEPARATOR_W.get(c, 1.0)) for c in text]
    cw, gap = row.char_w * scale, row.gap * scale
    total = sum(u * cw for _, u in units) + gap * (len(units) - 1)
    squeeze = min(1.0, width_px * 0.94 / total)
    x = (width_px - total * squeeze) / 2
    out = []
    for c, u in units:
        out.append((c, x, u * cw * squeeze))
        x += (u * cw + gap) * squeeze
    return out, squeeze


def _background(style: Style, w: int, h: int, split_x: float) -> np.ndarray:
    canvas = np.empty((h, w, 3), np.float32)
    canvas[:] = style.bg
    if style.bg2 is not None and split_x <= 0:  # vertical gradient, white to green
        t = np.linspace(0.15, 1.0, h, dtype=np.float32)[:, None, None]
        canvas[:] = np.asarray(style.bg, np.float32) * (1 - t) + np.asarray(style.bg2, np.float32) * t
    elif style.bg2 is not None:
        canvas[:, round(split_x):] = style.bg2
    return canvas.astype(np.uint8)


def _corners(boxes: list[tuple[float, float, float, float]]) -> Corners:
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def _fonts(rng: np.random.Generator | None) -> tuple[Path, Path]:
    latin, han = latin_fonts(), han_fonts()
    if rng is None:
        return latin[0], han[0]
    return latin[int(rng.integers(len(latin)))], han[int(rng.integers(len(han)))]


def render_plate(sample: PlateText, px_per_mm: float = 0.5, rng: np.random.Generator | None = None) -> Rendered:
    """A clean plate image for a ``sample`` of kind "plate"; ``rng`` varies the font (first font if None)."""
    if sample.kind != "plate":
        raise ValueError("render_plate draws plates; use render_container for container codes")
    geo = GREEN_GEOMETRY if sample.style.startswith("cn_green") else GEOMETRY[(sample.country, sample.layout)]
    style = STYLES[sample.style]
    fonts = _fonts(rng)
    w, h = round(geo.width * px_per_mm), round(geo.height * px_per_mm)
    layouts = [_row_layout(text, row, px_per_mm, w)[0] for text, row in zip(sample.rows, geo.rows, strict=True)]
    split_x = -1.0
    if sample.style == "cn_green_large":  # yellow under province and authority, green under the serial
        split_x = layouts[0][2][1] + layouts[0][2][2] / 2
    canvas = _background(style, w, h, split_x)
    boxes: list[tuple[float, float, float, float]] = []
    for text, row, layout in zip(sample.rows, geo.rows, layouts, strict=True):
        top, ch = (row.y - row.char_h / 2) * px_per_mm, row.char_h * px_per_mm
        for i, (c, x, cw) in enumerate(layout):
            if c in SEPARATOR_W:
                if split_x < 0:
                    _draw_separator(canvas, c, x, row.y * px_per_mm, cw, ch, style.fg)
                continue
            color = style.accent if style.accent and _accented(sample, text, i) else style.fg
            boxes.append(_draw_char(canvas, c, (x, top, cw, ch), color, fonts))
    _border(canvas, style.border, px_per_mm)
    return Rendered(canvas, _corners(boxes), ((0, 0), (w, 0), (w, h), (0, h)))


def _accented(sample: PlateText, row_text: str, i: int) -> bool:
    c = row_text[i]
    if sample.style == "vn_foreign":
        return c.isalpha()
    return c in "使领"


def _border(canvas: np.ndarray, color: Color, px_per_mm: float) -> None:
    h, w = canvas.shape[:2]
    t = max(1, round(3 * px_per_mm))
    inset = max(1, round(4 * px_per_mm))
    cv2.rectangle(canvas, (inset, inset), (w - 1 - inset, h - 1 - inset), color, t, cv2.LINE_AA)


def render_container(sample: PlateText, char_h: int = 48, rng: np.random.Generator | None = None) -> Rendered:
    """A container code painted on a corrugated wall: one line (horizontal) or one character per line
    (vertical), the check digit boxed; ``char_h`` is the character height in pixels."""
    if sample.kind != "container":
        raise ValueError("render_container draws container codes; use render_plate for plates")
    gen = rng if rng is not None else np.random.default_rng(0)
    wall = CONTAINER_WALLS[int(gen.integers(len(CONTAINER_WALLS)))]
    ink: Color = (20, 20, 20) if sum(wall) > 450 else (240, 240, 240)
    fonts = _fonts(rng)
    cw, gap, margin = round(char_h * 0.62), round(char_h * 0.14), round(char_h * 0.45)
    if sample.layout == "horizontal":
        cells = _container_cells_h(sample.rows[0], cw, gap, margin)
        w, h = cells[-1][1] + cw + margin, char_h + 2 * margin
    else:
        cells = _container_cells_v(sample.rows, char_h, margin, cw)
        w, h = cw + 2 * margin, cells[-1][2] + char_h + margin
    canvas = _corrugated(wall, w, h, char_h, gen)
    boxes = []
    for c, x, y in cells:
        boxes.append(_draw_char(canvas, c, (x, y, cw, char_h), ink, fonts))
    bx, by, bw, bh = boxes[-1]
    pad = round(char_h * 0.1)
    cv2.rectangle(canvas, (round(bx - pad), round(by - pad)), (round(bx + bw + pad), round(by + bh + pad)), ink,
                  max(1, char_h // 16))
    return Rendered(canvas, _corners(boxes), ((0, 0), (w, 0), (w, h), (0, h)))


def _container_cells_h(line: str, cw: int, gap: int, margin: int) -> list[tuple[str, int, int]]:
    cells, x = [], margin
    for c in line:
        if c == " ":
            x += cw // 2
            continue
        cells.append((c, x, margin))
        x += cw + gap
    return cells


def _container_cells_v(rows: tuple[str, ...], char_h: int, margin: int, cw: int) -> list[tuple[str, int, int]]:
    cells, y = [], margin
    for i, c in enumerate(rows):
        if i in (4, 10):
            y += char_h // 3  # gap after the category letter and before the check digit
        cells.append((c, margin, y))
        y += round(char_h * 1.2)
    return cells


def _corrugated(wall: Color, w: int, h: int, char_h: int, rng: np.random.Generator) -> np.ndarray:
    """A wall colour with the vertical ribs of a container side."""
    period = max(4, round(char_h * float(rng.uniform(0.6, 1.4))))
    x = np.arange(w, dtype=np.float32)
    shade = 1.0 + 0.12 * np.sign(np.sin(2 * np.pi * x / period))
    canvas = np.asarray(wall, np.float32)[None, None, :] * shade[None, :, None]
    return np.clip(np.broadcast_to(canvas, (h, w, 3)), 0, 255).astype(np.uint8).copy()


def render(sample: PlateText, scale: float = 1.0, rng: np.random.Generator | None = None) -> Rendered:
    """A clean image of any sample; ``scale`` 1.0 draws plates at 0.5 px/mm and codes at 48 px per character."""
    if sample.kind == "container":
        return render_container(sample, max(8, round(48 * scale)), rng)
    return render_plate(sample, 0.5 * scale, rng)
