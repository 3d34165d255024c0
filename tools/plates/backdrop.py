"""Procedural 1080p backgrounds for lane-camera scenes: sky, road, bridge or gate structure, a truck's cab front
or a container's doors and sides, and text-like clutter that is neither a plate nor a container code (signs,
brand names, the tare and size markings on a container). Nothing is downloaded; everything is drawn here.

Each ``draw_*`` function paints into a BGR frame in place and returns the places where a plate or a code
belongs (``Mount``: centre, width of the surface, the surface colour) so that `tools.plates.scenes` can put
the plates and codes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

Array = np.ndarray[Any, Any]
Rng = np.random.Generator
Color = tuple[int, int, int]
TRUCK_COLOURS: tuple[Color, ...] = ((30, 30, 160), (200, 200, 200), (40, 110, 30), (150, 80, 20), (30, 140, 210),
                                    (60, 60, 60), (20, 190, 230), (240, 240, 240), (110, 40, 100))
CONTAINER_COLOURS: tuple[Color, ...] = ((40, 40, 170), (140, 80, 30), (60, 120, 40), (140, 140, 140),
                                        (230, 230, 230), (30, 110, 220), (60, 60, 60), (30, 30, 110),
                                        (50, 90, 150))
WORDS = ("MAX GROSS", "TARE", "NET", "KG", "LBS", "CU.CAP", "22G1", "45G1", "CUA KHAU", "STOP", "KM 12",
         "BAC LUAN", "HINO", "FOTON", "SINOTRUK", "DONGFENG", "ISUZU", "HYUNDAI", "SLOW", "30", "LANE 2",
         "CSC SAFETY APPROVAL", "PAYLOAD", "MADE IN CHINA", "DANGER", "NO 1", "EXIT", "5T")


@dataclass(frozen=True)
class Mount:
    """Where a plate or a code may go: a centre, the width of the surface there, its colour, and what it is
    ("bumper", "chassis", "door", "post", "wall")."""

    x: float
    y: float
    width: float
    colour: Color
    where: str


def _jitter(colour: Color, rng: Rng, amount: int = 25) -> Color:
    c = np.clip(np.asarray(colour) + rng.integers(-amount, amount + 1, 3), 0, 255)
    return (int(c[0]), int(c[1]), int(c[2]))


def _rect(img: Array, x0: float, y0: float, x1: float, y1: float, colour: Color) -> None:
    cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)), colour, -1, cv2.LINE_AA)


def sky_and_road(img: Array, rng: Rng) -> float:
    """Vertical gradients for sky (or a building) and asphalt, lane marks in perspective; returns the horizon y."""
    h, w = img.shape[:2]
    horizon = float(rng.uniform(0.2, 0.5) * h)
    top, bottom = np.asarray(_jitter((200, 170, 140), rng, 60), np.float32), np.asarray(
        _jitter((120, 120, 120), rng, 40), np.float32)
    t = np.linspace(0, 1, int(horizon))[:, None, None]
    img[: int(horizon)] = (top * (1 - t * 0.4) + bottom * t * 0.4).astype(np.uint8)
    road = np.asarray(_jitter((90, 90, 95), rng, 30), np.float32)
    t = np.linspace(0, 1, h - int(horizon))[:, None, None]
    img[int(horizon):] = np.clip(road * (0.8 + 0.4 * t), 0, 255).astype(np.uint8)
    vx = w * float(rng.uniform(0.3, 0.7))
    for lane in range(-3, 4):
        x_bottom = w / 2 + lane * w * float(rng.uniform(0.3, 0.5))
        colour = (255, 255, 255) if rng.random() < 0.7 else (40, 200, 230)
        cv2.line(img, (int(vx), int(horizon)), (int(x_bottom), h), colour, int(rng.integers(3, 12)), cv2.LINE_AA)
    return horizon


def structure(img: Array, rng: Rng, horizon: float) -> None:
    """A bridge deck, a gate canopy or fence: grey beams, posts and railings above and around the lane."""
    h, w = img.shape[:2]
    steel = _jitter((150, 150, 150), rng, 50)
    for _ in range(int(rng.integers(1, 4))):
        y = float(rng.uniform(0, horizon))
        _rect(img, 0, y, w, y + float(rng.uniform(15, 80)), _jitter(steel, rng, 15))
    for _ in range(int(rng.integers(0, 5))):
        x = float(rng.uniform(0, w))
        _rect(img, x, 0, x + float(rng.uniform(10, 60)), h * float(rng.uniform(0.5, 1.0)), _jitter(steel, rng, 20))
    if rng.random() < 0.5:  # railing
        y = horizon + float(rng.uniform(-60, 40))
        for x in range(0, w, int(rng.integers(20, 60))):
            cv2.line(img, (x, int(y)), (x, int(y + 70)), steel, 3)
        cv2.line(img, (0, int(y)), (w, int(y)), steel, 6)


def clutter_text(img: Array, rng: Rng, x: float, y: float, height: float, colour: Color, count: int = 1) -> None:
    """Lines of words (Hershey fonts, never plate-shaped: no border, no plate background) at (x, y)."""
    for i in range(count):
        text = " ".join(str(rng.choice(WORDS)) for _ in range(int(rng.integers(1, 3))))
        if rng.random() < 0.5:
            text += f" {int(rng.integers(100, 40000))}"
        font = int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_PLAIN]))
        scale = height / 22
        cv2.putText(img, text, (int(x), int(y + i * height * 1.6)), font, scale, colour,
                    max(1, int(height / 10)), cv2.LINE_AA)


def sign(img: Array, rng: Rng) -> None:
    """A road sign or a gate notice: a coloured panel with words on it (a negative for the detector)."""
    h, w = img.shape[:2]
    sw, sh = float(rng.uniform(120, 420)), float(rng.uniform(60, 200))
    x, y = float(rng.uniform(0, w - sw)), float(rng.uniform(0, h * 0.6))
    panel = _jitter(((40, 120, 20), (150, 60, 10), (230, 230, 230), (20, 180, 230))[int(rng.integers(4))], rng)
    _rect(img, x, y, x + sw, y + sh, panel)
    ink = (20, 20, 20) if sum(panel) > 450 else (240, 240, 240)
    clutter_text(img, rng, x + 8, y + sh * 0.45, sh * 0.25, ink, count=1)


def truck_front(img: Array, rng: Rng, cx: float, bottom: float, width: float) -> list[Mount]:
    """A cab front centred at ``cx`` with its bumper at ``bottom``: body, windscreen, grille, lights, bumper."""
    h = width * float(rng.uniform(0.9, 1.2))
    x0, x1, y0 = cx - width / 2, cx + width / 2, bottom - h
    body = _jitter(TRUCK_COLOURS[int(rng.integers(len(TRUCK_COLOURS)))], rng)
    _rect(img, x0, y0, x1, bottom, body)
    glass = _jitter((70, 60, 50), rng, 20)
    pts = np.array([[x0 + width * 0.08, y0 + h * 0.06], [x1 - width * 0.08, y0 + h * 0.06],
                    [x1 - width * 0.05, y0 + h * 0.42], [x0 + width * 0.05, y0 + h * 0.42]], np.int32)
    cv2.fillPoly(img, [pts], glass, cv2.LINE_AA)
    gy0, gy1 = y0 + h * 0.5, y0 + h * 0.78
    grille = _jitter((40, 40, 40), rng, 20)
    _rect(img, x0 + width * 0.2, gy0, x1 - width * 0.2, gy1, grille)
    for y in np.arange(gy0, gy1, max(4.0, h * 0.03)):
        cv2.line(img, (int(x0 + width * 0.2), int(y)), (int(x1 - width * 0.2), int(y)), _jitter(body, rng, 10), 2)
    for side in (x0 + width * 0.04, x1 - width * 0.16):
        _rect(img, side, gy0, side + width * 0.12, gy0 + h * 0.08, (230, 240, 245))
    bumper = _jitter((50, 50, 50), rng, 40) if rng.random() < 0.6 else body
    _rect(img, x0 - width * 0.02, y0 + h * 0.8, x1 + width * 0.02, bottom, bumper)
    if rng.random() < 0.5:
        clutter_text(img, rng, cx - width * 0.15, y0 + h * 0.47, h * 0.04, (230, 230, 230))
    mount_x = cx + width * float(rng.uniform(-0.25, 0.25))
    return [Mount(mount_x, y0 + h * 0.9, width, bumper, "bumper")]


def _ribs(img: Array, x0: float, y0: float, x1: float, y1: float, colour: Color, period: float,
          vertical: bool = True) -> None:
    _rect(img, x0, y0, x1, y1, colour)
    dark = tuple(int(c * 0.8) for c in colour)
    if vertical:
        for x in np.arange(x0, x1, period):
            _rect(img, x, y0, x + period / 2, y1, dark)  # type: ignore[arg-type]
    else:
        for y in np.arange(y0, y1, period):
            _rect(img, x0, y, x1, y + period / 2, dark)  # type: ignore[arg-type]


def container_rear(img: Array, rng: Rng, cx: float, top: float, width: float) -> list[Mount]:
    """Container doors (ribbed panels, locking bars, corner posts) above a chassis with a rear bumper."""
    h = width * float(rng.uniform(1.0, 1.1))
    x0, x1 = cx - width / 2, cx + width / 2
    wall = _jitter(CONTAINER_COLOURS[int(rng.integers(len(CONTAINER_COLOURS)))], rng, 15)
    _ribs(img, x0, top, x1, top + h, wall, width * float(rng.uniform(0.03, 0.06)), vertical=False)
    post = tuple(int(c * 0.7) for c in wall)
    for px in (x0, x1 - width * 0.05):
        _rect(img, px, top, px + width * 0.05, top + h, post)  # type: ignore[arg-type]
    cv2.line(img, (int(cx), int(top)), (int(cx), int(top + h)), (30, 30, 30), 3)
    for bx in (0.15, 0.35, 0.65, 0.85):
        x = x0 + width * bx
        cv2.line(img, (int(x), int(top + h * 0.05)), (int(x), int(top + h * 0.97)), (90, 90, 90), 5)
    ink = (20, 20, 20) if sum(wall) > 450 else (240, 240, 240)
    clutter_text(img, rng, x0 + width * 0.55, top + h * 0.32, width * 0.02, ink, count=int(rng.integers(1, 4)))
    chassis_y = top + h
    _rect(img, x0 - width * 0.02, chassis_y, x1 + width * 0.02, chassis_y + width * 0.15, (35, 35, 35))
    mounts = [Mount(x0 + width * float(rng.uniform(0.62, 0.78)), top + h * float(rng.uniform(0.08, 0.16)),
                    width * 0.4, wall, "door"),
              Mount(x0 + width * 0.025, top + h * float(rng.uniform(0.35, 0.6)), width * 0.05, post, "post"),  # type: ignore[arg-type]
              Mount(cx + width * float(rng.uniform(-0.3, 0.3)), chassis_y + width * 0.08, width * 0.6,
                    (35, 35, 35), "chassis")]
    return mounts


def container_side(img: Array, rng: Rng, x0: float, top: float, width: float) -> list[Mount]:
    """A container's long side in view: vertical ribs, a code near the end, markings."""
    h = width * float(rng.uniform(0.3, 0.45))
    wall = _jitter(CONTAINER_COLOURS[int(rng.integers(len(CONTAINER_COLOURS)))], rng, 15)
    _ribs(img, x0, top, x0 + width, top + h, wall, width * float(rng.uniform(0.01, 0.025)))
    ink = (20, 20, 20) if sum(wall) > 450 else (240, 240, 240)
    clutter_text(img, rng, x0 + width * 0.4, top + h * 0.5, h * 0.06, ink, count=int(rng.integers(0, 3)))
    right = x0 + width
    return [Mount(right - width * float(rng.uniform(0.18, 0.3)), top + h * 0.15, width * 0.2, wall, "wall"),
            Mount(right - width * 0.03, top + h * 0.5, width * 0.03, wall, "post")]


def texture(img: Array, rng: Rng) -> None:
    """Low-frequency shading and fine grain over the whole frame, so that no surface is flat."""
    h, w = img.shape[:2]
    small = rng.normal(1.0, 0.08, (max(2, h // 120), max(2, w // 120))).astype(np.float32)
    shade = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    grain = np.empty((h, w), np.float32)
    cv2.setRNGSeed(int(rng.integers(2**31)))
    cv2.randn(grain, 0.0, 4.0)
    out = cv2.multiply(img.astype(np.float32), cv2.merge([shade] * 3))
    img[:] = cv2.add(out, cv2.merge([grain] * 3)).clip(0, 255).astype(np.uint8)
