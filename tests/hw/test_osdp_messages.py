"""OSDP command records and reply decoding, byte by byte against the layouts of the standard."""

from __future__ import annotations

import pytest

from firmware_bridge.osdp.messages import (
    BuzzerCommand,
    CardRead,
    FormattedCard,
    InputStatus,
    KeypadEntry,
    LedColor,
    LedCommand,
    LocalStatus,
    MessageError,
    OutputCommand,
    OutputControl,
    Reply,
    TextCommand,
    decode_event,
    decode_nak,
    decode_pdcap,
    decode_pdid,
    keyset_data,
)


def test_command_records() -> None:
    assert OutputCommand(1, OutputControl.PULSE_ON, 0x0203).encode() == bytes.fromhex("01050302")
    led = LedCommand(reader=0, led=1, color=LedColor.RED).encode()
    assert len(led) == 14 and led[:3] == b"\x00\x01\x00" and led[9:] == bytes((1, 1, 0, LedColor.RED, 0))
    temp = LedCommand(led=0, color=LedColor.GREEN, temporary=True, timer_100ms=50).encode()
    assert temp[2:9] == bytes((2, 1, 0, LedColor.GREEN, 0, 50, 0)) and temp[9] == 0
    assert BuzzerCommand(on_time=3, off_time=1, count=2).encode() == bytes((0, 2, 3, 1, 2))
    assert TextCommand("OK", row=2, column=3).encode() == bytes((0, 1, 0, 2, 3, 2)) + b"OK"
    assert keyset_data(bytes(range(16)))[:2] == b"\x01\x10"
    with pytest.raises(ValueError):
        keyset_data(b"short")


def test_reply_decoding() -> None:
    pd_id = decode_pdid(bytes.fromhex("5634120302d4c3b2a1010203"))
    assert (pd_id.vendor_code, pd_id.model, pd_id.version, pd_id.serial_number, pd_id.firmware) == (
        0x123456, 3, 2, 0xA1B2C3D4, (1, 2, 3))
    caps = decode_pdcap(bytes.fromhex("010104020102"))
    assert [(c.function, c.compliance, c.items) for c in caps] == [(1, 1, 4), (2, 1, 2)]
    assert decode_nak(b"\x06").code == 6
    assert decode_event(3, Reply.RAW, bytes.fromhex("0001 1a00 aabbcc00".replace(" ", ""))) == CardRead(
        3, 0, 1, 26, bytes.fromhex("aabbcc00"))
    assert decode_event(3, Reply.FMT, b"\x00\x00\x041234") == FormattedCard(3, 0, 0, "1234")
    assert decode_event(3, Reply.KEYPAD, b"\x01\x02#*") == KeypadEntry(3, 1, b"#*")
    assert decode_event(3, Reply.ISTATR, b"\x00\x01") == InputStatus(3, (0, 1))
    assert decode_event(3, Reply.LSTATR, b"\x01\x00") == LocalStatus(3, True, False)
    assert decode_event(3, Reply.ACK, b"") is None


@pytest.mark.parametrize(("code", "data"), [
    (Reply.RAW, b"\x00\x00\x20\x00\x01"),  # 32 bits announced, 8 sent
    (Reply.FMT, b"\x00\x00\x05AB"),
    (Reply.KEYPAD, b"\x00"),
    (Reply.LSTATR, b"\x00"),
])
def test_malformed_replies_are_message_errors(code: Reply, data: bytes) -> None:
    with pytest.raises(MessageError):
        decode_event(1, code, data)
