"""Deblurring in the reader's ladder: blur estimates, deconvolution of known kernels, sharp frames, bursts.

The property tests run a bounded number of examples (``GATECORE_FUZZ_EXAMPLES`` scales them up).
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate_barcode import synth
from gate_barcode.deblur import (
    ESTIMATE_MS,
    UNBLUR,
    Blur,
    Memo,
    Source,
    Unblur,
    estimate,
    line_kernel,
    smeared,
    wiener,
)
from gate_barcode.ladder import LADDER
from gate_barcode.reader import BarcodeReader, Code, ZxingBackend
from gate_barcode.regions import focus, region_kind

EXAMPLES = max(1, int(os.environ.get("GATECORE_FUZZ_EXAMPLES", "2000")) // 200)  # 10 by default
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 10,
                    suppress_health_check=[HealthCheck.too_slow])
NO_DEBLUR = tuple(r for r in LADDER if not isinstance(r, Unblur))


def _smeared(frame: np.ndarray, blur: Blur, noise: float = 1.0, seed: int = 0) -> np.ndarray:
    """``frame`` convolved with ``blur``'s kernel, plus a little sensor noise."""
    out = np.asarray(cv2.filter2D(frame.astype(np.float32), -1, blur.kernel(), borderType=cv2.BORDER_REFLECT))
    out += np.random.default_rng(seed).normal(0.0, noise, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _texts(img: np.ndarray) -> list[str]:
    return [text for _, _, text, _, _ in ZxingBackend().decode(img)]


def _angle_error(a: float, b: float) -> float:
    return abs((a - b + np.pi / 2) % np.pi - np.pi / 2)


# (format, payload, module px, the known kernel): each defeats a plain decode (checked in the tests)
KNOWN = [
    ("QRCode", "GP1:DEBLUR-KNOWN-KERNEL-0001", 3.0, Blur("motion", 9.0, 0.0)),
    ("QRCode", "GP1:DEBLUR-KNOWN-KERNEL-0002", 3.0, Blur("motion", 10.0, np.radians(30))),
    ("DataMatrix", "MSKU1234565/BL-778", 3.0, Blur("motion", 9.0, np.radians(60))),
    ("Code128", "MSKU1234565", 2.5, Blur("motion", 12.0, np.radians(10))),
    ("EAN13", "5901234123457", 2.5, Blur("motion", 14.0, np.radians(-20))),
    ("QRCode", "GP1:DEBLUR-DEFOCUS-0005", 3.5, Blur("defocus", 3.5)),
]


def _known(case: tuple[str, str, float, Blur]) -> np.ndarray:
    fmt, text, module, blur = case
    return _smeared(synth.single_code_frame(text, fmt, module, size=(400, 480), background=200), blur)


@pytest.mark.parametrize("case", KNOWN, ids=[f"{c[0]}-{c[3].kind}-{c[3].size:g}" for c in KNOWN])
def test_the_deblurring_step_returns_the_text_of_a_frame_blurred_by_a_known_kernel(
        case: tuple[str, str, float, Blur]) -> None:
    frame, text = _known(case), case[1]
    assert text not in _texts(frame)
    memo: Memo = {}
    whole = Source(frame, (0, 0, frame.shape[1], frame.shape[0]), (0, 0))
    variants = [step(frame) for step in (u.bind(memo, whole) for u in UNBLUR)]
    assert any(v is not None and text in _texts(v[0]) for v in variants)


@pytest.mark.parametrize("case", KNOWN, ids=[f"{c[0]}-{c[3].kind}-{c[3].size:g}" for c in KNOWN])
def test_the_reader_reads_a_known_blur_that_its_other_rungs_cannot(case: tuple[str, str, float, Blur]) -> None:
    frame, text = _known(case), case[1]
    assert BarcodeReader(budget_ms=1e6, ladder=NO_DEBLUR).read(frame) == []
    reader = BarcodeReader(budget_ms=1e6)
    assert [c.text for c in reader.read(frame)] == [text]
    assert reader.last_stats.deblurs >= 1


QR = synth.single_code_frame("GP1:PROPERTY-OF-THE-ESTIMATE-000123456789", "QRCode", 3.0, size=(360, 360),
                             background=200)
BARS = synth.single_code_frame("MSKU1234565", "Code128", 2.5, size=(300, 420), background=200)


@PROPERTY
@given(length=st.floats(5.0, 16.0), degrees=st.floats(0.0, 180.0))
def test_a_smear_of_a_matrix_code_is_read_off_to_a_pixel_and_a_few_degrees(length: float, degrees: float) -> None:
    blur = Blur("motion", length, np.radians(degrees))
    first = estimate(_smeared(QR, blur, seed=int(degrees))).blurs[0]
    assert first.kind == "motion"
    assert abs(first.size - length) <= 1.2
    assert _angle_error(first.angle, blur.angle) <= np.radians(8)


@PROPERTY
@given(length=st.floats(5.0, 12.0), degrees=st.floats(-60.0, 60.0))
def test_a_smear_of_bars_is_read_off_across_them(length: float, degrees: float) -> None:
    """Only the part of a smear across the bars matters (along them a 1D code does not change)."""
    reading = estimate(_smeared(BARS, Blur("motion", length, np.radians(degrees)), seed=int(degrees) + 99))
    first = reading.blurs[0]
    assert reading.bars
    assert abs(first.size * abs(np.cos(first.angle)) - length * abs(np.cos(np.radians(degrees)))) <= 1.2


def test_deconvolving_by_the_kernel_that_blurred_an_image_brings_it_closer_to_the_sharp_one() -> None:
    blur = Blur("motion", 9.0, np.radians(25))
    blurred = _smeared(QR, blur, noise=0.0)
    inner = (slice(40, -40), slice(40, -40))  # the mirrored borders are not the scene's

    def error(img: np.ndarray) -> float:
        return float(np.abs(img[inner].astype(float) - QR[inner]).mean())

    assert error(wiener(blurred, blur)) < 0.7 * error(blurred)
    assert line_kernel(9.0, np.radians(25)).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("degrees", [0.0, 35.0, 90.0, 100.0])
def test_a_matrix_code_smeared_into_stripes_is_not_taken_for_bars(degrees: float) -> None:
    """A smear (here 10 px: along the module grid, longer ones start to pass for bars) makes a QR code's
    gradients share a direction, as bars' do; its region is still read with the matrix formats (not with the
    1D ones alone), while real bars stay bars."""
    smeared = _smeared(QR, Blur("motion", 10.0, np.radians(degrees)))
    assert region_kind(smeared)[0] != "linear"
    assert region_kind(BARS)[0] == "linear"
    assert region_kind(_smeared(BARS, Blur("motion", 8.0, np.radians(degrees))))[0] == "linear"


def test_the_deblurring_rung_binarises_its_deconvolution_and_the_text_comes_back() -> None:
    frame = _known(KNOWN[0])
    whole = Source(frame, (0, 0, frame.shape[1], frame.shape[0]), (0, 0))
    binarised, grey = Unblur(0).bind({}, whole)(frame), Unblur(0, binarise=False).bind({}, whole)(frame)
    assert binarised is not None and grey is not None
    assert set(np.unique(binarised[0])) <= {0, 255} and len(np.unique(grey[0])) > 2
    assert KNOWN[0][1] in _texts(binarised[0])


# --- a sharp frame is not made worse -----------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_sharp_frame_reads_the_same_codes_with_the_deblurring_rungs_as_without(seed: int) -> None:
    frame, placed = synth.make_frame(np.random.default_rng(seed), "clean", n_codes=3)
    with_deblur = sorted(c.text for c in BarcodeReader(budget_ms=1e6).read(frame))
    without = sorted(c.text for c in BarcodeReader(budget_ms=1e6, ladder=NO_DEBLUR).read(frame))
    assert with_deblur == without == sorted(p.text for p in placed)


def test_a_frame_that_decodes_at_once_is_not_deblurred() -> None:
    reader = BarcodeReader(budget_ms=1e6)
    frame = synth.single_code_frame("GP1:SHARP-AT-ONCE", "QRCode", 3.0, size=(480, 640))
    assert [c.text for c in reader.read(frame)] == ["GP1:SHARP-AT-ONCE"]
    assert reader.last_stats.deblurs == 0 and reader.last_stats.rungs == 0


@pytest.mark.parametrize("case", KNOWN, ids=[f"{c[0]}-{c[3].kind}-{c[3].size:g}" for c in KNOWN])
def test_the_estimate_calls_a_known_smear_smeared_and_a_defocus_disc_not(case: tuple[str, str, float, Blur]) -> None:
    assert smeared(estimate(_known(case))) == (case[3].kind == "motion")


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.0])
def test_a_code_softened_by_a_gaussian_blur_is_not_called_smeared(sigma: float) -> None:
    frame = synth.single_code_frame("GP1:GAUSSIAN-SOFT", "QRCode", 3.0, size=(400, 480), background=200)
    assert not smeared(estimate(cv2.GaussianBlur(frame, (0, 0), sigma)))


def _early_only(**kw: float) -> BarcodeReader:
    """A reader whose only deblurring is the early one of its strongest candidates (no ladder, no fallback)."""
    return BarcodeReader(budget_ms=1e6, ladder_regions=0, full_frame_fallback=False, **kw)  # type: ignore[arg-type]


def test_a_region_only_a_little_soft_is_deblurred_early_when_its_estimate_reads_a_smear() -> None:
    frame, text = _known(KNOWN[0]), KNOWN[0][1]
    assert [c.text for c in _early_only(soft_below=0.0, smeared_below=1e9).read(frame)] == [text]
    assert _early_only(soft_below=0.0, smeared_below=0.0).read(frame) == []  # judged by sharpness alone: not soft


def test_a_region_only_a_little_soft_is_left_to_the_ladder_when_its_estimate_reads_defocus() -> None:
    reader = _early_only(soft_below=0.0, smeared_below=1e9)
    reader.read(_known(KNOWN[-1]))
    assert reader.last_stats.deblurs == 0


@pytest.mark.parametrize("box", [(100, 80, 200, 1), (100, 80, 0, 0), (100, 80, 15, 200)])
def test_a_region_too_thin_for_an_estimate_gets_no_reading_and_its_deblurring_rungs_do_not_apply(
        box: tuple[int, int, int, int]) -> None:
    """A 1D code's last position can be a line: the reader's next frame must not fail on its box."""
    frame = _known(KNOWN[0])
    memo: Memo = {}
    rungs = [u.bind(memo, Source(frame, box, box[:2])) for u in UNBLUR]
    assert not smeared(estimate(Source(frame, box, box[:2]).crop()[0]))
    assert [step(frame) for step in rungs] == [None, None]


def test_a_deblurring_rung_predicts_its_cost_with_the_estimate_until_the_region_has_one() -> None:
    """The reader starts a deblurring rung only when the budget left covers this prediction."""
    frame = _known(KNOWN[0])
    memo: Memo = {}
    first, second = (u.bind(memo, Source(frame, (100, 80, 200, 200), (100, 80))) for u in UNBLUR)
    before = first.cost_ms(frame)  # type: ignore[attr-defined]
    first(frame)
    assert second.cost_ms(frame) == pytest.approx(before - ESTIMATE_MS)  # type: ignore[attr-defined]


# --- bursts ------------------------------------------------------------------------------------------

def _burst(text: str) -> list[np.ndarray]:
    """Three frames of one crossing: smeared past reading, sharp, smeared past reading."""
    sharp = synth.single_code_frame(text, "QRCode", 3.0, size=(400, 480), background=200)
    hopeless = [_smeared(sharp, Blur("motion", 40.0, np.radians(a)), seed=a) for a in (0, 90)]
    return [hopeless[0], sharp, hopeless[1]]


def test_a_burst_is_read_sharpest_frame_first() -> None:
    frames = _burst("GP1:BURST-SHARPEST")
    assert focus(frames[1]) > max(focus(frames[0]), focus(frames[2]))
    assert BarcodeReader(budget_ms=1e6).read(frames[0]) == []
    codes = BarcodeReader(budget_ms=1e6).read_burst(frames, limit=1)  # one frame only: it must be the sharp one
    assert [c.text for c in codes] == ["GP1:BURST-SHARPEST"]


def test_a_code_seen_in_several_frames_of_a_burst_is_one_code_and_codes_of_all_frames_are_kept() -> None:
    a = synth.single_code_frame("GP1:IN-EVERY-FRAME", "QRCode", 3.0, size=(400, 480))
    b = a.copy()
    synth.paste(b, synth.render("MSKU1234565", "Code128", 2), np.array([[20, 20], [300, 20], [300, 90], [20, 90]],
                                                                        np.float32))
    codes = BarcodeReader(budget_ms=1e6).read_burst([a, b, a])
    assert sorted(c.text for c in codes) == ["GP1:IN-EVERY-FRAME", "MSKU1234565"]


def test_a_burst_stops_once_its_codes_are_enough() -> None:
    asked: list[int] = []

    def enough(found: list[Code]) -> bool:
        asked.append(len(found))
        return bool(found)

    frames = [synth.single_code_frame(f"GP1:FRAME-{i}", "QRCode", 3.0, size=(400, 480)) for i in range(3)]
    codes = BarcodeReader(budget_ms=1e6).read_burst(frames, enough=enough)
    assert len(codes) == 1 and asked == [1]


def test_a_burst_with_a_bad_frame_is_refused_before_any_is_read() -> None:
    from gate_barcode.reader import ReaderError

    with pytest.raises(ReaderError):
        BarcodeReader().read_burst([synth.single_code_frame("GP1:X", "QRCode", 3.0), np.zeros((4, 4), np.uint8)])


def test_burst_frames_share_their_codes_and_differ_in_their_motion() -> None:
    shots = synth.make_burst(np.random.default_rng(3), "motion", 3)
    texts = [[p.text for p in placed] for _, placed in shots]
    assert texts[0] == texts[1] == texts[2]
    motions = [[p.motion for p in placed] for _, placed in shots]
    assert motions[0] != motions[1] and not np.array_equal(shots[0][0], shots[1][0])


@pytest.mark.parametrize("degrees", [25.0, 50.0])
def test_a_skewed_1d_code_smeared_across_its_bars_is_read_deblurred_and_turned(degrees: float) -> None:
    """A 1D code far off the pixel axes is turned before its first read; its deblurred crop is turned too."""
    sharp = synth.single_code_frame("MSKU1234565", "Code128", 3.0, angle=degrees, size=(400, 480), background=200)
    frame = _smeared(sharp, Blur("motion", 9.0, np.radians(degrees)))
    assert BarcodeReader(budget_ms=1e6, ladder=(), full_frame_fallback=False).read(frame) == []
    reader = BarcodeReader(budget_ms=1e6, ladder=(UNBLUR[0],), full_frame_fallback=False)
    assert [c.text for c in reader.read(frame)] == ["MSKU1234565"]
    assert reader.last_stats.deblurs >= 1
