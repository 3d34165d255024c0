"""OSDP commands and replies: codes, command records, reply decoding.

Reply decoders raise :class:`MessageError` on a malformed body; the control panel counts and drops those.
Decoded replies that a PD volunteers in answer to a POLL (card reads, keypad, input/output/local
status) are also the events the control panel reports.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from firmware_bridge.errors import LinkError


class Cmd(IntEnum):
    POLL = 0x60
    ID = 0x61
    CAP = 0x62
    LSTAT = 0x64
    ISTAT = 0x65
    OSTAT = 0x66
    RSTAT = 0x67
    OUT = 0x68
    LED = 0x69
    BUZ = 0x6A
    TEXT = 0x6B
    COMSET = 0x6E
    KEYSET = 0x75
    CHLNG = 0x76
    SCRYPT = 0x77


class Reply(IntEnum):
    ACK = 0x40
    NAK = 0x41
    PDID = 0x45
    PDCAP = 0x46
    LSTATR = 0x48
    ISTATR = 0x49
    OSTATR = 0x4A
    RSTATR = 0x4B
    RAW = 0x50
    FMT = 0x51
    KEYPAD = 0x53
    COM = 0x54
    CCRYPT = 0x76
    RMAC_I = 0x78
    BUSY = 0x79


class NakCode(IntEnum):
    NONE = 0x00
    CHECK = 0x01  # checksum / CRC error
    LENGTH = 0x02  # command length error
    UNKNOWN_COMMAND = 0x03
    SEQUENCE = 0x04  # unexpected sequence number
    SC_UNSUPPORTED = 0x05  # secure channel not supported, or its conditions not met
    SC_REQUIRED = 0x06  # encryption required
    BIO_TYPE = 0x07
    BIO_FORMAT = 0x08
    RECORD = 0x09  # unable to process the command record


class Capability(IntEnum):
    CONTACT_STATUS = 1  # inputs
    OUTPUT_CONTROL = 2
    CARD_DATA_FORMAT = 3
    LED_CONTROL = 4
    AUDIBLE_OUTPUT = 5
    TEXT_OUTPUT = 6
    TIME_KEEPING = 7
    CHECK_CHARACTER = 8  # compliance 1: CRC-16 supported
    COMMUNICATION_SECURITY = 9  # compliance bit 0: AES-128
    RECEIVE_BUFFER = 10
    LARGEST_MESSAGE = 11
    SMART_CARD = 12
    READERS = 13
    BIOMETRICS = 14


class MessageError(LinkError):
    """A reply body does not match its code's layout."""


# ---------------------------------------------------------------- command records


class OutputControl(IntEnum):
    NOP = 0
    OFF = 1  # permanent off, abort any timed operation
    ON = 2  # permanent on, abort any timed operation
    OFF_AFTER_TIMER = 3
    ON_AFTER_TIMER = 4
    PULSE_ON = 5  # temporary on for the timer, then back to the permanent state
    PULSE_OFF = 6


@dataclass(frozen=True, slots=True)
class OutputCommand:
    output: int
    control: OutputControl
    timer_100ms: int = 0

    def encode(self) -> bytes:
        return struct.pack("<BBH", self.output, self.control, self.timer_100ms)


class LedColor(IntEnum):
    BLACK = 0
    RED = 1
    GREEN = 2
    AMBER = 3
    BLUE = 4
    MAGENTA = 5
    CYAN = 6
    WHITE = 7


@dataclass(frozen=True, slots=True)
class LedCommand:
    """A permanent LED state (on/off times in 100 ms units; on=1, off=0 is steady on)."""

    reader: int = 0
    led: int = 0
    color: LedColor = LedColor.GREEN
    off_color: LedColor = LedColor.BLACK
    on_time: int = 1
    off_time: int = 0
    temporary: bool = False
    timer_100ms: int = 0

    def encode(self) -> bytes:
        record = bytes((self.on_time, self.off_time, self.color, self.off_color))
        if self.temporary:  # set the temporary record, leave the permanent one alone
            return struct.pack("<BBB4sHB4s", self.reader, self.led, 2, record, self.timer_100ms, 0, bytes(4))
        return struct.pack("<BBB4sHB4s", self.reader, self.led, 0, bytes(4), 0, 1, record)


@dataclass(frozen=True, slots=True)
class BuzzerCommand:
    reader: int = 0
    on_time: int = 2  # 100 ms units
    off_time: int = 1
    count: int = 1
    tone: int = 2  # 1 = off, 2 = default tone

    def encode(self) -> bytes:
        return bytes((self.reader, self.tone, self.on_time, self.off_time, self.count))


@dataclass(frozen=True, slots=True)
class TextCommand:
    text: str
    reader: int = 0
    mode: int = 1  # 1 permanent, no wrap; 2 permanent, wrap; 3/4 temporary
    temp_time_s: int = 0
    row: int = 1
    column: int = 1

    def encode(self) -> bytes:
        body = self.text.encode("ascii", "replace")[:255]
        head = (self.reader, self.mode, self.temp_time_s, self.row, self.column, len(body))
        return bytes(head) + body


def keyset_data(scbk: bytes) -> bytes:
    if len(scbk) != 16:
        raise ValueError("an SCBK is 16 bytes")
    return bytes((0x01, 16)) + scbk


# ---------------------------------------------------------------- replies


@dataclass(frozen=True, slots=True)
class PdId:
    vendor_code: int
    model: int
    version: int
    serial_number: int
    firmware: tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class PdCapability:
    function: int
    compliance: int
    items: int


@dataclass(frozen=True, slots=True)
class Nak:
    code: int
    detail: bytes = b""


@dataclass(frozen=True, slots=True)
class CardRead:
    """osdp_RAW: ``bits`` significant bits of ``data``, MSB first. Card data is never logged."""

    address: int
    reader: int
    format: int  # 0 raw/unspecified, 1 Wiegand
    bits: int
    data: bytes


@dataclass(frozen=True, slots=True)
class FormattedCard:
    """osdp_FMT (deprecated in OSDP 2.2.2, still sent by older readers)."""

    address: int
    reader: int
    direction: int
    text: str


@dataclass(frozen=True, slots=True)
class KeypadEntry:
    address: int
    reader: int
    keys: bytes


@dataclass(frozen=True, slots=True)
class InputStatus:
    address: int
    states: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class OutputStatus:
    address: int
    states: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LocalStatus:
    address: int
    tamper: bool
    power_fail: bool


PdEvent = CardRead | FormattedCard | KeypadEntry | InputStatus | OutputStatus | LocalStatus


def decode_pdid(data: bytes) -> PdId:
    if len(data) != 12:
        raise MessageError("osdp_PDID is 12 bytes")
    vendor = data[0] | data[1] << 8 | data[2] << 16
    serial = struct.unpack_from("<I", data, 5)[0]
    return PdId(vendor, data[3], data[4], serial, (data[9], data[10], data[11]))


def decode_pdcap(data: bytes) -> tuple[PdCapability, ...]:
    if len(data) % 3:
        raise MessageError("osdp_PDCAP is a list of 3-byte records")
    return tuple(PdCapability(*data[i : i + 3]) for i in range(0, len(data), 3))


def decode_nak(data: bytes) -> Nak:
    if not data:
        raise MessageError("osdp_NAK carries an error code")
    return Nak(data[0], bytes(data[1:]))


def decode_event(address: int, code: int, data: bytes) -> PdEvent | None:
    """Decode a reply that carries an event or a status; None if ``code`` is not one of those."""
    decoder = _EVENT_DECODERS.get(code)
    return decoder(address, data) if decoder else None


def _raw(address: int, data: bytes) -> CardRead:
    if len(data) < 4:
        raise MessageError("osdp_RAW header is 4 bytes")
    bits = data[2] | data[3] << 8
    if len(data) - 4 != (bits + 7) // 8:
        raise MessageError("osdp_RAW bit count does not match the data")
    return CardRead(address, data[0], data[1], bits, bytes(data[4:]))


def _fmt(address: int, data: bytes) -> FormattedCard:
    if len(data) < 3 or len(data) - 3 != data[2]:
        raise MessageError("osdp_FMT character count does not match the data")
    return FormattedCard(address, data[0], data[1], data[3:].decode("ascii", "replace"))


def _keypad(address: int, data: bytes) -> KeypadEntry:
    if len(data) < 2 or len(data) - 2 != data[1]:
        raise MessageError("osdp_KEYPAD digit count does not match the data")
    return KeypadEntry(address, data[0], bytes(data[2:]))


def _istatr(address: int, data: bytes) -> InputStatus:
    return InputStatus(address, tuple(data))


def _ostatr(address: int, data: bytes) -> OutputStatus:
    return OutputStatus(address, tuple(data))


def _lstatr(address: int, data: bytes) -> LocalStatus:
    if len(data) != 2:
        raise MessageError("osdp_LSTATR is 2 bytes")
    return LocalStatus(address, bool(data[0]), bool(data[1]))


_EVENT_DECODERS: dict[int, Callable[[int, bytes], PdEvent]] = {
    Reply.RAW: _raw,
    Reply.FMT: _fmt,
    Reply.KEYPAD: _keypad,
    Reply.ISTATR: _istatr,
    Reply.OSTATR: _ostatr,
    Reply.LSTATR: _lstatr,
}
