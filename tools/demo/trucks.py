"""The cargo lanes' trucks: one registration on a one-row front plate and a two-row rear plate (Vietnamese or
Chinese), a container whose code is painted on its doors (and on a corner post of some), and the lane
cameras' frames of them, drawn by ``tools.plates`` at a lane camera's quality (daylight, mild perspective,
light noise and JPEG: not the training set's full range of degradations)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from tools.plates import backdrop
from tools.plates.render import render_container
from tools.plates.scenes import SIZE, Target, _ink, _paste, place, view_quad
from tools.plates.texts import PlateText, cn_plate, container_code, vn_plate

Array = np.ndarray[Any, Any]
STRENGTH = 0.25  # of tools.plates' perspective and object degradations (1.0: the training range)
#: a container code's character height in the frame, px: painted codes a lane camera is set up to read
CODE_PX = (36.0, 52.0)


@dataclass(frozen=True)
class TruckLook:
    front: PlateText
    rear: PlateText
    code: PlateText
    code_on_post: bool

    @property
    def plate(self) -> str:
        return self.front.text

    @property
    def groups(self) -> list[str]:
        """The groups the demo's cargo lanes read of this truck: its front plate and its container code(s)."""
        out = [f"{self.front.country}/one_row", "container/horizontal"]
        return out + (["container/vertical"] if self.code_on_post else [])


def look(rng: np.random.Generator, country: str) -> TruckLook:
    """A truck of ``country`` ("VN" or "CN"): the same registration front (one row) and rear (two rows)."""
    if country == "VN":
        front = vn_plate(rng, "one_row", "business")
        head, serial = front.rows[0].split("-", 1)
        rear = PlateText((head, serial), "plate", "VN", "two_row", front.style, front.series)
    else:
        front = cn_plate(rng, "yellow")
        head, serial = front.rows[0].split("·", 1)
        rear = PlateText((head, serial), "plate", "CN", "two_row", "cn_yellow", "yellow_two_row")
    horizontal = container_code(rng, "horizontal")
    return TruckLook(front, rear, horizontal, bool(rng.random() < 0.5))


def vertical(code: PlateText) -> PlateText:
    """The same code as painted down a corner post."""
    text = code.text
    return PlateText(tuple(text), "container", "", "vertical", "container", "iso6346")


class _NoRoom(Exception):
    pass


def _place(frame: Array, sample: PlateText, mount: backdrop.Mount, rng: np.random.Generator,
           placed: list[Target]) -> None:
    for _ in range(4):
        target = place(frame, sample, mount, rng, STRENGTH, placed)
        if target is not None:
            placed.append(target)
            return
    raise _NoRoom


def _paint_code(frame: Array, code: PlateText, mount: backdrop.Mount, rng: np.random.Generator) -> None:
    """A code painted on the container at a readable size (tools.plates' scenes draw 16-56 px)."""
    char_h = float(rng.uniform(*CODE_PX))
    if code.layout == "horizontal":
        char_h = min(char_h, mount.width / 9)
    r = render_container(code, round(char_h * 1.5), rng)
    image, alpha = _ink(r.image, mount.colour)
    h, w = r.image.shape[:2]
    quad = view_quad(w / 1.5, h / 1.5, rng, STRENGTH, 2.0) + np.array([mount.x, mount.y])
    if quad.min() < 2 or quad[:, 0].max() > frame.shape[1] - 2 or quad[:, 1].max() > frame.shape[0] - 2:
        raise _NoRoom
    _paste(frame, image, alpha, quad)


def _composed(draw: Any, rng: np.random.Generator) -> Array:
    """A frame ``draw`` composes, drawn again (another truck position) when something falls off it."""
    for _ in range(20):
        w, h = SIZE
        frame = np.zeros((h, w, 3), np.uint8)
        horizon = backdrop.sky_and_road(frame, rng)
        backdrop.structure(frame, rng, horizon)
        try:
            draw(frame)
        except _NoRoom:
            continue
        return _finish(frame, rng)
    raise RuntimeError("could not compose a demo truck frame")


def _finish(frame: Array, rng: np.random.Generator) -> Array:
    backdrop.texture(frame, rng)
    return frame


def views(frame: Array, rng: np.random.Generator, n: int) -> list[Array]:
    """``n`` frames of one truck as it rolls up to the camera: a little nearer and shifted each time, with
    the sensor's noise (cheap: the scene is drawn once)."""
    h, w = frame.shape[:2]
    out = []
    for k in range(n):
        scale = 1.0 + 0.03 * k + float(rng.uniform(-0.01, 0.01))
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-0.5, 0.5)), scale)
        m[:, 2] += rng.uniform(-12, 12, 2)
        view = cv2.warpAffine(frame, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        noise = np.empty_like(view)
        cv2.randn(noise, 0, 4)
        out.append(cv2.add(view, noise))
    return out


def front_frame(truck: TruckLook, rng: np.random.Generator) -> Array:
    def draw(frame: Array) -> None:
        w, h = SIZE
        mounts = backdrop.truck_front(frame, rng, float(rng.uniform(w * 0.4, w * 0.6)),
                                      float(rng.uniform(h * 0.85, h * 0.97)), float(rng.uniform(900, 1300)))
        _place(frame, truck.front, mounts[0], rng, [])

    return _composed(draw, rng)


def rear_frame(truck: TruckLook, rng: np.random.Generator) -> Array:
    def draw(frame: Array) -> None:
        w, h = SIZE
        width = float(rng.uniform(620, 760))  # doors, posts and the chassis below them all in view
        top = float(rng.uniform(10, max(11, h - width * 1.1 - width * 0.2)))
        door, post, chassis = backdrop.container_rear(frame, rng, float(rng.uniform(w * 0.4, w * 0.6)), top, width)
        placed: list[Target] = []
        _place(frame, truck.rear, chassis, rng, placed)
        _paint_code(frame, truck.code, door, rng)
        if truck.code_on_post:
            _paint_code(frame, vertical(truck.code), post, rng)

    return _composed(draw, rng)
