"""The OSDP stream parser as it was on main before issue 11 item 8 (commit 27977d1), kept as the tests' oracle.

Fed one byte at a time it is what a serial line shows it; the new parser must hand out the same frames and
count the same bad frames and skipped bytes, however its input is cut. It rescans every start byte in its
buffer on each feed (the quadratic cost the issue measured), so use it on small streams only.
"""

from __future__ import annotations

from firmware_bridge.osdp.frame import (
    CTRL_CRC,
    HEADER_LEN,
    MARK,
    MAX_FRAME_LEN,
    SOM,
    Frame,
    FrameError,
    ParserStats,
    decode_frame,
)


class PreviousFrameParser:
    """main's FrameParser, unchanged but for its name."""

    def __init__(self, max_len: int = MAX_FRAME_LEN, *, require_crc: bool = False) -> None:
        self.max_len = max_len
        self.require_crc = require_crc
        self.stats = ParserStats()
        self._buf = bytearray()

    def reset(self) -> None:
        """Drop buffered bytes (before a retransmission, say); they count as skipped."""
        self.stats.skipped_bytes += len(self._buf)
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while True:
            frame, progressed = self._next()
            if frame is not None:
                frames.append(frame)
            elif not progressed:
                return frames

    def _next(self) -> tuple[Frame | None, bool]:
        buf = self._buf
        start = buf.find(SOM)
        if start < 0:
            self._skip(len(buf))
            return None, False
        if start:
            self._skip(start)
        if len(buf) < HEADER_LEN:
            return None, False
        length = buf[2] | buf[3] << 8
        if length < HEADER_LEN + 2 or length > self.max_len or (self.require_crc and not buf[4] & CTRL_CRC):
            self._bad()
            return None, True
        if len(buf) < length:
            if self._complete_frame_after_start():
                self._bad()  # a long "length" from a stray start byte must not hide a real frame
                return None, True
            return None, False
        try:
            frame = decode_frame(bytes(buf[:length]))
        except FrameError:
            self._bad()
            return None, True
        del buf[:length]
        self.stats.frames += 1
        return frame, True

    def _complete_frame_after_start(self) -> bool:
        """Whether a whole CRC-checked frame already sits after the (incomplete) candidate's start byte."""
        buf = self._buf
        i = buf.find(SOM, 1)
        while 0 < i <= len(buf) - HEADER_LEN - 2:
            length = buf[i + 2] | buf[i + 3] << 8
            if buf[i + 4] & CTRL_CRC and HEADER_LEN + 2 < length <= len(buf) - i:
                try:
                    decode_frame(bytes(buf[i : i + length]))
                    return True
                except FrameError:
                    pass
            i = buf.find(SOM, i + 1)
        return False

    def _skip(self, count: int) -> None:
        skipped = self._buf[:count]
        # mark bytes (0xFF) before a start byte are part of the line discipline, not garbage
        self.stats.skipped_bytes += count - skipped.count(MARK)
        del self._buf[:count]

    def _bad(self) -> None:
        """Drop the start byte only: another frame may begin inside the bytes that followed it."""
        self.stats.bad_frames += 1
        del self._buf[:1]
