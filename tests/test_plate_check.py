"""`gatecore check` refuses what a plate lane could not run with, at its location: list files and their
entries, model folders, camera roles, the manifest and watchlists a source names, its plate source, its
capture window, the confusable costs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from .plate_kit import model_folders, profile, write_frames, write_lists
from .test_core_check_equals_run import check


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_lists(tmp_path)
    write_frames(tmp_path / "front", [1])
    write_frames(tmp_path / "rear", [1])
    return tmp_path


def run_check(root: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    path = root / "site.toml"
    path.write_text(text, encoding="utf-8")
    return check(path, capsys)


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_a_plate_lane_with_its_lists_models_and_cameras_checks_clean(site: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(site, profile(site), capsys) == (0, [])


def test_a_bad_entry_in_a_list_is_refused_at_the_lists_path_naming_its_file_and_line(
    site: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    (site / "stolen.jsonl").write_text('{"plate": "30A-999.99"}\n{"plate": "51G[12"}\n')
    text = profile(site)
    code, lines = run_check(site, text, capsys)
    where = f"{site}/site.toml:{line_of(text, 'watchlists.stolen')}:"
    assert code == 2 and any(ln.startswith(where) and "plugins.gate_plate.watchlists.stolen.path: " in ln
                             and f"{site}/stolen.jsonl:2: '51G[12': '[' without ']'" in ln for ln in lines), lines


def test_a_manifest_plate_of_no_known_format_is_refused_unless_the_list_says_so(
    site: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    (site / "manifest.csv").write_text("plate,ref\n51G-123.45,a\n13A-123.45,b\n")
    code, lines = run_check(site, profile(site), capsys)
    assert code == 2 and any("manifest.csv:3: plate '13A-123.45': province code 13 is not issued" in ln
                             for ln in lines), lines
    text = profile(site).replace('manifest = { path', 'manifest = { check_formats = false, path')
    assert run_check(site, text, capsys) == (0, [])


def test_a_missing_list_file_is_refused(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (site / "manifest.csv").unlink()
    code, lines = run_check(site, profile(site), capsys)
    assert code == 2 and any("plugins.gate_plate.manifest.path: " in ln and "cannot read" in ln for ln in lines)


def test_a_model_folder_whose_model_is_not_the_one_its_recipe_made_is_refused(
    site: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    text = profile(site)
    (site / "models" / "recog" / "model.onnx").write_bytes(b"another model")
    code, lines = run_check(site, text, capsys)
    assert code == 2 and any(f":{line_of(text, 'recogniser =')}:" in ln and "plugins.gate_plate.recogniser: " in ln
                             and "its recipe.json says" in ln for ln in lines), lines
    (site / "models" / "detect" / "recipe.json").unlink()
    code, lines = run_check(site, text, capsys)
    assert any("plugins.gate_plate.detector: " in ln and "has no recipe.json" in ln for ln in lines), lines


def test_the_recipe_names_its_hash_model_sha256(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Both model folders record the hash under one key, ``model_sha256``: a recipe with it under another key
    (``sha256``) records none."""
    text = profile(site)
    folder = site / "models" / "recog"
    digest = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
    (folder / "recipe.json").write_text(json.dumps({"sha256": digest, "seed": 1}))
    code, lines = run_check(site, text, capsys)
    assert code == 2 and any("plugins.gate_plate.recogniser: " in ln and "records no SHA-256" in ln
                             for ln in lines), lines


def test_without_model_folders_the_shipped_ones_are_checked(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gate_plate import models

    text = profile(site).replace(model_folders(site), "")
    code, lines = run_check(site, text, capsys)
    for name in ("detect", "recog"):
        shipped = models.SHIPPED / name
        assert (models.problem(shipped) is None) == (not any(str(shipped) in ln for ln in lines)), lines
    assert code == (0 if all(models.problem(models.SHIPPED / n) is None for n in ("detect", "recog")) else 2)


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ('role = "plate-rear"', 'role = "plate-back"', "lanes[0].evidence[0].cameras",
     "no device with role 'plate-rear' in this lane"),
    ('kind = "plate.vehicle"', 'kind = "plate.vehicle"\n  watchlists = ["wanted"]', "lanes[0].evidence[0].watchlists",
     "no watchlist 'wanted' in [plugins.gate_plate.watchlists]; watchlists: 'stolen'"),
    ("window_ms = 400", "window_ms = 2500", "lanes[0].evidence[0]", "window_ms (2500) must be less than deadline_ms"),
    ('reload_every_s = 0', 'reload_every_s = 0\nconfusables = { "00" = 0.2 }', "plugins.gate_plate.confusables",
     "confusable '00': two different characters"),
])
def test_a_plate_source_the_site_cannot_run_is_refused_at_its_key(
    site: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, key: str, message: str,
) -> None:
    text = profile(site)
    assert old in text
    code, lines = run_check(site, text.replace(old, new, 1), capsys)
    assert code == 2 and any(f": {key}: " in ln and message in ln for ln in lines), lines


def test_a_source_matching_the_manifest_needs_one_in_the_section(site: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    text = "\n".join(ln for ln in profile(site).splitlines() if not ln.startswith("manifest ="))
    code, lines = run_check(site, text, capsys)
    assert code == 2 and any(": lanes[0].evidence[0].manifest: " in ln and "has no manifest" in ln for ln in lines)
    fixed = text.replace('kind = "plate.vehicle"', 'kind = "plate.vehicle"\n  manifest = false')
    assert run_check(site, fixed, capsys) == (0, [])


def test_a_container_source_naming_no_plate_source_of_its_lane_is_refused(
    site: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    write_frames(site / "side", [1])
    text = profile(site, container=True).replace('plate_source = "plate"', 'plate_source = "plates"')
    code, lines = run_check(site, text, capsys)
    assert code == 2 and any(": lanes[0].evidence[1].plate_source: " in ln and
                             "no plate.vehicle source 'plates' in this lane; its plate sources: 'plate'" in ln
                             for ln in lines), lines
