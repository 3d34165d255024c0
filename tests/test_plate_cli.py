"""`gatecore plate read IMAGE...`: one JSON line per image, plates and codes best first; a missing, empty or
corrupt image is a clear error line and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from gate_plate import cli
from gatecore.cli import main

from .plate_kit import FakeRead, ScriptedReader, write_frames

SCRIPT = {
    1: [FakeRead("51G12345", confidence=0.71, box=(10.0, 20.0, 110.0, 52.25)),
        FakeRead("MSKU1234565", "container", "", "vertical", 0.93, (300.0, 10.0, 330.0, 200.0)),
        FakeRead("粤B12345", "plate", "CN", "two_row", 0.98, (500.0, 400.0, 600.0, 460.0)),
        FakeRead("51O12345", confidence=0.4)],
    2: [],
}


def read_lines(args: list[str], reader: ScriptedReader | None, capsys: pytest.CaptureFixture[str]
               ) -> tuple[int, list[dict[str, object]], str]:
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers())
    code = cli.cmd_read(parser.parse_args(["plate", "read", *args]), reader)
    out = capsys.readouterr()
    return code, [json.loads(line) for line in out.out.splitlines()], out.err


def test_each_image_gives_one_json_line_with_plates_and_codes_best_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    write_frames(tmp_path, [1, 2])
    images = [str(tmp_path / "frame-000.png"), str(tmp_path / "frame-001.png")]
    code, lines, err = read_lines(images, ScriptedReader(SCRIPT), capsys)
    assert (code, err) == (0, "")
    assert lines == [
        {"file": images[0],
         "plates": [{"text": "粤B12345", "country": "CN", "layout": "two_row", "confidence": 0.98,
                     "box": [500.0, 400.0, 600.0, 460.0], "valid": True},
                    {"text": "51G12345", "country": "VN", "layout": "one_row", "confidence": 0.71,
                     "box": [10.0, 20.0, 110.0, 52.2], "valid": True},
                    {"text": "51O12345", "country": "VN", "layout": "one_row", "confidence": 0.4,
                     "box": [4.0, 4.0, 28.0, 12.0], "valid": False}],
         "codes": [{"text": "MSKU1234565", "layout": "vertical", "confidence": 0.93,
                    "box": [300.0, 10.0, 330.0, 200.0], "valid": True}]},
        {"file": images[1], "plates": [], "codes": []}]


@pytest.mark.parametrize(("content", "error"), [
    (None, "no such file"), (b"", "an empty file"), (b"\x89PNG\r\n\x1a\n not really", "not a decodable image"),
    (b"GIF89a" + bytes(40), "not a decodable image"),
])
def test_a_missing_empty_or_corrupt_image_is_an_error_line_and_the_others_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, error: str,
) -> None:
    write_frames(tmp_path, [1])
    bad = tmp_path / "bad.png"
    if content is not None:
        bad.write_bytes(content)
    code, lines, _ = read_lines([str(bad), str(tmp_path / "frame-000.png")], ScriptedReader(SCRIPT), capsys)
    assert code == 1 and lines[0] == {"file": str(bad), "error": lines[0]["error"]} and error in str(lines[0]["error"])
    assert len(lines[1]["plates"]) == 3  # type: ignore[arg-type]


def test_a_crop_is_read_by_the_recogniser_alone_with_the_whole_image_as_its_box(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    write_frames(tmp_path, [3])

    class Crops:
        def read(self, crop: object) -> FakeRead:
            return FakeRead("29C123456", layout="two_row", confidence=0.9)

    code, lines, _ = read_lines(["--crop", str(tmp_path / "frame-000.png")], Crops(), capsys)  # type: ignore[arg-type]
    assert code == 0 and lines[0]["plates"] == [{"text": "29C123456", "country": "VN", "layout": "two_row",
                                                 "confidence": 0.9, "box": [0.0, 0.0, 32.0, 24.0], "valid": True}]


def test_models_that_cannot_be_loaded_are_one_line_on_stderr_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["plate", "read", "--crop", "--recogniser", str(tmp_path / "nowhere"), str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("gatecore plate read: ") and "nowhere" in err and "Traceback" not in err
