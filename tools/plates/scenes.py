"""Whole lane-camera scenes (1080p): a truck's front, or a container's rear or side, on a procedural backdrop, with
1-3 plates and/or container codes at realistic scales, tilts and perspective, the degradations of
`tools.plates.degrade`, and the ground-truth corners of every plate and code.

A region is the box of the printed or painted characters (all rows; a code's check digit included), the same
region the recogniser's crops are cut along (`tools.plates.crops`); a plate's outline is kept too. Corners go
clockwise from the text's top-left, in frame pixels.

    python -m tools.plates.scenes --seed 3 --count 8 --out /tmp/scenes     # PNGs + labels.jsonl to look at
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tools.plates import backdrop, degrade
from tools.plates.render import render_container, render_plate
from tools.plates.texts import GROUPS, PlateText, container_code

Array = np.ndarray[Any, Any]
Rng = np.random.Generator
Corners = tuple[tuple[float, float], ...]
PLATE_GROUPS = tuple(g for g in GROUPS if not g.startswith("container"))
SIZE = (1920, 1080)


@dataclass(frozen=True)
class Target:
    """One plate or code in a scene: what it says and where its region is."""

    sample: PlateText
    corners: Corners  # the characters' box (the detector's region), frame pixels
    outline: Corners  # the plate's outline, or for a code the painted characters' box again

    @property
    def kind(self) -> str:
        return self.sample.kind

    @property
    def group(self) -> str:
        return f"{self.sample.country or self.sample.kind}/{self.sample.layout}"


@dataclass(frozen=True)
class Scene:
    image: Array  # BGR uint8, SIZE
    targets: tuple[Target, ...]
    degradations: tuple[str, ...]  # the scene-wide ones applied, in order


def view_quad(w: float, h: float, rng: Rng, strength: float, max_roll: float = 20.0) -> Array:
    """The corners (4, 2) of a w x h rectangle seen by a pinhole camera after a random roll (in-plane tilt, up
    to ``max_roll`` degrees), yaw and pitch, centred on the origin; angles grow with ``strength``."""
    roll = rng.normal(0, max_roll / 4) + (rng.uniform(-max_roll, max_roll) if rng.random() < 0.25 * strength else 0)
    roll = math.radians(float(np.clip(roll, -max_roll, max_roll)))
    yaw = math.radians(rng.uniform(-40, 40) * strength)
    pitch = math.radians(rng.uniform(-25, 25) * strength)
    cz, sz, cy, sy, cx, sx = (math.cos(roll), math.sin(roll), math.cos(yaw), math.sin(yaw), math.cos(pitch),
                              math.sin(pitch))
    rot = (np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]) @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
           @ np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]]))
    pts = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]]) @ rot.T
    focal = max(w, h) * float(rng.uniform(1.5, 4.0))
    return pts[:, :2] * (focal / (focal + pts[:, 2:3]))


def _paste(frame: Array, image: Array, alpha: Array, quad: Array) -> Array:
    """Warp ``image`` (with coverage ``alpha``, 0..1) onto ``quad`` of ``frame`` in place; returns the matrix."""
    h, w = image.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, frame.shape[1]), min(y1, frame.shape[0])
    matrix = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    local = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ matrix
    size = (int(x1 - x0), int(y1 - y0))
    warped = cv2.warpPerspective(image, local, size, flags=cv2.INTER_LINEAR).astype(np.float32)
    cover = cv2.warpPerspective(alpha.astype(np.float32), local, size, flags=cv2.INTER_LINEAR)[..., None]
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = np.clip(roi * (1 - cover) + warped * cover, 0, 255).astype(np.uint8)
    return matrix


def _ink(rendered: Array, wall: tuple[int, int, int]) -> tuple[Array, Array]:
    """A painted code lifted off its rendered wall: the ink colour for ``wall`` and its coverage (0..1). The
    renderer's wall has vertical ribs only, so its first row is the wall under every column."""
    img = rendered.astype(np.float32)
    bg = img[:1]
    drawn = 20.0 if float(bg.mean(axis=(0, 1)).sum()) > 450 else 240.0  # the renderer's own ink rule
    ink = 20 if sum(wall) > 450 else 240
    cover = np.abs(img - bg).sum(axis=2) / np.maximum(np.abs(drawn - bg).sum(axis=2), 1.0)
    return np.full_like(rendered, ink), np.clip(cover, 0, 1)


def _object_degrade(image: Array, rng: Rng, strength: float) -> Array:
    for p, step in ((0.3, degrade.dirt), (0.2, degrade.occlusion), (0.15, degrade.glare)):
        if rng.random() < p * strength:
            image = step(image, rng)
    return image


def _overlaps(quad: Array, others: list[Target]) -> bool:
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    for t in others:
        o = np.asarray(t.corners)
        if x0 < o[:, 0].max() + 4 and o[:, 0].min() - 4 < x1 and y0 < o[:, 1].max() + 4 and o[:, 1].min() - 4 < y1:
            return True
    return False


def place(frame: Array, sample: PlateText, mount: backdrop.Mount, rng: Rng, strength: float,
          others: list[Target]) -> Target | None:
    """Draw ``sample`` at ``mount`` (scaled to fit it, tilted, seen in perspective); None if it would not fit
    inside the frame or would overlap one of ``others``."""
    if sample.kind == "plate":
        px_per_mm = float(rng.uniform(0.25, 0.8))
        px_per_mm = min(px_per_mm, mount.width * 0.9 / 520)
        supersample = 1.5
        r = render_plate(sample, px_per_mm * supersample, rng)
        image, alpha = _object_degrade(r.image, rng, strength), np.ones(r.image.shape[:2], np.float32)
        outline = r.plate_corners
    else:
        char_h = float(rng.uniform(16, 56))
        if sample.layout == "horizontal":
            char_h = min(char_h, mount.width / 9)
        supersample = 1.5
        r = render_container(sample, max(10, round(char_h * supersample)), rng)
        image, alpha = _ink(r.image, mount.colour)
        image = _object_degrade(image, rng, strength)
        outline = r.text_corners
    h, w = r.image.shape[:2]
    max_roll = 20.0 if sample.kind == "plate" else 4.0  # a code is painted on an upright wall
    quad = view_quad(w / supersample, h / supersample, rng, strength, max_roll) + np.array([mount.x, mount.y])
    if (quad.min() < 2 or quad[:, 0].max() > frame.shape[1] - 2 or quad[:, 1].max() > frame.shape[0] - 2
            or _overlaps(quad, others)):
        return None
    matrix = _paste(frame, image, alpha, quad)
    return Target(sample, degrade.warp_points(matrix, r.text_corners), degrade.warp_points(matrix, outline))


def _plate(rng: Rng) -> PlateText:
    return GROUPS[str(rng.choice(PLATE_GROUPS))](rng)


def _layout(frame: Array, rng: Rng) -> list[tuple[backdrop.Mount, PlateText]]:
    """Draw a backdrop and the vehicle(s); return the mounts with what goes on each (1-3 of them)."""
    w, h = frame.shape[1], frame.shape[0]
    horizon = backdrop.sky_and_road(frame, rng)
    backdrop.structure(frame, rng, horizon)
    for _ in range(int(rng.integers(0, 3))):
        backdrop.sign(frame, rng)
    view = str(rng.choice(["front", "rear", "side"], p=[0.4, 0.4, 0.2]))
    jobs: list[tuple[backdrop.Mount, PlateText]] = []
    if view == "front":
        width = float(rng.uniform(600, 1500))
        mounts = backdrop.truck_front(frame, rng, float(rng.uniform(width * 0.4, w - width * 0.4)),
                                      float(rng.uniform(h * 0.7, h * 0.98)), width)
        jobs.append((mounts[0], _plate(rng)))
        if rng.random() < 0.5:  # a second, farther vehicle beside
            side = float(rng.choice([rng.uniform(150, 400), rng.uniform(w - 400, w - 150)]))
            bottom = float(rng.uniform(h * 0.45, h * 0.7))
            m = backdrop.truck_front(frame, rng, side, bottom, float(rng.uniform(300, 500)))
            jobs.append((m[0], _plate(rng)))
    elif view == "rear":
        width = float(rng.uniform(700, 1400))
        mounts = backdrop.container_rear(frame, rng, float(rng.uniform(width * 0.45, w - width * 0.45)),
                                         float(rng.uniform(-width * 0.4, h * 0.1)), width)
        picks = [m for m in mounts if rng.random() < 0.7] or [mounts[0]]
        jobs += [(m, container_code(rng, "vertical" if m.where == "post" else "horizontal")
                  if m.where != "chassis" else _plate(rng)) for m in picks]
    else:
        width = float(rng.uniform(1000, 1900))
        mounts = backdrop.container_side(frame, rng, float(rng.uniform(-width * 0.3, w - width)),
                                         float(rng.uniform(0, h * 0.4)), width)
        picks = [m for m in mounts if rng.random() < 0.6] or [mounts[0]]
        jobs += [(m, container_code(rng, "vertical" if m.where == "post" else "horizontal")) for m in picks]
    return jobs[:3]


_SCENE_STEPS = ((0.3, "night", degrade.night), (0.15, "glare", degrade.glare), (0.3, "blur", degrade.blur),
                (0.25, "motion_blur", degrade.motion_blur), (0.5, "noise", degrade.noise), (0.6, "jpeg", degrade.jpeg))


def scene(rng: Rng, strength: float = 1.0, size: tuple[int, int] = SIZE) -> Scene:
    """A random scene; ``strength`` 0..1 scales the angles and the chances of every degradation."""
    frame = np.zeros((size[1], size[0], 3), np.uint8)
    jobs = _layout(frame, rng)
    targets = []
    for mount, sample in jobs:
        for _ in range(4):  # a smaller or less tilted try when it falls off the frame
            target = place(frame, sample, mount, rng, strength, targets)
            if target is not None:
                targets.append(target)
                break
    backdrop.texture(frame, rng)
    applied = []
    for p, name, step in _SCENE_STEPS:
        if rng.random() < p * strength:
            frame = step(frame, rng)
            applied.append(name)
    return Scene(frame, tuple(targets), tuple(applied))


def label(s: Scene) -> dict[str, Any]:
    """A scene's ground truth as JSON-able data."""
    return {"degradations": list(s.degradations),
            "targets": [{"text": t.sample.text, "rows": list(t.sample.rows), "kind": t.kind, "group": t.group,
                         "style": t.sample.style, "corners": [list(p) for p in t.corners]} for t in s.targets]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--strength", type=float, default=1.0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--draw", action="store_true", help="outline the ground-truth regions")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    with open(args.out / "labels.jsonl", "w") as f:
        for i in range(args.count):
            s = scene(rng, args.strength)
            image = s.image.copy()
            if args.draw:
                for t in s.targets:
                    cv2.polylines(image, [np.asarray(t.corners, np.int32)], True, (0, 0, 255), 2)
                    cv2.circle(image, tuple(int(v) for v in t.corners[0]), 6, (0, 255, 0), -1)
            cv2.imwrite(str(args.out / f"scene_{i:04d}.jpg"), image)
            f.write(json.dumps({"file": f"scene_{i:04d}.jpg", **label(s)}, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
