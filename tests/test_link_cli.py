"""`gatecore link keys generate | example | sign | verify`, as an operator uses them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gate_link.messages import KINDS, MODELS
from gatecore import cli


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("suite", ["ed25519", "sm2"])
def test_generate_sign_verify_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str], suite: str) -> None:
    code, out = run(capsys, "link", "keys", "generate", "--key-id", "dx-2026a", "--out", tmp_path / "k",
                    "--suite", suite, "--party", "dongxing")
    assert code == 0 and json.loads(out)["kid"] == "dx-2026a"
    assert stat.S_IMODE((tmp_path / "k" / "dx-2026a.key").stat().st_mode) == 0o600
    assert (tmp_path / "k" / "dx-2026a.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    code, out = run(capsys, "link", "example", "manifest")
    (tmp_path / "m.json").write_text(out)
    code, out = run(capsys, "link", "sign", "--key", tmp_path / "k" / "dx-2026a.key", tmp_path / "m.json")
    assert code == 0
    (tmp_path / "s.json").write_text(out)
    code, out = run(capsys, "link", "verify", "--trust", tmp_path / "k" / "trust.json", tmp_path / "s.json")
    assert code == 0 and out.startswith("valid: manifest") and f"({suite})" in out
    code, out = run(capsys, "link", "verify", "--trust", tmp_path / "k" / "trust.json",
                    "--root", tmp_path / "k" / "dx-2026a.pub", tmp_path / "s.json")
    assert code == 0


@pytest.mark.parametrize("kind", KINDS)
def test_example_prints_a_valid_unsigned_message(capsys: pytest.CaptureFixture[str], kind: str) -> None:
    code, out = run(capsys, "link", "example", kind)
    message = MODELS[kind].model_validate(json.loads(out))
    assert code == 0 and message.signature is None


def _signed(tmp_path: Path, capsys: pytest.CaptureFixture[str], kid: str = "dx-1") -> dict[str, object]:
    run(capsys, "link", "keys", "generate", "--key-id", kid, "--out", tmp_path / kid, "--party", "dongxing")
    run(capsys, "link", "example", "manifest")
    (tmp_path / "m.json").write_text(run(capsys, "link", "example", "manifest")[1])
    return dict(json.loads(run(capsys, "link", "sign", "--key", tmp_path / kid / f"{kid}.key", tmp_path / "m.json")[1]))


@pytest.mark.parametrize(("change", "why"), [
    ({"version": 2}, "invalid: forged:"),
    ({"containers": [{"code": "CSQU3054384", "seals": []}]}, "invalid: schema:"),
    ({"signature": None}, "invalid: unsigned:"),
])
def test_verify_exits_2_with_one_line_why(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          change: dict[str, object], why: str) -> None:
    message = {**_signed(tmp_path, capsys), **change}
    (tmp_path / "bad.json").write_text(json.dumps(message))
    code, out = run(capsys, "link", "verify", "--trust", tmp_path / "dx-1" / "trust.json", tmp_path / "bad.json")
    assert code == 2 and out.startswith(why) and out.count("\n") == 1


def test_verify_says_unknown_key_and_a_bad_trust_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.json").write_text(json.dumps(_signed(tmp_path, capsys)))
    run(capsys, "link", "keys", "generate", "--key-id", "other", "--out", tmp_path / "other")
    code, out = run(capsys, "link", "verify", "--trust", tmp_path / "other" / "trust.json", tmp_path / "s.json")
    assert code == 2 and out.startswith("invalid: unknown_key:")
    code, out = run(capsys, "link", "verify", "--trust", tmp_path / "s.json", tmp_path / "s.json")
    assert code == 2 and out.startswith("invalid: trust:")
    code, out = run(capsys, "link", "verify", "--trust", tmp_path / "dx-1" / "trust.json",
                    "--root", tmp_path / "other" / "other.pub", tmp_path / "s.json")
    assert code == 2 and "does not verify with the trust root" in out


def test_generate_refuses_a_key_id_that_is_not_a_file_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["link", "keys", "generate", "--key-id", "../x", "--out", str(tmp_path)]) == 2
    assert not list(tmp_path.iterdir())
