"""gate_camera: lane cameras read through OpenCV (FFmpeg): RTSP/HTTP streams, V4L2 devices, video files.

    [[lanes.devices]]
    kind = "camera.opencv"
    role = "face"
    source = "rtsp://10.20.1.31/stream1"
    username = "gate"
    password = "env:BL1_CAM_PASSWORD"

A capture loop per camera decodes frames in its own thread and keeps the latest; ``grab()`` returns it
when it is fresh (``fresh_ms``) or waits for the next. A camera that cannot be opened or stops giving
frames is reported offline (its lane goes degraded) and is opened again with a capped backoff.

It reports nothing but its device events; frames never leave the controller, and its log lines carry
the lane, the camera's role and a code (``open_failed``, ``stream_ended``), never the source's URL.
"""

from __future__ import annotations

from collections.abc import Sequence

from gatecore.api import Device, DeviceConfig, DeviceContext, hookimpl

from .config import OpenCvCameraConfig
from .device import OpenCvCamera

__all__ = ["OpenCvCamera", "OpenCvCameraConfig"]


@hookimpl
def gatecore_device_kinds() -> Sequence[type[DeviceConfig]]:
    return (OpenCvCameraConfig,)


@hookimpl
def gatecore_make_device(config: DeviceConfig, ctx: DeviceContext) -> Device | None:
    return OpenCvCamera(ctx, config) if isinstance(config, OpenCvCameraConfig) else None
