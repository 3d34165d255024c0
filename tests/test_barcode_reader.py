"""The barcode reader: formats, positions, multi-code frames, the retry ladder, de-duplication."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gate_barcode import synth
from gate_barcode.ladder import BAND_ROWS, deskew_by
from gate_barcode.reader import (
    FORMATS,
    BarcodeReader,
    Code,
    Deduplicator,
    Hints,
    ReaderError,
    ZbarBackend,
    ZxingBackend,
    make_backend,
    to_grey,
)
from gate_barcode.regions import region_kind

# format -> (payload written, (format read, text read)); EAN/UPC read back with check digits
ROUND_TRIP = {
    "QRCode": ("GP1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH", ("QRCode", "GP1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH")),
    "MicroQRCode": ("12345", ("MicroQRCode", "12345")),
    "DataMatrix": ("MSKU1234565/BL-778", ("DataMatrix", "MSKU1234565/BL-778")),
    "PDF417": ("CONSIGNMENT 2026-11-27 DONGXING", ("PDF417", "CONSIGNMENT 2026-11-27 DONGXING")),
    "Aztec": ("GP1:AZTEC-PASS", ("Aztec", "GP1:AZTEC-PASS")),
    "Code128": ("MSKU1234565", ("Code128", "MSKU1234565")),
    "Code39": ("TRUCK-29C12345", ("Code39", "TRUCK-29C12345")),
    "EAN13": ("590123412345", ("EAN13", "5901234123457")),
    "EAN8": ("9638507", ("EAN8", "96385074")),
    "UPCA": ("03600029145", ("EAN13", "0036000291452")),
    "UPCE": ("0123456", ("UPCE", "0012345000065")),
}
ZBAR_READS = ("QRCode", "Code128", "Code39", "EAN13", "EAN8")


def _on_page(fmt: str, text: str, module: float = 3.0) -> np.ndarray:
    return synth.single_code_frame(text, fmt, module, angle=0.0, size=(600, 800))


def test_round_trip_table_covers_every_supported_format() -> None:
    assert set(ROUND_TRIP) == set(FORMATS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips_through_zxing(fmt: str) -> None:
    written, (want_fmt, want_text) = ROUND_TRIP[fmt]
    codes = BarcodeReader(budget_ms=1e6).read(_on_page(fmt, written))
    assert [(c.format, c.text) for c in codes] == [(want_fmt, want_text)]


@pytest.mark.parametrize("fmt", ZBAR_READS)
def test_zbar_formats_round_trip_through_zbar(fmt: str) -> None:
    written, (want_fmt, want_text) = ROUND_TRIP[fmt]
    codes = BarcodeReader(backend=ZbarBackend(), budget_ms=1e6).read(_on_page(fmt, written))
    assert [(c.format, c.text) for c in codes] == [(want_fmt, want_text)]


def test_binary_payload_is_flagged_and_kept_as_bytes() -> None:
    frame = np.full((400, 400), 200, np.uint8)
    symbol = synth.zxingcpp.create_barcode(b"\x00\xff\x10GP1", synth.zxingcpp.BarcodeFormat.QRCode)
    img = np.asarray(synth.zxingcpp.write_barcode_to_image(symbol, scale=5), np.uint8)
    frame[50:50 + img.shape[0], 50:50 + img.shape[1]] = img
    (code,) = BarcodeReader(budget_ms=1e6).read(frame)
    assert code.is_bytes and code.raw == b"\x00\xff\x10GP1" and code.text == ""


def test_bgr_and_grey_frames_give_the_same_codes() -> None:
    grey = _on_page("QRCode", "GP1:SAME")
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    assert [c.text for c in BarcodeReader().read(bgr)] == [c.text for c in BarcodeReader().read(grey)] == ["GP1:SAME"]


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.float32), np.zeros((4, 4), np.uint8),
                                 np.zeros((20, 20, 2), np.uint8), "not an image"])
def test_unusable_frames_raise_reader_error(bad: object) -> None:
    with pytest.raises(ReaderError):
        to_grey(bad)  # type: ignore[arg-type]


def test_unknown_backend_and_format_are_config_errors() -> None:
    with pytest.raises(ReaderError, match="unknown barcode backend"):
        make_backend("zbar2")
    with pytest.raises(ReaderError, match="unsupported formats"):
        make_backend("zxing", ["QRCode", "MaxiCode"])


def _centre(points: tuple[tuple[float, float], ...] | tuple[tuple[int, int], ...]) -> np.ndarray:
    return np.mean(np.array(points, float), axis=0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_multi_code_frame_reads_every_code_at_its_position(seed: int) -> None:
    frame, placed = synth.make_frame(np.random.default_rng(seed), "clean", n_codes=3)
    codes = BarcodeReader(budget_ms=1e6).read(frame)
    assert sorted(c.text for c in codes) == sorted(p.text for p in placed)
    for p in placed:
        (code,) = [c for c in codes if c.text == p.text]
        assert code.format == p.format
        assert np.linalg.norm(_centre(code.box) - _centre(p.quad)) < 10


# --- the retry ladder: each frame below defeats a single library call (checked first) --------

def test_region_crop_reads_a_blurred_code_the_whole_frame_call_misses() -> None:
    frame = synth.single_code_frame("ABCD1234567", "Code128", 2.0, cls="blur", seed=2)
    assert ZxingBackend().decode(frame) == []
    assert [c.text for c in BarcodeReader(budget_ms=1e6, ladder=()).read(frame)] == ["ABCD1234567"]


LADDER_CASES = [
    # (backend, frame): a light-on-dark QR for zbar (invert)
    ("zbar", lambda: 255 - synth.single_code_frame("GP1:INVERTED", "QRCode", 3.0)),
]


@pytest.mark.parametrize("angle", [30, 40, -55])
def test_a_skewed_1d_code_is_read_deskewed_at_its_first_read(angle: float) -> None:
    """A 1D code far off the pixel axes defeats a single library call; the region's first read turns it."""
    frame = synth.single_code_frame("CONT1234567", "Code128", 2.5, angle=angle)
    assert ZxingBackend().decode(frame) == []
    reader = BarcodeReader(budget_ms=1e6, ladder=())
    assert [c.text for c in reader.read(frame)] == ["CONT1234567"]
    assert reader.last_stats.rungs == 0


@pytest.mark.parametrize(("backend", "make"), LADDER_CASES)
def test_ladder_reads_codes_a_single_call_misses(backend: str, make: object) -> None:
    frame = make()  # type: ignore[operator]
    be = make_backend(backend)
    assert be.decode(frame) == []
    assert BarcodeReader(backend=be, budget_ms=1e6, ladder=()).read(frame) == []
    reader = BarcodeReader(backend=be, budget_ms=1e6)
    assert len(reader.read(frame)) == 1
    assert reader.last_stats.rungs >= 1


def test_zero_budget_stops_before_the_ladder() -> None:
    frame = synth.single_code_frame("CONT1234567", "Code128", 2.5, angle=40)
    reader = BarcodeReader(budget_ms=0.0)
    assert reader.read(frame) == []
    assert reader.last_stats.rungs == 0 and reader.last_stats.budget_spent


def test_region_of_last_hit_is_tried_on_the_next_frame() -> None:
    frame = _on_page("QRCode", "GP1:ROI")
    blind = BarcodeReader(budget_ms=1e6, max_regions=0, full_frame_fallback=False)
    assert blind.read(frame) == []
    seeded = BarcodeReader(budget_ms=1e6, max_regions=12, full_frame_fallback=False)
    assert [c.text for c in seeded.read(frame)] == ["GP1:ROI"]
    seeded.max_regions = 0
    assert [c.text for c in seeded.read(frame)] == ["GP1:ROI"]


def _code(text: str) -> Code:
    return Code("QRCode", text.encode(), text, False, ((0, 0), (1, 0), (1, 1), (0, 1)))


def test_a_pass_held_in_front_of_the_camera_is_one_scan() -> None:
    dedup = Deduplicator(hold_s=2.0)
    a, b = _code("GP1:A"), _code("GP1:B")
    assert dedup.fresh([a], now=0.0) == [a]
    assert dedup.fresh([a], now=1.5) == []
    assert dedup.fresh([a, b], now=3.0) == [b]  # a was refreshed at 1.5
    assert dedup.fresh([b], now=3.5) == []
    assert dedup.fresh([a], now=5.1) == [a]  # out of sight for more than hold_s


def test_zxing_backend_is_the_reader_default() -> None:
    assert isinstance(BarcodeReader().backend, ZxingBackend)


@pytest.mark.parametrize("angle", [30, -55])
def test_a_big_skewed_1d_crop_is_turned_into_a_band_of_rows_that_still_reads_and_maps_back(angle: float) -> None:
    """Turning a big crop whole overran the budget: only the middle BAND_ROWS rows of the upright bars are made."""
    frame = synth.single_code_frame("CONT7654321", "Code128", 2.5, angle=angle, size=(900, 1100))
    img, m = deskew_by(frame, region_kind(frame)[1])  # type: ignore[misc]  # the reader's own angle
    assert img.shape[0] == BAND_ROWS < frame.shape[0]
    (_, _, text, _, pts), = ZxingBackend().decode(img, Hints(False, False, False, "linear"))
    assert text == "CONT7654321"
    centre = np.mean(np.array(pts) @ m[:, :2].T + m[:, 2], axis=0)
    assert np.allclose(centre, (550, 450), atol=40)  # the code is drawn at the frame's centre


@pytest.mark.parametrize(("fallback_ms", "runs"), [(0.0, True), (2e6, False)])
def test_the_whole_frame_call_starts_only_when_the_budget_left_covers_its_predicted_cost(
        fallback_ms: float, runs: bool) -> None:
    reader = BarcodeReader(budget_ms=1e6, fallback_ms=fallback_ms)
    assert reader.read(np.full((480, 640), 160, np.uint8)) == []
    assert reader.last_stats.full_frame is runs


def test_a_noisy_frame_needs_more_budget_left_for_its_whole_frame_call() -> None:
    """On sensor noise the call costs several times more: with 1e6 ms left a 4e5 ms prediction runs, three
    times that does not."""
    clean = np.full((480, 640), 160, np.uint8)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
    reader = BarcodeReader(budget_ms=1e6, fallback_ms=4e5, noisy_fallback=3.0)
    reader.read(clean)
    assert reader.last_stats.full_frame
    reader.read(noisy)
    assert not reader.last_stats.full_frame


def test_a_backend_without_any_format_of_a_family_reads_nothing_when_asked_for_that_family() -> None:
    """zxing-cpp reads every format when given none: a QR-only backend asked for bars must not return a PDF417."""
    text = "GP1:A-STACKED-CODE"
    frame = _on_page("PDF417", text)
    assert [t for _, _, t, _, _ in ZxingBackend().decode(frame, Hints(False, False, True, "linear"))] == [text]
    assert ZxingBackend(formats=("QRCode",)).decode(frame, Hints(False, False, True, "linear")) == []
