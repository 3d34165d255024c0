"""OSDP framing: check values, encode/decode, and the tolerant stream parser."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.osdp.checks import RunningChecks
from firmware_bridge.osdp.frame import (
    SCS_CMD_ENC,
    FrameError,
    FrameParser,
    checksum,
    crc16,
    decode_frame,
    encode_frame,
)

# captured from libosdp 3.2.9 (PD address 1): osdp_POLL with sequence 0 and its osdp_ACK reply
POLL_SEQ0 = bytes.fromhex("530108000460ba00")
ACK_SEQ0 = bytes.fromhex("5381080004400806")


def test_crc16_matches_frames_libosdp_sent() -> None:
    for frame in (POLL_SEQ0, ACK_SEQ0):
        assert crc16(frame[:-2]) == frame[-2] | frame[-1] << 8


@settings(max_examples=int(os.environ.get("GATECORE_FUZZ_EXAMPLES", "300")), deadline=None)
@given(st.binary(max_size=300), st.integers(0, 300), st.data())
def test_running_check_values_of_any_window_equal_the_direct_ones(data: bytes, cut: int, draw: st.DataObject) -> None:
    checks = RunningChecks()
    checks.add(data[:cut])
    checks.add(data[cut:])
    dropped = draw.draw(st.integers(0, len(data)))
    checks.drop(dropped)
    rest = data[dropped:]
    start = draw.draw(st.integers(0, len(rest)))
    end = draw.draw(st.integers(start, len(rest)))
    assert checks.crc16(start, end) == crc16(rest[start:end])
    assert checks.sums_to_zero(start, end) == (checksum(rest[start:end]) == 0)


def test_encode_reproduces_a_libosdp_frame_byte_for_byte() -> None:
    assert encode_frame(1, 0, 0x60) == POLL_SEQ0
    assert encode_frame(1, 0, 0x40, reply=True) == ACK_SEQ0


def test_checksum_makes_the_byte_sum_zero() -> None:
    body = bytes.fromhex("5301070001 60".replace(" ", ""))
    assert (sum(body) + checksum(body)) & 0xFF == 0


def test_decode_round_trips_checksum_and_crc_frames() -> None:
    for use_crc in (True, False):
        raw = encode_frame(0x12, 3, 0x68, b"\x01\x02\x00\x00", use_crc=use_crc)
        frame = decode_frame(raw)
        fields = (frame.address, frame.seq, frame.code, frame.data, frame.is_reply)
        assert fields == (0x12, 3, 0x68, b"\x01\x02\x00\x00", False)


def test_secure_frame_splits_block_data_and_mac() -> None:
    raw = encode_frame(3, 1, 0x69, b"E" * 16, scb=bytes((2, SCS_CMD_ENC)), mac_fn=lambda body: b"MACS")
    frame = decode_frame(raw)
    assert frame.scb == bytes((2, SCS_CMD_ENC))
    assert frame.data == b"E" * 16
    assert frame.mac == b"MACS"
    assert frame.mac_input == raw[:-6]


@pytest.mark.parametrize("index", [1, 4, 5, 7])
def test_a_flipped_bit_is_caught(index: int) -> None:
    raw = bytearray(POLL_SEQ0)
    raw[index] ^= 0x10
    with pytest.raises(FrameError):
        decode_frame(bytes(raw))


def test_parser_skips_garbage_and_finds_frames_split_anywhere() -> None:
    stream = b"\x00\x13garbage" + b"\xff" + POLL_SEQ0 + b"\x53\x53\x01" + ACK_SEQ0
    parser = FrameParser()
    frames = []
    for i in range(len(stream)):
        frames += parser.feed(stream[i : i + 1])
    assert [f.raw for f in frames] == [POLL_SEQ0, ACK_SEQ0]
    assert parser.stats.frames == 2
    assert parser.stats.skipped_bytes == 10  # 9 of garbage, the 0x01 after the stray start bytes
    assert parser.stats.bad_frames >= 2  # the stray start bytes before ACK_SEQ0


def test_parser_resynchronises_inside_a_corrupt_frame() -> None:
    corrupt = bytearray(ACK_SEQ0)
    corrupt[-1] ^= 1
    parser = FrameParser()
    # a frame that starts inside the bytes of a bad one must still be found
    frames = parser.feed(bytes(corrupt[:4]) + POLL_SEQ0)
    assert [f.raw for f in frames] == [POLL_SEQ0]
    assert parser.stats.bad_frames == 1


def test_parser_rejects_absurd_lengths_without_waiting_for_them() -> None:
    parser = FrameParser(max_len=64)
    assert parser.feed(b"\x53\x01\xff\x7f\x04" + POLL_SEQ0) == [decode_frame(POLL_SEQ0)]
    assert parser.stats.bad_frames == 1
