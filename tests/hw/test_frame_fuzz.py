"""Fuzzing the frame parsers with random and mutated frames: nothing but the link's own errors escapes.

The default run is bounded; ``GATECORE_FUZZ_EXAMPLES=100000`` runs the full count per test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.bit_message import ReadCoilsResponse
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse

from firmware_bridge.osdp.frame import SCS_REPLY_ENC, FrameParser, decode_frame, encode_frame
from firmware_bridge.osdp.messages import MessageError, Reply, decode_event, decode_nak, decode_pdcap, decode_pdid
from firmware_bridge.osdp.secure import SecureChannelError, SecureSession

EXAMPLES = int(os.environ.get("GATECORE_FUZZ_EXAMPLES", "300"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)

OSDP_SEEDS = [
    encode_frame(1, 0, 0x60),
    encode_frame(1, 2, 0x40, reply=True),
    encode_frame(3, 1, 0x50, bytes.fromhex("00002000deadbeef"), reply=True),
    encode_frame(3, 3, 0x49, b"\x01\x00\x01\x00", reply=True, use_crc=False),
    encode_frame(5, 1, 0x45, bytes(12), reply=True, scb=bytes((2, SCS_REPLY_ENC)), mac_fn=lambda b: b"MAC4"),
]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A valid frame with a few bytes flipped, dropped, inserted or the tail cut."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "drop", "insert", "cut"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "drop" and data:
            del data[pos]
        elif op == "insert":
            data.insert(pos, draw(st.integers(0, 255)))
        elif op == "cut":
            del data[pos:]
    return bytes(data)


def streams(seeds: list[bytes]) -> st.SearchStrategy[list[bytes]]:
    piece = st.one_of(st.binary(max_size=64), st.sampled_from(seeds), mutated(seeds))
    return st.lists(piece, max_size=12)


@fuzz
@given(streams(OSDP_SEEDS), st.integers(1, 17), st.booleans())
def test_osdp_parser_never_raises_and_yields_only_checked_frames(pieces: list[bytes], chunk: int, crc: bool) -> None:
    stream = b"".join(pieces)
    parser = FrameParser(require_crc=crc)
    frames = []
    for i in range(0, len(stream), chunk):
        frames += parser.feed(stream[i : i + chunk])
    for frame in frames:
        assert decode_frame(frame.raw) == frame  # every frame it hands out passes the check values
    assert parser.stats.frames == len(frames)
    if crc:  # every frame that went in whole comes out: garbage before it never hides it
        intact = [p for p in pieces if p in OSDP_SEEDS and p[4] & 0x04]
        assert all(any(f.raw == p for f in frames) for p in intact)


@fuzz
@given(st.sampled_from(list(Reply)), st.binary(max_size=80))
def test_osdp_reply_decoders_raise_only_message_errors(code: Reply, data: bytes) -> None:
    for decode in (lambda: decode_event(1, code, data), lambda: decode_pdid(data),
                   lambda: decode_pdcap(data), lambda: decode_nak(data)):
        try:
            decode()
        except MessageError:
            pass


@fuzz
@given(st.binary(max_size=64), st.binary(min_size=0, max_size=8), st.binary(max_size=64))
def test_secure_channel_rejects_forged_replies_with_its_own_error(mac_input: bytes, mac: bytes, data: bytes) -> None:
    session = SecureSession(bytes(16), rnd_a=bytes(8))
    session.on_ccrypt(_ccrypt_for(session))
    session.on_rmac_i(_rmac_i_for(session))
    session.command_mac(b"\x53\x01\x0e\x00\x0d\x02\x15\x60")
    for step in (lambda: session.check_reply(mac_input, mac), lambda: session.decrypt_reply(data)):
        try:
            step()
        except SecureChannelError:
            pass


def _ccrypt_for(session: SecureSession) -> bytes:
    from firmware_bridge.osdp.secure import _ecb, derive_session_keys

    s_enc, _, _ = derive_session_keys(bytes(16), session.rnd_a)
    rnd_b = b"\x11" * 8
    return b"\x00" * 8 + rnd_b + _ecb(s_enc, session.rnd_a + rnd_b)


def _rmac_i_for(session: SecureSession) -> bytes:
    from firmware_bridge.osdp.secure import _ecb, derive_session_keys

    _, s_mac1, s_mac2 = derive_session_keys(bytes(16), session.rnd_a)
    rnd_b = b"\x11" * 8
    s_enc = derive_session_keys(bytes(16), session.rnd_a)[0]
    return _ecb(s_mac2, _ecb(s_mac1, _ecb(s_enc, rnd_b + session.rnd_a)))


# ---------------------------------------------------------------- Modbus (pymodbus' client framers)


def _modbus_seeds() -> list[tuple[str, bytes]]:
    seeds = []
    for name, framer in (("rtu", FramerRTU(DecodePDU(False))), ("tcp", FramerSocket(DecodePDU(False)))):
        for pdu in (ReadHoldingRegistersResponse(registers=[1, 2, 900], dev_id=1, transaction_id=7),
                    ReadCoilsResponse(bits=[True, False, True] + [False] * 5, dev_id=1, transaction_id=7)):
            seeds.append((name, framer.buildFrame(pdu)))
    return seeds


MODBUS_SEEDS = _modbus_seeds()


@st.composite
def checked_modbus_frames(draw: st.DrawFn) -> tuple[str, bytes]:
    """Frames whose envelope checks out (RTU CRC, MBAP length) around a random PDU: the decoders' turn."""
    body = bytes([draw(st.integers(1, 0x2B))]) + draw(st.binary(max_size=40))
    if draw(st.booleans()):
        frame = b"\x01" + body
        return "rtu", frame + FramerRTU.compute_CRC(frame).to_bytes(2, "big")
    return "tcp", b"\x00\x07\x00\x00" + (len(body) + 1).to_bytes(2, "big") + b"\x01" + body


def _modbus_input() -> st.SearchStrategy[tuple[str, bytes]]:
    raw = [s for _, s in MODBUS_SEEDS]
    return st.one_of(
        st.tuples(st.sampled_from(["rtu", "tcp"]), st.binary(max_size=80)),
        st.tuples(st.sampled_from(["rtu", "tcp"]), mutated(raw)),
        checked_modbus_frames(),
    )


@fuzz
@given(_modbus_input())
def test_modbus_response_parsing_raises_only_what_the_link_translates(case: tuple[str, bytes]) -> None:
    """The client framers either skip the bytes, return a PDU, or raise ModbusException -- which
    ModbusLink turns into LinkError. Anything else would escape the link."""
    kind, data = case
    framer = FramerRTU(DecodePDU(False)) if kind == "rtu" else FramerSocket(DecodePDU(False))
    try:
        framer.handleFrame(data, 1, 7 if kind == "tcp" else 0)
    except ModbusException:
        pass
