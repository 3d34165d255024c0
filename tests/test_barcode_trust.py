"""Signed pass trust lists: made and checked with a root key, taken over the broker only when newer and
signed by the profile's root (refusals logged and counted), kept across restarts; and what
`gatecore check` says about the barcode section, with its location."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from structlog.testing import capture_logs

import gate_barcode
from gate_barcode import BARCODE
from gate_barcode.state import TRUST_NAME, trust_update
from gate_barcode.trust import TrustList, TrustListError, TrustListModel, kid_for, sign_trust_list
from gatecore.api import Outcome, ProfileError, SharedState, Site
from gatecore.plugins import make_manager
from gatecore.profile import load_profile
from gatecore.testing import Recorder, make_site, running, wait_for

from .barcode_kit import (
    barcode_site,
    connected,
    entry,
    ioc_section,
    issue,
    lane,
    new_issuer,
    profile,
    scan,
    share_keys,
    write_signed_trust,
    write_trust,
)

#: a lane for the IOC's own site (it checks no passes: it only publishes)
IOC_LANE = """
[[lanes]]
id = "l0"
devices = [{ kind = "sim.presence", role = "entry" }, { kind = "sim.barrier", role = "barrier", travel_ms = 0 }]
"""


def _root(directory: Path, name: str = "root") -> tuple[ed25519.Ed25519PrivateKey, Path]:
    key = ed25519.Ed25519PrivateKey.generate()
    path = directory / f"{name}.pub.pem"
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, path


# --- the signed list on its own -------------------------------------------------------------------

def test_a_signed_trust_list_loads_with_its_root_and_not_with_another(tmp_path: Path) -> None:
    root, _ = _root(tmp_path)
    issuer = new_issuer()
    path = write_signed_trust(tmp_path / "trust.cose", root, 7, issuer)
    trust = TrustList.load(path, root.public_key())
    assert trust.sequence == 7 and list(trust.entries) == [issuer.kid] and trust.signed == path.read_bytes()
    with pytest.raises(TrustListError, match="does not verify with the root key"):
        TrustList.load(path, ed25519.Ed25519PrivateKey.generate().public_key())
    with pytest.raises(TrustListError, match="needs trust_root"):
        TrustList.load(path)


def test_a_tampered_or_mislabelled_signed_list_is_refused(tmp_path: Path) -> None:
    from gate_barcode import cose

    root, _ = _root(tmp_path)
    signed = bytearray(sign_trust_list(TrustListModel(sequence=1, keys=[entry(new_issuer())]), root))
    signed[-70] ^= 0x01  # a byte of the payload
    with pytest.raises(TrustListError):
        TrustList.from_signed(bytes(signed), root.public_key(), "x")
    not_a_list = cose.sign1(b'{"version": 1, "keys": []}', root, kid_for(root.public_key()))  # no content type
    with pytest.raises(TrustListError, match="content type"):
        TrustList.from_signed(not_a_list, root.public_key(), "x")


# --- gatecore check -------------------------------------------------------------------------------

def _issues(tmp_path: Path, barcode: str, lanes: list[str] | None = None) -> list[str]:
    path = tmp_path / "site.toml"
    path.write_text(profile(tmp_path, lanes if lanes is not None else [lane("l1")], barcode=barcode))
    with pytest.raises(ProfileError) as err:
        load_profile(path, make_manager())  # gate_barcode comes by its entry point, as in `gatecore check`
    return [str(i) for i in err.value.issues]


def test_check_reports_each_barcode_problem_at_its_key(tmp_path: Path) -> None:
    root, root_pem = _root(tmp_path)
    _, other_pem = _root(tmp_path, "other")
    issuer = new_issuer()
    plain = write_trust(tmp_path / "trust.json", issuer)
    signed = write_signed_trust(tmp_path / "trust.cose", root, 1, issuer)
    cases = {
        f'trust_root = "{tmp_path / "missing.pem"}"\ntrust_list = "{signed}"':
            ("plugins.gate_barcode.trust_root", "cannot read the root key"),
        f'trust_root = "{plain}"\ntrust_list = "{signed}"': ("plugins.gate_barcode.trust_root", "not a PEM public key"),
        f'trust_list = "{signed}"': ("plugins.gate_barcode.trust_list", "needs trust_root"),
        f'trust_root = "{root_pem}"\ntrust_list = "{plain}"': ("plugins.gate_barcode.trust_list", "not a signed"),
        f'trust_root = "{other_pem}"\ntrust_list = "{signed}"': ("plugins.gate_barcode.trust_list", "does not verify"),
        f'trust_root = "{root_pem}"': ("plugins.gate_barcode", "trust_root is set without trust_list"),
        f'trust_list = "{plain}"\ncrossing = "mong-cai/x"': ("plugins.gate_barcode.crossing", "would match pattern"),
        "": ("plugins.gate_barcode", "names no trust_list"),
    }
    for text, (where, message) in cases.items():
        issues = _issues(tmp_path, text)
        assert any("site.toml:" in i and f": {where}: " in i and message in i for i in issues), (text, issues)


def test_check_reports_an_unusable_state_dir(tmp_path: Path) -> None:
    plain = write_trust(tmp_path / "trust.json", new_issuer())
    (tmp_path / "state").write_text("a file, not a directory")
    issues = _issues(tmp_path, f'trust_list = "{plain}"')
    assert any("plugins.gate_barcode.state_dir: " in i and "not a directory" in i for i in issues), issues


def test_check_reports_a_reader_role_the_lane_does_not_have(tmp_path: Path) -> None:
    plain = write_trust(tmp_path / "trust.json", new_issuer())
    no_reader = lane("l1").replace('reader = "qr"', 'reader = "qr-2"')
    issues = _issues(tmp_path, f'trust_list = "{plain}"', [no_reader])
    assert any("lanes[0].evidence[0].reader: " in i and "no device with role 'qr-2'" in i for i in issues), issues


# --- updates over the broker ----------------------------------------------------------------------

async def test_a_newer_signed_list_is_taken_and_kept_and_bad_ones_are_refused_and_counted(tmp_path: Path) -> None:
    root, root_pem = _root(tmp_path)
    old, new = new_issuer(), new_issuer("CN-DX")
    start = write_signed_trust(tmp_path / "trust.cose", root, 1, old)
    barcode = f'trust_root = "{root_pem}"'
    site, rec = _signed_site(tmp_path, start, barcode)
    state = site.stash[BARCODE].open()
    newer = TrustList.from_signed(sign_trust_list(TrustListModel(sequence=2, keys=[entry(old), entry(new)]), root),
                                  root.public_key(), "test")
    stranger = ed25519.Ed25519PrivateKey.generate()
    forged = sign_trust_list(TrustListModel(sequence=3, keys=[entry(new_issuer())]), stranger)
    stale = sign_trust_list(TrustListModel(sequence=1, keys=[entry(new)]), root)
    with capture_logs() as logs:
        async with running(site):
            before = await scan(site, rec, "l1", issue(new))
            assert await site.apply_state(trust_update("ioc", newer))
            after = await scan(site, rec, "l1", issue(new))
            assert not await site.apply_state(SharedState("ioc", TRUST_NAME, "snapshot", 0, 3, forged))
            assert not await site.apply_state(SharedState("ioc", TRUST_NAME, "snapshot", 0, 1, stale))
            assert not await site.apply_state(SharedState("ioc", TRUST_NAME, "snapshot", 0, 9, newer.signed or b""))
            assert await site.apply_state(trust_update("ioc", newer))  # the same list again: nothing to do
    assert (before.outcome, before.evidence["pass"].reason) == (Outcome.REFER, "unknown_issuer")
    assert after.outcome is Outcome.PASS
    assert (state.counts["trust_refused"], state.counts["trust_stale"], state.trust.sequence) == (2, 1, 2)
    refused = [e for e in logs if e["event"] == "pass_trust_refused"]
    # the refusal is logged as the error's type and where it was raised (trust.py: "does not verify")
    assert len(refused) == 2 and refused[0]["error"].startswith("TrustListError at gate_barcode.trust:")
    assert refused[-1]["refused"] == 2
    restarted, _ = _signed_site(tmp_path, start, barcode)  # the profile still names the list of sequence 1
    trust = restarted.stash[BARCODE].open().trust
    assert trust.sequence == 2 and new.kid in trust.entries


def _signed_site(tmp_path: Path, trust: Path, barcode: str, extra: str = "") -> tuple[Site, Recorder]:
    """A controller whose trust list is ``trust`` (plus ``barcode`` lines: its trust_root) and one lane."""
    text = profile(tmp_path, [lane("l1")], barcode=f'trust_list = "{trust}"\n{barcode}', extra=extra)
    return make_site(text, tmp_path, plugins={"gate_barcode": gate_barcode})


async def test_without_a_root_no_list_is_taken_from_the_broker(tmp_path: Path) -> None:
    root, _ = _root(tmp_path)
    site, _ = barcode_site(tmp_path, write_trust(tmp_path / "trust.json", new_issuer()), [lane("l1")])
    signed = TrustList.from_signed(sign_trust_list(TrustListModel(sequence=5), root), root.public_key(), "t")
    assert not await site.apply_state(trust_update("ioc", signed))
    assert site.stash[BARCODE].open().counts["trust_refused"] == 1 and site.stash[BARCODE].open().trust.sequence == 0


async def test_the_ioc_publishes_a_signed_list_and_a_controller_takes_it_over_mosquitto(tmp_path: Path) -> None:
    from gate_ioc.testing import Broker

    root, root_pem = _root(tmp_path)
    old, new = new_issuer(), new_issuer()
    start = write_signed_trust(tmp_path / "trust.cose", root, 1, old)
    newer = TrustList.from_signed(sign_trust_list(TrustListModel(sequence=2, keys=[entry(new)]), root),
                                  root.public_key(), "test")
    broker = Broker(tmp_path / "mosquitto", durable_sessions=False)
    broker.start()
    try:
        keys = share_keys(tmp_path, "ioc", "ctl")
        (tmp_path / "ioc").mkdir()
        ioc, _ = make_site('[site]\nid = "mong-cai/ioc"\n[plugins.gate_sim]\ntraffic = false\n' + IOC_LANE
                           + ioc_section(broker.port, tmp_path / "ioc", keys, "ioc"), tmp_path / "ioc")
        ctl, rec = _signed_site(tmp_path, start, f'trust_root = "{root_pem}"',
                                extra=ioc_section(broker.port, tmp_path, keys, "ctl"))
        async with running(ioc), running(ctl):
            await connected(ioc)
            await connected(ctl)
            await ioc.share_state(trust_update(ioc.id, newer))
            await wait_for(lambda: ctl.stash[BARCODE].open().trust.sequence == 2, timeout=10)
            decision = await scan(ctl, rec, "l1", issue(new))
    finally:
        broker.stop()
    assert decision.outcome is Outcome.PASS
    assert (tmp_path / "state" / "pass-trust.cose").read_bytes() == newer.signed


def test_only_a_signed_list_can_be_shared() -> None:
    with pytest.raises(ValueError, match="only a signed"):
        trust_update("ioc", TrustList({}))
