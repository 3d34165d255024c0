"""A profile is hostile input until it is read: bad encodings, deep nesting, huge files and includes from
elsewhere are reported as ``PATH:LINE:COL: key.path: message`` with exit 2, never a traceback or a hang.

Issue 11, item 6 (and item 3 through the command line). Each test here fails on main before this change:
there, the encodings and the nesting end in a traceback (UnicodeDecodeError, RecursionError), the size
and the includes are not bounded (exit 0 or a TOML error about /etc/passwd), and the Mong Cai profile
never finishes its check.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gatecore.cli import main

from .test_core_profile import GOOD
from .test_core_run import run
from .test_core_tomlpos import hang_guard

MAX_PROFILE_BYTES = 1 << 20  # the default of --max-profile-bytes: 1 MiB


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    with hang_guard(60):
        code = main(["check", *args])
    return code, capsys.readouterr().out.splitlines()


def write_bytes(tmp_path: Path, data: bytes, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_invalid_utf8_is_reported_at_the_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD.replace('id = "l1"', 'id = "l\xe91"').encode("latin-1")  # 0xe9 alone is not UTF-8
    code, lines = check(capsys, str(write_bytes(tmp_path, text)))
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"{tmp_path / 'site.toml'}:8:8: <profile>: not UTF-8: byte 0xe9"), lines


def test_invalid_utf8_in_an_include_is_reported_in_the_include(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    write_bytes(tmp_path, b"[plugins.gate_sim]\nseed = 1 # caf\xe9\n", "base.toml")
    code, lines = check(capsys, str(write_bytes(tmp_path, b'include = ["base.toml"]\n' + GOOD.encode())))
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"{tmp_path / 'base.toml'}:2:15: <profile>: not UTF-8"), lines


@pytest.mark.parametrize(("encoding", "fragment"), [("utf-16", "UTF-16"), ("utf-16-le", "NUL byte")])
def test_a_utf16_profile_is_refused_with_a_hint(
    encoding: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines = check(capsys, str(write_bytes(tmp_path, GOOD.encode(encoding))))
    assert code == 2 and len(lines) == 1 and fragment in lines[0] and "save the profile as UTF-8" in lines[0], lines


@pytest.mark.parametrize("deep", [
    "x = " + "[" * 400 + "]" * 400, "x = " + "{ a = " * 400 + "1" + " }" * 400, ".".join(["x"] * 400) + " = 1",
])
def test_400_levels_of_nesting_are_refused_where_they_go_too_deep(
    deep: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_bytes(tmp_path, (GOOD + "[plugins.scripted]\n" + deep + "\n").encode())
    code, lines = check(capsys, str(path))
    line = GOOD.count("\n") + 2
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:{line}:") and "nested deeper than 32 levels" in lines[0], lines


def _padded(size: int) -> bytes:
    """GOOD, grown to ``size`` bytes by a comment block (valid TOML)."""
    head = GOOD.encode()
    filler = (b"# " + b"x" * 77 + b"\n") * (size // 80 + 1)
    return head + filler[: size - len(head)]


def test_a_profile_over_the_size_limit_is_refused_without_being_parsed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_bytes(tmp_path, _padded(MAX_PROFILE_BYTES + 1))
    code, lines = check(capsys, str(path))
    assert code == 2 and lines == [f"{path}:1:1: <profile>: the profile with its includes is larger than "
                                   f"{MAX_PROFILE_BYTES} bytes (raise the limit with --max-profile-bytes)"]
    assert check(capsys, "--max-profile-bytes", str(MAX_PROFILE_BYTES + 1), str(path))[0] == 0
    assert check(capsys, str(write_bytes(tmp_path, _padded(MAX_PROFILE_BYTES), "fits.toml")))[0] == 0


def test_the_size_limit_counts_the_includes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_bytes(tmp_path, b"#" * 600, "a.toml")
    path = write_bytes(tmp_path, b'include = ["a.toml"]\n' + GOOD.encode())
    code, lines = check(capsys, "--max-profile-bytes", "1000", str(path))
    assert code == 2 and len(lines) == 1 and "larger than 1000 bytes" in lines[0], lines
    assert check(capsys, "--max-profile-bytes", "2000", str(path))[0] == 0


@pytest.mark.parametrize("name", ["../../etc/passwd", "/proc/self/environ", "/etc/hostname"])
def test_an_include_outside_the_profiles_directory_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_bytes(tmp_path, f'include = ["{name}"]\n{GOOD}'.encode())
    code, lines = check(capsys, str(path))
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:1:12: include[0]: included file {name!r} is outside the profile's "
                               "directory"), lines


def test_a_symbolic_link_out_of_the_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "elsewhere.toml").write_text("[plugins.gate_sim]\nseed = 2\n")
    os.symlink(tmp_path / "elsewhere.toml", tmp_path / "site" / "defaults.toml")
    path = write_bytes(tmp_path / "site", f'include = ["defaults.toml"]\n{GOOD}'.encode())
    code, lines = check(capsys, str(path))
    assert code == 2 and "is outside the profile's directory" in lines[0], lines


def test_include_dir_allows_a_directory_outside_the_profiles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_profile: Callable[..., Path],
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "sim.toml").write_text("[plugins.gate_sim]\nseed = 7\ntraffic = false\n")
    (tmp_path / "site").mkdir()
    path = write_bytes(tmp_path / "site", f'include = ["../shared/sim.toml"]\n{GOOD}'.encode())
    assert check(capsys, str(path))[0] == 2
    assert check(capsys, "--include-dir", str(shared), str(path)) == (0, [])


def test_includes_below_the_profiles_directory_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "sim.toml").write_text("[plugins.gate_sim]\nseed = 7\n")
    path = write_bytes(tmp_path, f'include = ["shared/sim.toml"]\n{GOOD}'.encode())
    assert check(capsys, str(path)) == (0, [])


def test_the_mong_cai_profile_checks_and_does_not_hang(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 11, item 3, through ``gatecore check``: on main this never returns (100 % CPU, growing memory)."""
    text = GOOD.replace('id = "t/site"', 'id = "t/site"\nname = """Mong Cai \\"""\'Dongxing"""')
    assert check(capsys, str(write_bytes(tmp_path, text.encode()))) == (0, [])


def test_a_misspelt_dotted_header_is_reported_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 11, item 6: on main ``[plugins.gate_simm.extra]`` is reported at 1:1."""
    path = write_bytes(tmp_path, (GOOD + "[plugins.gate_simm.extra]\nx = 1\n").encode())
    code, lines = check(capsys, str(path))
    assert code == 2 and len(lines) == 1, lines
    line = GOOD.count("\n") + 1
    assert lines[0].startswith(f"{path}:{line}:10: plugins.gate_simm: unknown key 'gate_simm'"), lines


def test_run_refuses_what_check_refuses_before_starting(tmp_path: Path) -> None:
    proc = run("run", "--max-profile-bytes", "1000", str(write_bytes(tmp_path, _padded(2000))), "--duration", "0.1",
               timeout=120)
    assert proc.returncode == 2 and "larger than 1000 bytes" in proc.stderr, proc.stderr
