"""The gate_barcode plugin in a running site: camera and reader passes, verdicts, replay, logs, CLI."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from structlog.testing import capture_logs

import gate_barcode as gate_barcode
from gate_barcode import synth
from gate_barcode.passes import Issuer
from gate_barcode.trust import trust_list_json, trusted_key
from gatecore.api import BarrierPosition, Outcome, PresenceChanged, Scanned, Site, TransactionContext, keyed_ref
from gatecore.plugins import make_manager, register
from gatecore.profile import ProfileError
from gatecore.testing import Recorder, make_site, running, wait_for

SUBJECT = "res-000417"

LANE = """
[[lanes]]
id = "{lane}"
trigger = "{trigger}"
exit = "exit"
barrier = "barrier"
  [lanes.policy]
  require = ["pass"]
  deadline_ms = 3000
  confirm_timeout_ms = 1000
  clear_timeout_ms = 2000
  refer_hold_ms = 0
  [[lanes.devices]]
  kind = "sim.presence"
  role = "entry"
  [[lanes.devices]]
  kind = "sim.presence"
  role = "exit"
  [[lanes.devices]]
  kind = "sim.barrier"
  role = "barrier"
  travel_ms = 10
  [[lanes.devices]]
  kind = "sim.reader"
  role = "qr"
  [[lanes.devices]]
  kind = "sim.camera"
  role = "pass-cam"
  images = "{images}"
  [[lanes.evidence]]
  kind = "barcode.pass"
  source = "pass"
  camera = "pass-cam"
  reader = "qr"
  deadline_ms = 2500
  frame_interval_ms = 5
"""

SITE = """
[site]
id = "test/barcode"
[run]
shutdown_timeout_s = 3.0
report_timeout_ms = 500
[plugins.gate_sim]
traffic = false
[plugins.gate_barcode]
trust_list = "{trust}"
state_dir = "{state}"
replay_window_s = 300
budget_ms = 200
hold_s = 60
"""


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer("VN-MC", ed25519.Ed25519PrivateKey.generate())


@pytest.fixture
def trust(tmp_path: Path, issuer: Issuer) -> Path:
    path = tmp_path / "trust.json"
    now = datetime.now(UTC)
    path.write_text(trust_list_json([trusted_key(issuer.key.public_key(), "VN-MC", now - timedelta(days=10),
                                                 now + timedelta(days=300))]))
    return path


def _pass(issuer: Issuer, expired: bool = False) -> str:
    now = int(time.time())
    window = (now - 20 * 86_400, now - 86_400) if expired else (now - 3600, now + 86_400)
    return issuer.issue(SUBJECT, "resident", window[0], window[1], issued_at=now - 3600)


def _camera_folder(tmp_path: Path, name: str, text: str | None) -> Path:
    """A folder with one 960x540 BGR frame: a pass QR in a scene, or a scene with a container code."""
    folder = tmp_path / name
    folder.mkdir()
    frame, _ = synth.make_frame(np.random.default_rng(5), "clean", n_codes=1, mix={"EAN13": 1.0},
                                height=540, width=960)
    if text is not None:
        synth.paste(frame, synth.render(text, "QRCode"), np.array(
            [[600, 120], [840, 120], [840, 360], [600, 360]], np.float32))
    cv2.imwrite(str(folder / "frame.png"), cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    return folder


def _site(tmp_path: Path, trust: Path, lanes: list[tuple[str, str, Path]]) -> tuple[Site, Recorder]:
    text = SITE.format(trust=trust, state=tmp_path / "state") + "".join(
        LANE.format(lane=lane, trigger=trigger, images=images) for lane, trigger, images in lanes)
    return make_site(text, tmp_path, plugins={"gate_barcode": gate_barcode})


async def _arrive(site: Site, lane: str) -> None:
    site.lanes[lane].devices["entry"].set(True)  # type: ignore[attr-defined]


async def _leave(site: Site, rec: Recorder, lane: str) -> None:
    """The traveller walks through once the barrier is open (after a PASS), else steps back."""
    devices = site.lanes[lane].devices
    if rec.decisions[-1].outcome is Outcome.PASS:
        await wait_for(lambda: devices["barrier"].position is BarrierPosition.OPEN)  # type: ignore[attr-defined]
    devices["exit"].set(True)  # type: ignore[attr-defined]
    devices["entry"].set(False)  # type: ignore[attr-defined]
    devices["exit"].set(False)  # type: ignore[attr-defined]


async def test_pass_shown_to_the_camera_gives_pass_and_the_claimed_identity(
        tmp_path: Path, trust: Path, issuer: Issuer) -> None:
    site, rec = _site(tmp_path, trust, [("in-1", "entry", _camera_folder(tmp_path, "cam", _pass(issuer)))])
    with capture_logs() as logs:
        async with running(site):
            await _arrive(site, "in-1")
            await wait_for(lambda: rec.decisions, timeout=20)
            await _leave(site, rec, "in-1")
    decision = rec.decisions[0]
    evidence = decision.evidence["pass"]
    assert decision.outcome is Outcome.PASS and evidence.outcome is Outcome.PASS
    assert evidence.claims["identity_ref"] == SUBJECT and evidence.summary["via"] == "camera"
    record = json.dumps(decision.to_record(b"salt"))
    assert SUBJECT not in record and evidence.summary["pass_id_hash"] not in record
    assert keyed_ref(evidence.summary["pass_id_hash"], b"salt") in record  # the IOC sees the keyed hash only
    checked = [e for e in logs if e["event"] == "pass_checked"]
    assert checked and SUBJECT not in json.dumps(checked, default=str)
    assert [e["counts"]["ok"] for e in logs if e["event"] == "barcode_summary"] == [1]


async def test_a_pass_still_held_up_after_its_crossing_does_not_open_the_next_one(
        tmp_path: Path, trust: Path, issuer: Issuer) -> None:
    site, rec = _site(tmp_path, trust, [("in-1", "entry", _camera_folder(tmp_path, "cam", _pass(issuer)))])
    async with running(site):
        for n in (1, 2):
            await _arrive(site, "in-1")
            await wait_for(lambda: len(rec.decisions) == n, timeout=20)  # noqa: B023 - n is read at once
            await _leave(site, rec, "in-1")
    first, second = rec.decisions
    assert first.outcome is Outcome.PASS
    assert second.outcome is Outcome.REFER and "pass" in second.missing  # the same pass, never out of sight


async def test_expired_pass_from_the_reader_is_denied_with_its_reason(
        tmp_path: Path, trust: Path, issuer: Issuer) -> None:
    site, rec = _site(tmp_path, trust, [("in-1", "qr", _camera_folder(tmp_path, "cam", None))])
    async with running(site):
        site.lanes["in-1"].devices["qr"].present(_pass(issuer, expired=True))  # type: ignore[attr-defined]
        await wait_for(lambda: rec.decisions, timeout=20)
    evidence = rec.decisions[0].evidence["pass"]
    assert rec.decisions[0].outcome is Outcome.DENY
    assert (evidence.outcome, evidence.reason, evidence.summary["via"]) == (Outcome.DENY, "expired", "reader")
    assert "identity_ref" not in evidence.claims


async def test_a_reader_pass_is_verified_at_once_and_a_camera_pass_needs_a_task(
        tmp_path: Path, trust: Path, issuer: Issuer) -> None:
    site, _ = _site(tmp_path, trust, [("in-1", "qr", _camera_folder(tmp_path, "cam", None))])
    lane = site.lanes["in-1"]
    source = site.lane("in-1").sources[0].source
    by_reader = TransactionContext("t1", site.id, "in-1", Scanned("qr", text=_pass(issuer)), lane.devices)
    by_loop = TransactionContext("t2", site.id, "in-1", PresenceChanged("entry", occupied=True), lane.devices)
    at_once = source.collect(by_reader)
    with pytest.raises(StopIteration) as done:  # answered without waiting: the lane needs no task
        at_once.send(None)
    evidence = done.value.value
    assert evidence.outcome is Outcome.PASS and evidence.summary["via"] == "reader"
    assert evidence.claims["identity_ref"] == SUBJECT
    looking = source.collect(by_loop)
    assert looking.send(None) is not None  # the camera must look first: it waits
    looking.close()


async def test_garbage_scan_is_referred_as_malformed(tmp_path: Path, trust: Path) -> None:
    site, rec = _site(tmp_path, trust, [("in-1", "qr", _camera_folder(tmp_path, "cam", None))])
    async with running(site):
        site.lanes["in-1"].devices["qr"].present("GP1:NOT-A-PASS")  # type: ignore[attr-defined]
        await wait_for(lambda: rec.decisions, timeout=20)
    assert rec.decisions[0].outcome is Outcome.REFER
    assert rec.decisions[0].evidence["pass"].reason == "malformed"


async def test_camera_without_a_pass_in_view_ends_in_refer_at_the_deadline(tmp_path: Path, trust: Path) -> None:
    site, rec = _site(tmp_path, trust, [("in-1", "entry", _camera_folder(tmp_path, "cam", None))])
    async with running(site):
        await _arrive(site, "in-1")
        await wait_for(lambda: rec.decisions, timeout=20)
        await _leave(site, rec, "in-1")
    assert rec.decisions[0].outcome is Outcome.REFER and "pass" in rec.decisions[0].missing


async def test_same_pass_at_a_second_lane_within_the_window_is_referred_as_replay(
        tmp_path: Path, trust: Path, issuer: Issuer) -> None:
    text = _pass(issuer)
    site, rec = _site(tmp_path, trust, [("in-1", "qr", _camera_folder(tmp_path, "c1", None)),
                                        ("in-2", "qr", _camera_folder(tmp_path, "c2", None))])
    async with running(site):
        site.lanes["in-1"].devices["qr"].present(text)  # type: ignore[attr-defined]
        await wait_for(lambda: len(rec.decisions) == 1, timeout=20)
        await _leave(site, rec, "in-1")
        site.lanes["in-2"].devices["qr"].present(text)  # type: ignore[attr-defined]
        await wait_for(lambda: len(rec.decisions) == 2, timeout=20)
    first, second = rec.decisions
    assert (first.outcome, first.evidence["pass"].reason) == (Outcome.PASS, "ok")
    assert (second.outcome, second.evidence["pass"].reason) == (Outcome.REFER, "replay")
    assert second.evidence["pass"].summary["pass_id_hash"] == first.evidence["pass"].summary["pass_id_hash"]


def test_unreadable_trust_list_is_a_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="trust"):
        _site(tmp_path, tmp_path / "missing.json", [("in-1", "qr", _camera_folder(tmp_path, "cam", None))])


# --- command line ---------------------------------------------------------------------------------

def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    pm = make_manager(entry_points_enabled=False)
    register(pm, gate_barcode, "gate_barcode")
    from gatecore.cli import parser

    args = parser(pm).parse_args(argv)
    code = args.func(args)
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_barcode_read_prints_one_json_line_per_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame, placed = synth.make_frame(np.random.default_rng(11), "clean", n_codes=2)
    good = tmp_path / "two.png"
    cv2.imwrite(str(good), frame)
    binary = tmp_path / "bytes.png"
    symbol = synth.zxingcpp.create_barcode(b"\x00\xffGP", synth.zxingcpp.BarcodeFormat.QRCode)
    cv2.imwrite(str(binary), np.asarray(synth.zxingcpp.write_barcode_to_image(symbol, scale=6)))
    code, lines = _cli(["barcode", "read", str(good), str(binary), str(tmp_path / "none.png")], capsys)
    assert code == 1  # the missing file
    assert [ln["file"] for ln in lines] == [str(good), str(binary), str(tmp_path / "none.png")]
    assert sorted(c["text"] for c in lines[0]["codes"]) == sorted(p.text for p in placed)
    assert all(len(c["box"]) == 4 and c["format"] for c in lines[0]["codes"])
    assert lines[1]["codes"][0] == {**lines[1]["codes"][0], "text": "AP9HUA==", "bytes": True}
    assert lines[2]["codes"] == [] and "error" in lines[2]


def test_pass_keygen_issue_verify_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, trust, png = tmp_path / "k.pem", tmp_path / "trust.json", tmp_path / "pass.png"
    code, (made,) = _cli(["pass", "keygen", "--alg", "ES256", "--issuer", "CN-DX", "--key", str(key),
                          "--trust", str(trust)], capsys)
    assert code == 0 and made["alg"] == "ES256" and key.stat().st_mode & 0o777 == 0o600
    pm_args = ["pass", "issue", "--key", str(key), "--issuer", "CN-DX", "--subject", "drv-77", "--type", "driver",
               "--png", str(png)]
    pm = make_manager(entry_points_enabled=False)
    register(pm, gate_barcode, "gate_barcode")
    from gatecore.cli import parser

    args = parser(pm).parse_args(pm_args)
    assert args.func(args) == 0
    text = capsys.readouterr().out.strip()
    code, lines = _cli(["pass", "verify", "--trust", str(trust), text, text[:-3], "--image", str(png)], capsys)
    assert code == 1
    assert [(ln["outcome"], ln["reason"]) for ln in lines] == [("PASS", "ok"), ("REFER", "malformed"), ("PASS", "ok")]
    assert lines[0]["claims"]["subject"] == "drv-77" and lines[0]["id_hash"] == lines[2]["id_hash"]



def test_root_keygen_sign_trust_and_verify_against_the_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, root_pub, key, trust, signed = (tmp_path / n for n in ("root.pem", "root.pub", "k.pem", "t.json", "t.cose"))
    assert _cli(["pass", "root-keygen", "--key", str(root), "--public", str(root_pub)], capsys)[0] == 0
    assert root.stat().st_mode & 0o777 == 0o600
    assert _cli(["pass", "keygen", "--issuer", "VN-MC", "--key", str(key), "--trust", str(trust)], capsys)[0] == 0
    code, (made,) = _cli(["pass", "sign-trust", "--root-key", str(root), "--trust", str(trust), "--out", str(signed)],
                         capsys)
    assert code == 0 and made["keys"] == 1
    pm = make_manager(entry_points_enabled=False)
    register(pm, gate_barcode, "gate_barcode")
    from gatecore.cli import parser

    texts = []
    for site in ("mong-cai", "dongxing-cn"):
        args = parser(pm).parse_args(["pass", "issue", "--key", str(key), "--issuer", "VN-MC", "--subject", "r-1",
                                      "--site", site])
        assert args.func(args) == 0
        texts.append(capsys.readouterr().out.strip())
    code, lines = _cli(["pass", "verify", "--trust", str(signed), "--root", str(root_pub), "--site", "mong-cai",
                        *texts], capsys)
    assert code == 1 and [ln["reason"] for ln in lines] == ["ok", "wrong_site"]
    code, _ = _cli(["pass", "verify", "--trust", str(signed), texts[0]], capsys)  # signed, but no root given
    assert code == 2
