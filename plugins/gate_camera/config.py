"""Profile model of the ``camera.opencv`` device kind."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from gatecore.api import Camera, DeviceConfig, SecretRef

NETWORK = ("rtsp", "rtsps", "http", "https")


class OpenCvCameraConfig(DeviceConfig):
    """A camera read through OpenCV (FFmpeg): an RTSP/HTTP stream, a V4L2 device, or a video file."""

    makes = Camera
    kind: Literal["camera.opencv"]
    source: str = Field(description="rtsp://host/path, /dev/video0 (or a device number), or a video file")
    username: str | None = Field(None, description="stream user name (network sources)")
    password: SecretRef | None = Field(None, description="stream password: 'env:NAME' or 'file:PATH'")
    loop: bool = Field(False, description="a video file starts again at its end (replays, test rigs)")
    fresh_ms: int = Field(500, gt=0, le=60_000, description="grab returns a frame younger than this, or waits "
                                                            "for the next one")
    timeout_ms: int = Field(3000, gt=0, le=60_000, description="opening or reading a frame that takes longer "
                                                               "fails, and the camera is offline")
    reopen_min_ms: int = Field(200, gt=0, le=60_000, description="first wait before opening again after a failure")
    reopen_max_ms: int = Field(5000, gt=0, le=600_000, description="longest wait between attempts to open")
    width: int | None = Field(None, gt=0, le=8192, description="ask a V4L2 device for this frame width")
    height: int | None = Field(None, gt=0, le=8192, description="ask a V4L2 device for this frame height")

    @model_validator(mode="after")
    def _credentials(self) -> OpenCvCameraConfig:
        url = urlsplit(self.source)
        if url.username or url.password:
            raise ValueError("put the stream's credentials in 'username' and 'password' (a secret reference), "
                             "not in the source URL")
        if (self.username or self.password) and url.scheme not in NETWORK:
            raise ValueError(f"username and password are for network sources ({', '.join(NETWORK)})")
        if self.password is not None and self.username is None:
            raise ValueError("'password' is set without 'username'")
        if self.reopen_min_ms > self.reopen_max_ms:
            raise ValueError("reopen_min_ms is longer than reopen_max_ms")
        return self

    def network(self) -> bool:
        return urlsplit(self.source).scheme in NETWORK

    def device_number(self) -> int | None:
        return int(self.source) if self.source.isdigit() else None
