"""Simulated devices. Each can be told to fail, stall or drop off (``inject``)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np

from gatecore.api import (
    Aspect,
    Barrier,
    BarrierPosition,
    Camera,
    DeviceContext,
    DeviceError,
    Display,
    Lights,
    Observation,
    Presence,
    Reader,
)

from .world import LaneWorld


class SimFaults:
    """Fault injection shared by every simulated device."""

    mode: str | None = None
    lane_world: LaneWorld

    def inject(self, mode: str | None) -> None:
        """``fail``: commands raise; ``stall``: commands hang; ``drop``: off the bus; ``None``: healthy."""
        self.mode = mode
        self.set_online(mode not in ("drop", "fail"), f"simulated {mode}" if mode else "")  # type: ignore[attr-defined]

    async def _check(self) -> None:
        if self.mode in ("fail", "drop"):
            raise DeviceError(f"simulated {self.mode}")
        if self.mode == "stall":
            await asyncio.Event().wait()  # hangs until the caller's timeout cancels it


class SimPresence(SimFaults, Presence):
    def __init__(self, ctx: DeviceContext, world: LaneWorld) -> None:
        super().__init__(ctx)
        self.lane_world = world

    def set(self, occupied: bool) -> None:
        if self.mode is None:
            self.report_presence(occupied)
        else:
            self.occupied = occupied  # a faulty sensor reports nothing


class SimBarrier(SimFaults, Barrier):
    def __init__(self, ctx: DeviceContext, world: LaneWorld, travel_ms: int) -> None:
        super().__init__(ctx)
        self.lane_world = world
        self.travel = travel_ms / 1000
        self.position = BarrierPosition.CLOSED
        self.commands: list[tuple[float, str]] = []
        self._target = BarrierPosition.CLOSED
        self._moved = asyncio.Event()

    async def start(self) -> None:
        if self.travel > 0:
            self.ctx.spawn(self._motor(), "motor")

    async def open(self) -> None:
        await self._command(BarrierPosition.OPEN)

    async def close(self) -> None:
        await self._command(BarrierPosition.CLOSED)

    async def _command(self, target: BarrierPosition) -> None:
        await self._check()
        self.commands.append((time.monotonic(), target.value))
        self._target = target
        if self.travel == 0:
            self._arrive(target)
        else:
            self._moved.set()

    def _arrive(self, target: BarrierPosition) -> None:
        self.report_position(target)
        self.lane_world.changed()

    async def _motor(self) -> None:
        while True:
            await self._moved.wait()
            self._moved.clear()
            target = self._target
            if target == self.position:
                continue
            self.report_position(BarrierPosition.MOVING)
            await asyncio.sleep(self.travel)
            if self._target == target and self.mode is None:
                self._arrive(target)


class SimLights(SimFaults, Lights):
    aspect = Aspect.OFF

    def __init__(self, ctx: DeviceContext, world: LaneWorld) -> None:
        super().__init__(ctx)
        self.lane_world = world

    async def show(self, aspect: Aspect) -> None:
        await self._check()
        self.aspect = aspect  # traffic reacts to the barrier and the display only: no wake-up here


class SimDisplay(SimFaults, Display):
    text = ""
    version = 0  # counts messages, so a traffic agent reacts only to what is shown after it arrived

    def __init__(self, ctx: DeviceContext, world: LaneWorld) -> None:
        super().__init__(ctx)
        self.lane_world = world

    async def show_text(self, text: str) -> None:
        await self._check()
        self.text = text
        self.version += 1
        self.lane_world.changed()


class SimReader(SimFaults, Reader):
    def __init__(self, ctx: DeviceContext, world: LaneWorld) -> None:
        super().__init__(ctx)
        self.lane_world = world

    def present(self, text: str) -> None:
        if self.mode is None:
            self.report_scan(text)


class SimCamera(SimFaults, Camera):
    """Replays image files in name order, or shows the frame of what the traveller at the lane holds up
    (``shows``: their pass or face, from the world), or generates frames (a gradient, noise and a frame
    counter) when there is nothing to show."""

    def __init__(self, ctx: DeviceContext, world: LaneWorld, images: str | None, size: tuple[int, int],
                 seed: int, shows: str | None = None) -> None:
        super().__init__(ctx)
        self.lane_world = world
        self.files = sorted(p for p in Path(images).iterdir()
                            if p.suffix.lower() in (".png", ".jpg", ".jpeg")) if images else []
        self.size = size
        self.shows = shows
        self.count = 0
        self.rng = np.random.default_rng(seed)
        self._decoded: dict[Path, np.ndarray[Any, Any]] = {}  # the world's frames, each read once

    async def grab(self) -> Observation:
        await self._check()
        self.count += 1
        arrival = self.lane_world.current
        views = arrival.frames.get(self.shows, ()) if arrival is not None and self.shows else ()
        if views:
            shown = views[(self.count - 1) % len(views)]
            frame = self._decoded.get(shown)
            if frame is None:
                frame = await asyncio.get_running_loop().run_in_executor(None, _read_image, shown)
                self._decoded[shown] = frame
            else:
                await asyncio.sleep(0)  # a frame takes a moment to come, as from a real camera
            return Observation("frame", self.role, frame, meta={"seq": self.count})
        if self.files:
            path = self.files[(self.count - 1) % len(self.files)]
            frame = await asyncio.get_running_loop().run_in_executor(None, _read_image, path)
            meta: dict[str, Any] = {"file": path.name}
        else:
            frame = self._generate()
            meta = {}
        return Observation("frame", self.role, frame, meta={"seq": self.count, **meta})

    def _generate(self) -> np.ndarray[Any, Any]:
        w, h = self.size
        ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
        noise = self.rng.normal(0, 8, (h, w, 3)).astype(np.float32)
        frame: np.ndarray[Any, Any] = np.clip(ramp + noise + (self.count % 32), 0, 255).astype(np.uint8)
        return frame


def _read_image(path: Path) -> np.ndarray[Any, Any]:
    import cv2  # the 'vision' extra; only needed when replaying files

    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        raise DeviceError(f"cannot decode {path.name}")
    return frame
