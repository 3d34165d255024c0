"""Helpers of the pass tests: issuers and trust lists, a reader-triggered lane profile, one scan at a lane."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

import gate_barcode
from gate_barcode.passes import Issuer
from gate_barcode.trust import TrustedKey, TrustListModel, sign_trust_list, trust_list_json, trusted_key
from gatecore.api import Decision, LaneState, Site
from gatecore.testing import Recorder, make_site, wait_for

SUBJECT = "res-000417"

SITE = """
[site]
id = "{site}"
[run]
shutdown_timeout_s = 3.0
report_timeout_ms = 1000
[plugins.gate_sim]
traffic = false
[plugins.gate_barcode]
state_dir = "{state}"
replay_window_s = 300
{barcode}
"""

LANE = """
[[lanes]]
id = "{lane}"
trigger = "qr"
exit = "exit"
barrier = "barrier"
  [lanes.policy]
  require = {require}
  deadline_ms = 2000
  confirm_timeout_ms = 1000
  clear_timeout_ms = 2000
  refer_hold_ms = 0
  [[lanes.devices]]
  kind = "sim.presence"
  role = "exit"
  [[lanes.devices]]
  kind = "sim.barrier"
  role = "barrier"
  travel_ms = 0
  [[lanes.devices]]
  kind = "sim.reader"
  role = "qr"
  [[lanes.evidence]]
  kind = "barcode.pass"
  source = "pass"
  reader = "qr"
  replay_group = "{group}"
  deadline_ms = 1000
"""

#: a second required source that always refers (a face that does not match, say)
REFERRING_FACE = """
  [[lanes.evidence]]
  kind = "sim.evidence"
  source = "face"
  pass_weight = 0
  deny_weight = 0
  refer_weight = 1
  latency_ms = [0, 0]
"""


def new_issuer(code: str = "VN-MC") -> Issuer:
    return Issuer(code, ed25519.Ed25519PrivateKey.generate())


def entry(issuer: Issuer) -> TrustedKey:
    now = datetime.now(UTC)
    return trusted_key(issuer.key.public_key(), issuer.issuer, now - timedelta(days=10), now + timedelta(days=300))


def write_trust(path: Path, *issuers: Issuer) -> Path:
    path.write_text(trust_list_json([entry(i) for i in issuers]))
    return path


def write_signed_trust(path: Path, root: ed25519.Ed25519PrivateKey, sequence: int, *issuers: Issuer) -> Path:
    path.write_bytes(sign_trust_list(TrustListModel(sequence=sequence, keys=[entry(i) for i in issuers]), root))
    return path


def issue(issuer: Issuer, site: str | None = None, pass_id: bytes | None = None) -> str:
    now = int(time.time())
    return issuer.issue(SUBJECT, "resident", now - 3600, now + 86_400, issued_at=now - 3600, site=site,
                        pass_id=pass_id)


def lane(name: str, group: str = "all", face: bool = False) -> str:
    require = '["pass", "face"]' if face else '["pass"]'
    return LANE.format(lane=name, group=group, require=require) + (REFERRING_FACE if face else "")


def profile(directory: Path, lanes: list[str], site: str = "mong-cai/bac-luan-1", barcode: str = "",
            extra: str = "") -> str:
    return SITE.format(site=site, state=directory / "state", barcode=barcode) + extra + "".join(lanes)


def barcode_site(directory: Path, trust: Path, lanes: list[str], site: str = "mong-cai/bac-luan-1",
                 extra: str = "", plugins: dict[str, object] | None = None) -> tuple[Site, Recorder]:
    directory.mkdir(parents=True, exist_ok=True)
    text = profile(directory, lanes, site, f'trust_list = "{trust}"', extra)
    return make_site(text, directory, plugins={"gate_barcode": gate_barcode, **(plugins or {})})


async def scan(site: Site, rec: Recorder, lane_id: str, text: str) -> Decision:
    """Present ``text`` to the lane's reader once it is idle; walk through after a PASS. The decision."""
    lane = site.lanes[lane_id]
    await wait_for(lambda: lane.state is LaneState.IDLE, timeout=10)
    n = len(rec.decisions)
    lane.devices["qr"].present(text)  # type: ignore[attr-defined]
    await wait_for(lambda: len(rec.decisions) > n, timeout=10)
    decision = rec.decisions[n]
    if decision.outcome.value == "pass":
        exit_loop = lane.devices["exit"]
        await wait_for(lambda: lane.state is LaneState.CLEARING, timeout=10)
        exit_loop.set(True)  # type: ignore[attr-defined]
        exit_loop.set(False)  # type: ignore[attr-defined]
    await wait_for(lambda: lane.state is LaneState.IDLE, timeout=10)
    return decision


def share_keys(directory: Path, *who: str) -> dict[str, Path]:
    """gate_ioc share keys (PEM) of each controller, and the share trust list of them all."""
    from cryptography.hazmat.primitives import serialization

    from gate_ioc import share

    out, trusted = {}, {}
    for name in who:
        key = ed25519.Ed25519PrivateKey.generate()
        out[name] = directory / f"share-{name}.pem"
        out[name].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
        trusted[name] = share.public_text(key)
    out["trust"] = directory / "share-trust.json"
    out["trust"].write_text(json.dumps({"keys": trusted}))
    return out


def ioc_section(port: int, directory: Path, keys: dict[str, Path], who: str) -> str:
    """[plugins.gate_ioc] of controller ``who``: MQTT to the test broker, sharing signed with its key."""
    return f"""
[plugins.gate_ioc]
transport = "mqtt"
broker = "mqtt://127.0.0.1:{port}"
client_id = "test-{who}"
heartbeat_s = 60
outbox = {{ path = "{directory / 'box.sqlite'}", synchronous = "normal" }}
share = {{ trusted_keys = "{keys['trust']}", signing_key = "file:{keys[who]}", key_id = "{who}" }}
"""


async def connected(site: Site) -> None:
    """Until the site's IOC reporter has subscribed to shared state."""
    from gate_ioc import REPORTER

    await wait_for(lambda: REPORTER in site.stash and site.stash[REPORTER].connected(), timeout=10)
