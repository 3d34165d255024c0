"""OSDP packet framing (IEC 60839-11-5 / SIA OSDP 2.2): build, check and parse frames.

A frame on the wire::

    [0xFF mark] SOM(0x53) ADDR LEN_LSB LEN_MSB CTRL [SCB] CODE [DATA] [MAC(4)] CKSUM(1) | CRC16(2, LE)

``LEN`` counts every byte from SOM to the last check byte (not the optional mark). ``CTRL`` holds the
sequence number (bits 0-1), CRC-16 instead of the checksum (bit 2) and the security block flag (bit 3).
A reply has bit 7 of ``ADDR`` set. The security block is ``[length, type, data...]``; types 0x15-0x18
(an established secure channel) add a 4-byte MAC after the data.

:class:`FrameParser` turns any byte stream into frames: it skips garbage, resynchronises on the next
start byte after a bad header or check value, counts what it dropped, and never raises. Its work is linear
in its input, whatever the input and however it is cut (see the class).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware_bridge.osdp.checks import RunningChecks
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
    body_end = length - (2 if use_crc else 1)
    if use_crc:
        if crc16(raw[:body_end]) != raw[-2] | raw[-1] << 8:
            raise FrameError("bad CRC")
    elif checksum(raw[:body_end]) != raw[-1]:
        raise FrameError("bad checksum")
    code_at, data_end = _layout(raw, 0, length)
    return Frame(
        address=raw[1] & 0x7F,
        is_reply=bool(raw[1] & REPLY_FLAG),
        seq=ctrl & CTRL_SQN,
        code=raw[code_at],
        data=bytes(raw[code_at + 1 : data_end]),
        use_crc=use_crc,
        scb=bytes(raw[HEADER_LEN:code_at]) if ctrl & CTRL_SCB else None,
        mac=bytes(raw[data_end:body_end]) if data_end < body_end else None,
        raw=bytes(raw),
    )


def _layout(raw: bytes | bytearray, start: int, length: int) -> tuple[int, int]:
    """Where the code byte and the end of the data are in the frame at ``raw[start:start + length]``
    (the MAC, if any, runs from there to the check bytes). Raises :class:`FrameError` if they do not fit."""
    ctrl = raw[start + 4]
    body_end = start + length - (2 if ctrl & CTRL_CRC else 1)
    pos, data_end = start + HEADER_LEN, body_end
    if ctrl & CTRL_SCB:
        if body_end <= pos or raw[pos] < 2 or pos + raw[pos] > body_end:
            raise FrameError("bad security block")
        if raw[pos + 1] in MAC_TYPES:
            data_end -= MAC_LEN
        pos += raw[pos]
    if data_end <= pos:
        raise FrameError("no command or reply code")
    return pos, data_end


@dataclass(slots=True)
class ParserStats:
    frames: int = 0
    bad_frames: int = 0  # a start byte was found but the frame did not check out
    skipped_bytes: int = 0  # bytes dropped while hunting for a start byte
    examined_bytes: int = 0  # the parser's work: bytes taken in, passed by a search, read or handed out


_SLICE = 4096  # the most bytes taken in at once (bounds the buffer, however much one feed brings)


class FrameParser:
    """Incremental, tolerant parser: ``feed()`` bytes, get the complete valid frames. Never raises.

    ``require_crc`` drops frames protected only by the 8-bit checksum: a CP that speaks CRC-16 gets CRC-16
    replies, and on a noisy line a checksum lets one stray frame in 256 through where the CRC lets one
    in 65536.

    Resynchronisation: a start byte with a bad header, or whose frame fails its check, is dropped alone (a
    frame may begin in the bytes after it). A start byte whose frame is still arriving is dropped as soon as
    a complete CRC frame that begins after it ends before it would: a stray start byte claiming a long frame
    must not hide the real ones. Each decision is taken when it would be were the bytes fed one at a time,
    so the frames and the counts do not depend on how the input is cut.

    Work, linear in the input: each byte is passed once by each of two searches for start bytes and taken
    in at most once by the running check values (only if a check needs it); each start byte's header is read
    at most twice and its frame checked at most three times (as a candidate, as a frame inside one, once
    more if that makes a candidate drop), in O(1) each (:class:`RunningChecks`), whatever the frame's length
    and however many candidates overlap; a frame handed out is copied once. ``stats.examined_bytes`` counts
    that work.
    """

    def __init__(self, max_len: int = MAX_FRAME_LEN, *, require_crc: bool = False) -> None:
        self.max_len = max_len
        self.require_crc = require_crc
        self.stats = ParserStats()
        self._clear(0)

    def _clear(self, at: int) -> None:
        self._buf = bytearray()
        self._checks = RunningChecks()
        self._checked = 0  # how many of _buf's bytes _checks has taken in (it catches up when asked)
        self._base = self._end = at  # stream positions of _buf[0] and of the end of _buf
        self._pos = at  # the candidate start byte, or where the hunt for one goes on
        self._since: int | None = None  # bytes fed when the candidate became one; None while hunting
        self._stop: int | None = None  # where the candidate's frame ends, once its header is read
        self._clock = at  # bytes fed when the last candidate was decided, had they come one at a time
        self._scanned = at  # start bytes before this are noted as possible inner frames
        self._claims: list[tuple[int, int]] = []  # (end, start) of CRC frames that may begin inside a candidate

    def reset(self) -> None:
        """Drop buffered bytes (before a retransmission, say); they count as skipped."""
        self.stats.skipped_bytes += self._end - self._pos
        self._clear(self._end)

    def feed(self, data: bytes) -> list[Frame]:
        if len(data) > _SLICE:
            return [frame for i in range(0, len(data), _SLICE) for frame in self.feed(data[i : i + _SLICE])]
        self._buf += data
        self._end += len(data)
        frames: list[Frame] = []
        while self._hunt() and self._decide(frames):
            pass
        self._trim()
        return frames

    def _note_starts(self) -> None:
        """Each new start byte whose header has come in and that claims a CRC frame goes on ``_claims``."""
        buf, base, last = self._buf, self._base, self._end - HEADER_LEN
        pos = max(self._scanned, self._pos + 1)
        if pos > last:
            return
        while pos <= last:
            i = buf.find(SOM, pos - base, last - base + 1)
            if i < 0:
                self.stats.examined_bytes += last + 1 - pos
                break
            self.stats.examined_bytes += i + base - pos + HEADER_LEN
            length = buf[i + 2] | buf[i + 3] << 8
            if buf[i + 4] & CTRL_CRC and HEADER_LEN + 2 < length <= self.max_len:
                heapq.heappush(self._claims, (i + base + length, i + base))
            pos = i + base + 1
        self._scanned = last + 1

    def _hunt(self) -> bool:
        """Whether there is a candidate start byte; otherwise skip to the next one, or to the end."""
        if self._since is not None:
            return True
        buf, i = self._buf, self._pos - self._base
        found = buf.find(SOM, i)
        stop = found if found >= 0 else len(buf)
        # mark bytes (0xFF) before a start byte are part of the line discipline, not garbage
        self.stats.skipped_bytes += stop - i - buf.count(MARK, i, stop)
        self.stats.examined_bytes += stop - i + (found >= 0)
        self._pos = self._base + stop
        if found < 0:
            return False
        self._since = max(self._clock, self._pos + 1)
        return True

    def _decide(self, frames: list[Frame]) -> bool:
        """Hand out the candidate's frame (onto ``frames``) or drop it; False if it needs more bytes."""
        start, since = self._pos, self._since
        assert since is not None
        stop = self._stop
        if stop is None:
            if start + HEADER_LEN > self._end:
                return False
            stop = self._stop = self._frame_end(start - self._base)
            if stop is None:
                return self._drop(max(since, start + HEADER_LEN))
        if stop > since:  # still arriving when it became the candidate: a complete frame inside it wins
            inner = self._inner_frame_end(start, stop)
            if inner is not None:
                return self._drop(max(since, inner))
            if stop > self._end:
                return False
            at = stop
        else:
            at = since
        i = start - self._base
        if not self._checks_out(i, stop - start):
            return self._drop(at)
        self.stats.examined_bytes += stop - start
        self.stats.frames += 1
        self._clock, self._pos, self._since, self._stop = at, stop, None, None
        frames.append(decode_frame(bytes(self._buf[i : stop - self._base])))
        return True

    def _frame_end(self, i: int) -> int | None:
        """Where the candidate's frame ends, from its header; None if its length or CRC flag will not do."""
        buf = self._buf
        self.stats.examined_bytes += HEADER_LEN
        length = buf[i + 2] | buf[i + 3] << 8
        if length < HEADER_LEN + 2 or length > self.max_len or (self.require_crc and not buf[i + 4] & CTRL_CRC):
            return None
        return self._pos + length

    def _drop(self, at: int) -> bool:
        """Drop the start byte only: another frame may begin inside the bytes that followed it."""
        self.stats.bad_frames += 1
        self._clock, self._pos, self._since, self._stop = at, self._pos + 1, None, None
        return True

    def _inner_frame_end(self, start: int, stop: int) -> int | None:
        """The end of the first complete CRC frame that checks out, begins after ``start`` and ends before
        ``stop``. A claim is dropped once it begins before a candidate or fails its check, so each is checked
        once, or once more for each candidate it makes the parser drop."""
        self._note_starts()
        claims, end = self._claims, self._end
        while claims and claims[0][0] < stop and claims[0][0] <= end:
            claim_end, claim_start = claims[0]
            if claim_start > start and self._checks_out(claim_start - self._base, claim_end - claim_start):
                return claim_end
            heapq.heappop(claims)
        return None

    def _checks_out(self, i: int, length: int) -> bool:
        """Whether ``_buf[i:i + length]`` (complete, header read) is a frame :func:`decode_frame` accepts."""
        buf, checks = self._buf, self._checks
        if self._checked < len(buf):  # bytes skipped before this was needed are never taken in
            checks.add(buf[self._checked :])
            self.stats.examined_bytes += len(buf) - self._checked
            self._checked = len(buf)
        self.stats.examined_bytes += 4  # the check bytes and the security block's length and type
        if buf[i + 4] & CTRL_CRC:
            body_end = i + length - 2
            if checks.crc16(i, body_end) != buf[body_end] | buf[body_end + 1] << 8:
                return False
        elif not checks.sums_to_zero(i, i + length):
            return False
        try:
            _layout(buf, i, length)
        except FrameError:
            return False
        return True

    def _trim(self) -> None:
        """Forget the bytes before the candidate: all at once when all are consumed, else in large steps."""
        count = self._pos - self._base
        if self._pos == self._end and count:
            self._buf.clear()
            self._claims.clear()  # every claim begins before the end, so before any candidate to come
            if self._checked:
                self._checks, self._checked = RunningChecks(), 0
        elif count >= _SLICE:
            del self._buf[:count]
            if self._checked > count:
                self._checks.drop(count)
                self._checked -= count
            else:
                self._checks, self._checked = RunningChecks(), 0
            self._claims = [claim for claim in self._claims if claim[1] > self._pos]  # the rest are done with
            heapq.heapify(self._claims)
        else:
            return
        self._base = self._pos

