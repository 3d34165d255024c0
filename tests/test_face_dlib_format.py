"""dlib's serialisation as the converter reads it: numbers round-trip, and bytes that are not a model come
out as a FormatError (never another exception). Bounded example counts; GATECORE_FUZZ_EXAMPLES for more."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from face_models import networks, shape_predictor
from face_models.dlib_format import FormatError, Reader
from face_models.install import package_models

TOTAL = int(os.environ.get("GATECORE_FUZZ_EXAMPLES", "2000"))
FUZZ = settings(max_examples=max(1, TOTAL // 10), deadline=None, derandomize=TOTAL <= 2000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MMOD = (package_models()[0] / "mmod_human_face_detector.dat").read_bytes()


def dlib_int(v: int) -> bytes:
    body = abs(v).to_bytes(max(1, (abs(v).bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if v < 0 else 0)]) + body


def dlib_float(v: float) -> bytes:
    """dlib's float_details: an integer mantissa and a binary exponent (special exponents for inf, NaN)."""
    if math.isnan(v):
        return dlib_int(0) + dlib_int(32002)
    if math.isinf(v):
        return dlib_int(0) + dlib_int(32000 if v > 0 else 32001)
    n, d = float(v).as_integer_ratio()  # d is a power of two
    e = -(d.bit_length() - 1)
    while n and n % 2 == 0:  # a float32's mantissa then fits in 24 bits, as dlib writes it
        n, e = n // 2, e + 1
    return dlib_int(n) + dlib_int(e)


@FUZZ
@given(st.lists(st.one_of(st.integers(-(2**63) + 1, 2**63 - 1),
                          st.floats(width=32, allow_nan=True, allow_infinity=True)), max_size=40))
def test_numbers_round_trip(values: list[int | float]) -> None:
    data = b"".join(dlib_float(v) if isinstance(v, float) else dlib_int(v) for v in values)
    r = Reader(data)
    for v in values:
        got = r.read_float() if isinstance(v, float) else r.read_int()
        assert got == v or (isinstance(v, float) and math.isnan(v) and math.isnan(got))
    assert r.at_end()
    floats = [v for v in values if isinstance(v, float)]
    packed = Reader(b"".join(dlib_float(v) for v in floats)).floats(len(floats))
    np.testing.assert_array_equal(np.array(packed, np.float64), np.array(floats, np.float64))


def test_a_shape_predictor_header_of_68_points_is_refused_before_the_rest_is_read() -> None:
    data = dlib_int(1) + dlib_int(-136) + dlib_int(-1) + dlib_float(0.5) * 136 + b"\xff" * 64
    with pytest.raises(shape_predictor.WrongModel, match="predicts 68 points"):
        shape_predictor.read(data, parts=5)
    with pytest.raises(FormatError):  # without the check the garbage after it is what fails
        shape_predictor.read(data)


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_are_a_format_error(data: bytes) -> None:
    for read in (networks.read_mmod, networks.read_resnet, shape_predictor.read):
        with pytest.raises(FormatError):
            read(data)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(MMOD) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, len(MMOD)))
def test_a_damaged_detector_file_reads_or_is_a_format_error(edits: list[tuple[int, int]], cut: int) -> None:
    """Bytes changed and the file cut short: either it still reads (a changed weight) or FormatError."""
    data = bytearray(MMOD)
    for at, value in edits:
        data[at] = value
    try:
        net = networks.read_mmod(bytes(data[:cut]) if cut < len(MMOD) else bytes(data))
    except FormatError:
        return
    assert len(net.layers) == len(networks.mmod_layers())
