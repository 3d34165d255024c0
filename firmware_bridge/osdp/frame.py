"""OSDP packet framing (IEC 60839-11-5 / SIA OSDP 2.2): build, check and parse frames.

A frame on the wire::

    [0xFF mark] SOM(0x53) ADDR LEN_LSB LEN_MSB CTRL [SCB] CODE [DATA] [MAC(4)] CKSUM(1) | CRC16(2, LE)

``LEN`` counts every byte from SOM to the last check byte (not the optional mark). ``CTRL`` holds the
sequence number (bits 0-1), CRC-16 instead of the checksum (bit 2) and the security block flag (bit 3).
A reply has bit 7 of ``ADDR`` set. The security block is ``[length, type, data...]``; types 0x15-0x18
(an established secure channel) add a 4-byte MAC after the data.

:class:`FrameParser` turns any byte stream into frames: it skips garbage, resynchronises on the next
start byte after a bad header or check value, counts what it dropped, and never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from firmware_bridge.osdp.checks import checksum as checksum
from firmware_bridge.osdp.checks import crc16 as crc16

SOM = 0x53
MARK = 0xFF
BROADCAST = 0x7F
REPLY_FLAG = 0x80

CTRL_SQN = 0x03
CTRL_CRC = 0x04
CTRL_SCB = 0x08

HEADER_LEN = 5
MAC_LEN = 4
MAX_FRAME_LEN = 1440  # the largest packet the spec allows a PD to advertise; we never need more

SCS_CHLNG = 0x11  # CP -> PD, osdp_CHLNG
SCS_CCRYPT = 0x12  # PD -> CP, osdp_CCRYPT
SCS_SCRYPT = 0x13  # CP -> PD, osdp_SCRYPT
SCS_RMAC_I = 0x14  # PD -> CP, osdp_RMAC_I
SCS_CMD_MAC = 0x15  # CP -> PD, MAC, data in clear (no data)
SCS_REPLY_MAC = 0x16  # PD -> CP, MAC, data in clear (no data)
SCS_CMD_ENC = 0x17  # CP -> PD, MAC, data encrypted
SCS_REPLY_ENC = 0x18  # PD -> CP, MAC, data encrypted
MAC_TYPES = frozenset({SCS_CMD_MAC, SCS_REPLY_MAC, SCS_CMD_ENC, SCS_REPLY_ENC})

MacFn = Callable[[bytes], bytes]  # given the bytes SOM .. data, returns the 4 MAC bytes


@dataclass(frozen=True, slots=True)
class Frame:
    """One checked OSDP frame. ``data`` is as on the wire (still encrypted under SCS 0x17/0x18)."""

    address: int
    is_reply: bool
    seq: int
    code: int
    data: bytes = b""
    use_crc: bool = True
    scb: bytes | None = None  # the whole security block, length byte included
    mac: bytes | None = None
    raw: bytes = field(default=b"", repr=False)  # SOM .. last check byte

    @property
    def scb_type(self) -> int | None:
        return self.scb[1] if self.scb else None

    @property
    def mac_input(self) -> bytes:
        """The bytes a MAC covers: SOM through the end of the data."""
        return self.raw[: len(self.raw) - (2 if self.use_crc else 1) - MAC_LEN]


def encode_frame(
    address: int,
    seq: int,
    code: int,
    data: bytes = b"",
    *,
    reply: bool = False,
    use_crc: bool = True,
    scb: bytes | None = None,
    mac_fn: MacFn | None = None,
) -> bytes:
    """Build a frame. ``mac_fn`` (given the bytes SOM..data) returns the 4 MAC bytes to append."""
    if not 0 <= address <= BROADCAST or not 0 <= seq <= 3:
        raise ValueError("address must be 0..127 and seq 0..3")
    scb = scb or b""
    mac_len = MAC_LEN if mac_fn is not None else 0
    length = HEADER_LEN + len(scb) + 1 + len(data) + mac_len + (2 if use_crc else 1)
    if length > MAX_FRAME_LEN:
        raise ValueError(f"frame of {length} bytes is too long")
    ctrl = seq | (CTRL_CRC if use_crc else 0) | (CTRL_SCB if scb else 0)
    addr = address | (REPLY_FLAG if reply else 0)
    body = bytes((SOM, addr, length & 0xFF, length >> 8, ctrl)) + scb + bytes((code,)) + data
    if mac_fn is not None:
        body += mac_fn(body)
    if use_crc:
        crc = crc16(body)
        return body + bytes((crc & 0xFF, crc >> 8))
    return body + bytes((checksum(body),))


class FrameError(ValueError):
    """A frame's bytes are not a valid OSDP frame."""


def decode_frame(raw: bytes) -> Frame:
    """Check and split one complete frame (SOM .. check bytes, no mark). Raises :class:`FrameError`."""
    if len(raw) < HEADER_LEN + 2 or raw[0] != SOM:
        raise FrameError("short frame or no start byte")
    length = raw[2] | raw[3] << 8
    if length != len(raw):
        raise FrameError("length field does not match")
    ctrl = raw[4]
    use_crc = bool(ctrl & CTRL_CRC)
    check_len = 2 if use_crc else 1
    body = raw[:-check_len]
    if use_crc:
        if crc16(body) != raw[-2] | raw[-1] << 8:
            raise FrameError("bad CRC")
    elif checksum(body) != raw[-1]:
        raise FrameError("bad checksum")
    return _split(raw, body, ctrl, use_crc)


def _split(raw: bytes, body: bytes, ctrl: int, use_crc: bool) -> Frame:
    pos = HEADER_LEN
    scb = None
    if ctrl & CTRL_SCB:
        if len(body) <= pos or body[pos] < 2 or pos + body[pos] > len(body):
            raise FrameError("bad security block")
        scb = body[pos : pos + body[pos]]
        pos += len(scb)
    end = len(body)
    mac = None
    if scb is not None and scb[1] in MAC_TYPES:
        end -= MAC_LEN
        mac = body[end:]
    if end <= pos:
        raise FrameError("no command or reply code")
    return Frame(
        address=raw[1] & 0x7F,
        is_reply=bool(raw[1] & REPLY_FLAG),
        seq=ctrl & CTRL_SQN,
        code=body[pos],
        data=bytes(body[pos + 1 : end]),
        use_crc=use_crc,
        scb=bytes(scb) if scb is not None else None,
        mac=bytes(mac) if mac is not None else None,
        raw=bytes(raw),
    )


@dataclass(slots=True)
class ParserStats:
    frames: int = 0
    bad_frames: int = 0  # a start byte was found but the frame did not check out
    skipped_bytes: int = 0  # bytes dropped while hunting for a start byte


class FrameParser:
    """Incremental, tolerant parser: ``feed()`` bytes, get the complete valid frames. Never raises.

    ``require_crc`` drops frames protected only by the 8-bit checksum: a CP that speaks CRC-16 gets CRC-16
    replies, and on a noisy line a checksum lets one stray frame in 256 through where the CRC lets one
    in 65536.
    """

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
