"""``camera.opencv``: one capture loop per camera, decoding in its own thread, the latest frame kept."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import cv2
import structlog

from gatecore.api import Camera, DeviceContext, DeviceError, Observation

from .config import OpenCvCameraConfig

log = structlog.get_logger("gate_camera")

Frame = Any  # a BGR numpy array as OpenCV decodes it


class OpenCvCamera(Camera):
    def __init__(self, ctx: DeviceContext, cfg: OpenCvCameraConfig) -> None:
        super().__init__(ctx)
        self.cfg = cfg
        self.is_file = not cfg.network() and cfg.device_number() is None and not cfg.source.startswith("/dev/")
        # its own thread: a blocked read never holds up the loop's default executor or another camera
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"camera-{ctx.lane_id}-{ctx.role}")
        self._frame: Frame | None = None
        self._t = 0.0
        self._seq = 0
        self._next: asyncio.Future[None] | None = None
        self.frames = 0
        self.failures = 0
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self.ctx.spawn(self._run(), "capture")

    async def stop(self) -> None:
        self._stopped = True
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- frames ------------------------------------------------------------------------------
    async def grab(self) -> Observation:
        """The latest frame if it is fresh, else the next one (at most ``timeout_ms``)."""
        if not self.online:
            raise DeviceError("camera offline")
        if self._frame is None or time.monotonic() - self._t > self.cfg.fresh_ms / 1000:
            try:
                await asyncio.wait_for(asyncio.shield(self._next_frame()), self.cfg.timeout_ms / 1000)
            except TimeoutError:
                raise DeviceError(f"no frame within {self.cfg.timeout_ms} ms") from None
        if self._frame is None:
            raise DeviceError("no frame yet")
        return Observation("frame", self.role, self._frame, t_mono=self._t, meta={"seq": self._seq})

    def _next_frame(self) -> asyncio.Future[None]:
        if self._next is None or self._next.done():
            self._next = asyncio.get_running_loop().create_future()
        return self._next

    def _publish(self, frame: Frame) -> None:
        self._frame, self._t = frame, time.monotonic()
        self._seq += 1
        self.frames += 1
        self.set_online(True)
        if self._next is not None and not self._next.done():
            self._next.set_result(None)

    # -- the capture loop --------------------------------------------------------------------
    async def _run(self) -> None:
        """Open, read until the source fails, report it, open again after a capped backoff."""
        try:
            await self._capture()
        except RuntimeError:
            if not self._stopped:  # after stop() the thread is gone: the loop just ends
                raise

    async def _capture(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.cfg.reopen_min_ms / 1000
        while True:
            why: str | None
            cap = await loop.run_in_executor(self._executor, self._open)
            if cap is None:
                why = "open_failed"  # a code: it goes into the log line
            else:
                try:
                    why, read = await self._read(cap)
                finally:
                    self._executor.submit(cap.release)  # not awaited: shutdown must not wait on it
                if read:
                    delay = self.cfg.reopen_min_ms / 1000
                if why is None:  # a looping file came to its end: start again at once
                    continue
            self.failures += 1
            log.warning("camera_failed", lane=self.ctx.lane_id, camera=self.role, why=why,
                        retry_in_s=round(delay, 2))
            self.set_online(False, why)
            await asyncio.sleep(delay)
            delay = min(self.cfg.reopen_max_ms / 1000, delay * 2)

    async def _read(self, cap: cv2.VideoCapture) -> tuple[str | None, int]:
        """Frames until the source fails: (why, frames read); why is None at the end of a looping file."""
        loop = asyncio.get_running_loop()
        fps = cap.get(cv2.CAP_PROP_FPS) if self.is_file else 0.0
        pace = 1 / fps if fps and fps > 0 else 0.0  # a file is played at its own rate, not as fast as it decodes
        read = 0
        while True:
            ok, frame = await loop.run_in_executor(self._executor, cap.read)
            if not ok or frame is None:
                if self.is_file and self.cfg.loop and read:
                    return None, read
                return "stream_ended", read  # or a read timed out
            read += 1
            self._publish(frame)
            if pace:
                await asyncio.sleep(pace)

    def _open(self) -> cv2.VideoCapture | None:
        """Runs in the camera's thread. OpenCV's own open and read timeouts bound every call."""
        ms = self.cfg.timeout_ms
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        number = self.cfg.device_number()
        if number is not None or self.cfg.source.startswith("/dev/"):
            cap = cv2.VideoCapture(number if number is not None else self.cfg.source, cv2.CAP_V4L2, params)
            with contextlib.suppress(cv2.error):
                if self.cfg.width:
                    cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.cfg.width)
                if self.cfg.height:
                    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.cfg.height)
        elif self.is_file and not Path(self.cfg.source).is_file():
            return None
        else:
            cap = cv2.VideoCapture(self._url(), cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def _url(self) -> str:
        """The source, with the credentials read from their secret references only now (never logged)."""
        if not (self.cfg.network() and self.cfg.username):
            return self.cfg.source
        url = urlsplit(self.cfg.source)
        secret = self.cfg.password.reveal() if self.cfg.password else ""
        auth = quote(self.cfg.username, safe="") + (":" + quote(secret, safe="") if secret else "")
        host = url.hostname or ""
        netloc = f"{auth}@{host}" + (f":{url.port}" if url.port else "")
        return urlunsplit((url.scheme, netloc, url.path, url.query, url.fragment))
