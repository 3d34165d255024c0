"""gate_camera: frames decoded by OpenCV (FFmpeg) from real video files, in a running site; a camera
that disappears takes its lane to degraded and back; credentials never in the profile."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import cv2
import numpy as np
import pytest

from gate_camera import OpenCvCamera
from gatecore.api import DeviceError, LaneState, ProfileError, Site
from gatecore.profile import load_profile
from gatecore.testing import make_site, running, wait_for

W, H = 320, 240


def write_video(path: Path, frames: int = 40, fps: float = 50.0) -> None:
    """An MJPEG AVI whose frame i is a flat grey of level 5*i (mod 250) (so a decoded frame tells its index)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((H, W, 3), (5 * i) % 250, np.uint8))
    writer.release()


def profile(source: Path | str, extra: str = "") -> str:
    """A lane with a loop, a barrier and the camera; ``extra``: more camera keys, inline (", loop = true")."""
    cam = (f'{{ kind = "camera.opencv", role = "cam", source = "{source}", timeout_ms = 1000, reopen_min_ms = 20, '
           f"reopen_max_ms = 100{extra} }}")
    return f"""
[site]
id = "test/camera"
[plugins.gate_sim]
traffic = false
[[lanes]]
id = "l1"
policy = {{ recover_every_ms = 50 }}
devices = [{{ kind = "sim.presence", role = "entry" }}, {{ kind = "sim.barrier", role = "barrier", travel_ms = 0 }},
           {cam}]
"""


def camera(site: Site) -> OpenCvCamera:
    cam = site.lanes["l1"].devices["cam"]
    assert isinstance(cam, OpenCvCamera)
    return cam


def level(frame: np.ndarray) -> int:  # type: ignore[type-arg]
    return round(float(frame.mean()))


async def test_frames_are_decoded_from_a_looping_file_at_its_own_rate(tmp_path: Path) -> None:
    video = tmp_path / "lane.avi"
    write_video(video)
    site, _ = make_site(profile(video, ", loop = true, fresh_ms = 1000"), tmp_path)
    cam = camera(site)
    async with running(site):
        first = await cam.grab()
        await asyncio.sleep(0.1)
        second = await cam.grab()
        await wait_for(lambda: cam.frames > 45, timeout=10)  # 40 frames, then again from the start
    assert first.payload.shape == (H, W, 3) and first.payload.dtype == np.uint8
    assert second.meta["seq"] > first.meta["seq"] and level(second.payload) != level(first.payload)
    assert all(level(f.payload) % 5 in (0, 1, 4) for f in (first, second))  # flat grey, lossy but close
    assert cam.failures == 0 and cam.online


async def test_a_stale_frame_is_not_returned_grab_waits_for_the_next(tmp_path: Path) -> None:
    video = tmp_path / "lane.avi"
    write_video(video, frames=200, fps=20.0)
    site, _ = make_site(profile(video, ", fresh_ms = 10"), tmp_path)
    cam = camera(site)
    async with running(site):
        await cam.grab()
        await asyncio.sleep(0.2)  # the frame in hand is now older than fresh_ms
        seq = cam.frames
        frame = await cam.grab()
        assert frame.meta["seq"] > seq  # a new frame, not the one held


async def test_a_camera_that_goes_away_degrades_its_lane_and_comes_back(tmp_path: Path) -> None:
    video = tmp_path / "lane.avi"
    write_video(video, frames=25)
    site, _ = make_site(profile(video), tmp_path)  # no loop: after 25 frames (0.5 s) the "stream" has ended
    cam, lane = camera(site), site.lanes["l1"]
    async with running(site):
        await wait_for(lambda: cam.failures >= 1 and lane.state is LaneState.DEGRADED, timeout=10)
        with pytest.raises(DeviceError):
            await cam.grab()
        video.unlink()
        await asyncio.sleep(0.3)  # opening fails now, with the backoff capped at 100 ms
        write_video(video, frames=500, fps=25.0)  # 20 s: longer than the rest of the test
        await wait_for(lambda: lane.state is LaneState.IDLE and cam.online, timeout=10)
        assert (await cam.grab()).payload.shape == (H, W, 3)
    assert cam.failures >= 2


def test_credentials_are_references_and_only_for_network_sources(tmp_path: Path) -> None:
    cases = [
        ('source = "rtsp://gate:hunter2@10.0.0.5/s1"', "credentials in 'username' and 'password'"),
        ('source = "lane.avi", username = "gate"', "network sources"),
        ('source = "rtsp://10.0.0.5/s1", password = "env:CAM_PW_UNSET_FOR_TEST"', "CAM_PW_UNSET_FOR_TEST"),
    ]
    for text, message in cases:
        body = profile("x").replace('source = "x"', text)
        with pytest.raises(ProfileError) as err:
            make_site(body, tmp_path)
        assert message in str(err.value), str(err.value)


def test_the_stream_url_gets_the_credentials_only_when_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_PW_FOR_TEST", "p@ss/word")
    body = profile("x").replace('source = "x"', 'source = "rtsp://10.0.0.5:8554/s1", username = "gate", '
                                'password = "env:CAM_PW_FOR_TEST"')
    site, _ = make_site(body, tmp_path)
    cam = camera(site)
    assert cam.cfg.source == "rtsp://10.0.0.5:8554/s1"  # what the profile and any log show
    assert cam._url() == "rtsp://gate:p%40ss%2Fword@10.0.0.5:8554/s1"


async def test_face_crossings_are_decided_from_a_decoded_video_stream(tmp_path: Path) -> None:
    """The face plugin on camera.opencv instead of the simulated camera: resident 3 is let through."""
    import re

    from gate_face import testing as face_testing

    from .test_face_site import enroll, manager, write_profile

    path = write_profile(tmp_path, 3)
    enroll(tmp_path)
    video = tmp_path / "face.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 320))
    for i in range(50):
        image = np.zeros((320, 320, 3), np.uint8)
        face_testing.draw_face(image, 4, 5, 3, jitter=2 + i % 3)
        writer.write(image)
    writer.release()
    text = re.sub(r'kind = "sim.camera"\n  role = "face"\n  images = "[^"]*"',
                  f'kind = "camera.opencv"\n  role = "face"\n  source = "{video}"\n  loop = true', path.read_text())
    assert "camera.opencv" in text
    path.write_text(text)
    pm = manager()
    site = Site(load_profile(path, pm), pm)
    await site.run(crossings=2, duration=60)
    summary = site.summary()
    assert summary["crossings_completed"] >= 2 and summary["decisions"]["pass"] == sum(summary["decisions"].values())
    assert camera_frames(site) > 0


def camera_frames(site: Site) -> int:
    cam = site.lanes["egate-1"].devices["face"]
    assert isinstance(cam, OpenCvCamera)
    return cam.frames


class MjpegServer:
    """A network camera as many are: MJPEG over HTTP (multipart/x-mixed-replace) behind Basic auth.
    ``stall`` stops the frames without closing the connection; ``stop`` refuses everything."""

    def __init__(self, user: str, password: str) -> None:
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.stall = False
        self.refused = 0
        self.served = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode("latin-1")
            if f"authorization: {self.auth}".lower() not in head.lower():
                self.refused += 1
                writer.write(b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="cam"\r\n'
                             b"Content-Length: 0\r\n\r\n")
                await writer.drain()
                return
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            i = 0
            while True:
                if self.stall:
                    await asyncio.sleep(0.05)
                    continue
                _, jpg = cv2.imencode(".jpg", np.full((H, W, 3), (5 * i) % 250, np.uint8))
                data = jpg.tobytes()
                writer.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data)
                             + data + b"\r\n")
                await writer.drain()
                self.served += 1
                i += 1
                await asyncio.sleep(0.04)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()


async def stream_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str,
                      given: str) -> tuple[MjpegServer, Site]:
    """A camera server wanting ``password`` and a site whose profile gives ``given`` (from the environment)."""
    server = MjpegServer("gate", password)
    port = await server.start()
    monkeypatch.setenv("CAM_PW_FOR_TEST", given)
    body = profile(f"http://127.0.0.1:{port}/cam", ', username = "gate", password = "env:CAM_PW_FOR_TEST"')
    site, _ = make_site(body, tmp_path)
    return server, site


async def test_a_network_stream_with_credentials_that_stalls_degrades_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, site = await stream_site(tmp_path, monkeypatch, "s3cret:/x", "s3cret:/x")
    cam, lane = camera(site), site.lanes["l1"]
    try:
        async with running(site):
            first = await cam.grab()
            assert first.payload.shape == (H, W, 3)
            server.stall = True  # the camera hangs: no frame, connection open
            await wait_for(lambda: lane.state is LaneState.DEGRADED and not cam.online, timeout=10)
            server.stall = False
            await wait_for(lambda: lane.state is LaneState.IDLE and cam.online, timeout=10)
            assert (await cam.grab()).meta["seq"] > first.meta["seq"]
    finally:
        await server.close()
    assert server.refused >= 1  # FFmpeg answers the challenge with the password from the environment


async def test_a_wrong_stream_password_keeps_the_camera_offline(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    server, site = await stream_site(tmp_path, monkeypatch, "right", "wrong")
    cam, lane = camera(site), site.lanes["l1"]
    task = asyncio.create_task(site.run())  # not `running`: the lane may never be idle
    try:
        await wait_for(lambda: cam.failures >= 2 and lane.state is LaneState.DEGRADED, timeout=10)
        with pytest.raises(DeviceError):
            await cam.grab()
    finally:
        site.request_stop()
        await asyncio.wait_for(task, 10)
        await server.close()
    assert server.served == 0
