"""The cargo lane's decision from the manifests of the partner-gate link: PASS only with a matching, unexpired
manifest for the plates and container codes read, REFER with the reason otherwise, DENY for a flagged one;
each decision reaches the partner as a clearance. And what `gatecore check` refuses of a link lane."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import gate_link
from gate_link import claims, store
from gate_link.decision import ManifestIndex, check
from gate_link.messages import Manifest, draft
from gate_link.state import LinkSite
from gatecore.api import BarrierPosition, Outcome, ProfileError, Site
from gatecore.testing import Recorder, make_site, running, wait_for

from . import plate_claims
from .link_kit import manifest

CODE, OTHER, BAD = "CSQU3054383", "MSCU1234566", "CSQU3054384"

SITE = """
[site]
id = "mong-cai/link-test"
[run]
shutdown_timeout_s = 3.0
[plugins.gate_sim]
traffic = false
[plugins.gate_link]
transport = "local"
state_dir = "{state}"
simulator = {{ trucks = 1 }}
receipt_timeout_s = 2.0

[[lanes]]
id = "cargo-in-1"
flow = "cargo"
trigger = "entry"
exit = "exit"
policy = {{ require = ["plate", "manifest"], deadline_ms = 800, refer_hold_ms = 0, confirm_timeout_ms = 1000 }}
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
  [[lanes.evidence]]
  kind = "test.plates"
  source = "plate"
  deadline_ms = 300
  [[lanes.evidence]]
  kind = "link.manifest"
  source = "manifest"
  plates_from = "plate"
  deadline_ms = 600
"""


def held(**changes: object) -> Manifest:
    fields = {**manifest("DX-1", codes=(CODE,), plates=("51G-123.45", "51R-067.89")), **changes}
    return Manifest.model_validate(draft("manifest", "dongxing", "mong-cai", time.time(), **fields))


@pytest.mark.parametrize(("changes", "plates", "codes", "outcome", "reason"), [
    ({}, ["51G 12345"], [CODE], Outcome.PASS, "matched"),  # plates compared normalised (gatecore.api)
    ({}, ["51G12345", "51R06789"], ["csqu 305438-3"], Outcome.PASS, "matched"),
    ({}, [], [CODE], Outcome.REFER, "no_plates"),
    ({}, ["29C12345"], [CODE], Outcome.REFER, "no_manifest"),
    ({"valid_until": "2020-01-01T00:00:00Z"}, ["51G12345"], [CODE], Outcome.REFER, "expired"),
    ({}, ["51G12345", "99X99999"], [CODE], Outcome.REFER, "plate_mismatch"),
    ({}, ["51G12345"], [OTHER], Outcome.REFER, "container_mismatch"),
    ({}, ["51G12345"], [], Outcome.REFER, "container_mismatch"),
    ({}, ["51G12345"], [BAD], Outcome.REFER, "container_unreadable"),
    ({"flagged": True}, ["51G12345"], [CODE], Outcome.DENY, "flagged"),
    ({"flagged": True, "valid_until": "2020-01-01T00:00:00Z"}, ["51G12345"], [CODE], Outcome.DENY, "flagged"),
], ids=["match", "match-two-plates", "no-plates", "no-manifest", "expired", "plate-mismatch", "container-mismatch",
        "container-missing", "unreadable-code", "flagged", "flagged-and-expired"])
def test_the_manifest_check(changes: dict[str, object], plates: list[str], codes: list[str], outcome: Outcome,
                            reason: str) -> None:
    index = ManifestIndex()
    index.put(held(**changes))
    p, c = claims.read(claims.make(plates, codes))
    assert check(index, p, c, time.time())[:2] == (outcome, reason)


def test_an_older_manifest_never_replaces_a_newer_one_in_the_index() -> None:
    index = ManifestIndex()
    index.put(held(version=3, flagged=True))
    index.put(held(version=2))
    assert index.by_consignment["DX-1"].flagged and index.by_consignment["DX-1"].version == 3


async def _cross(site: Site, rec: Recorder, n: int) -> None:
    devices = site.lanes["cargo-in-1"].devices
    devices["entry"].set(True)  # type: ignore[attr-defined]
    await wait_for(lambda: len(rec.decisions) == n)
    if rec.decisions[-1].outcome is Outcome.PASS:
        await wait_for(lambda: devices["barrier"].position is BarrierPosition.OPEN)  # type: ignore[attr-defined]
    devices["exit"].set(True)  # type: ignore[attr-defined]
    devices["entry"].set(False)  # type: ignore[attr-defined]
    devices["exit"].set(False)  # type: ignore[attr-defined]
    await wait_for(lambda: site.lanes["cargo-in-1"].state.value == "idle")


async def test_a_cargo_lane_decides_from_the_partners_manifests_and_tells_the_partner(tmp_path: Path) -> None:
    site, rec = make_site(SITE.format(state=tmp_path / "link"), tmp_path, plugins={"plates": plate_claims})
    reads = [(["51G12345"], [CODE]), (["51G12345"], [OTHER]), (["29C12345"], [CODE]), (["88A12345"], [CODE]), ([], [])]
    async with running(site):
        link = site.stash[gate_link.LINK]
        assert isinstance(link, LinkSite) and link.partner is not None
        await link.partner.endpoint.send("manifest", **manifest("DX-1", codes=(CODE,), plates=("51G-123.45",)))
        await link.partner.endpoint.send("manifest", **manifest("DX-2", plates=("29C-123.45",), flagged=True))
        await wait_for(lambda: {"DX-1", "DX-2"} <= set(link.index.by_consignment))
        for n, (plates, codes) in enumerate(reads, 1):
            plate_claims.READS.append(claims.make(plates, codes))
            await _cross(site, rec, n)
        partner = link.partner.endpoint
        await wait_for(lambda: (partner.counts().get("applied", 0)) >= 5, timeout=10)
        clearances = await partner.db.run(lambda conn: store.current(conn, "mong-cai", "clearance"))
    got = [(d.outcome, d.evidence["manifest"].reason) for d in rec.decisions]
    assert got == [(Outcome.PASS, "matched"), (Outcome.REFER, "container_mismatch"), (Outcome.DENY, "flagged"),
                   (Outcome.REFER, "no_manifest"), (Outcome.REFER, "no_plates")]
    by_subject = {subject: body for subject, _, body in clearances}
    assert set(by_subject) == {"consignment:DX-1", "consignment:DX-2", "plate:88A12345"}  # no plates: nothing to tell
    assert b'"outcome":"deny"' in by_subject["consignment:DX-2"]


SECTION = """[plugins.gate_link]
transport = "local"
state_dir = "{state}"
simulator = {{ trucks = 1 }}
receipt_timeout_s = 2.0
"""
BROKEN: dict[str, tuple[list[tuple[str, str]], str]] = {
    "plates-from-no-source": ([('source = "plate"', 'source = "front"'), ('["plate", "manifest"]', '["manifest"]')],
                              "no other evidence source 'plate' in this lane; sources: 'front'"),
    "manifest-not-required": ([('require = ["plate", "manifest"]', 'require = ["plate"]')],
                              "its policy must require 'manifest'"),
    "no-section": ([(SECTION, "")], "needs a [plugins.gate_link] section"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_check_refuses_a_link_lane_it_could_not_run(tmp_path: Path, case: str) -> None:
    changes, message = BROKEN[case]
    text = SITE.format(state=tmp_path / "link")
    for old, new in changes:
        old = old.format(state=tmp_path / "link")
        assert old in text
        text = text.replace(old, new)
    with pytest.raises(ProfileError) as err:
        make_site(text, tmp_path, plugins={"plates": plate_claims})
    assert any(message in str(issue) for issue in err.value.issues), err.value.issues


def test_the_claims_of_gate_plates_two_sources_are_read_too() -> None:
    """gate_plate's plate.vehicle gives its best read as ``text``, its plate.container the sure codes as texts."""
    vehicle = {"candidates": [{"text": "51G12345", "confidence": 0.9, "valid": True}], "text": "51G-123.45"}
    container = {"candidates": [], "codes": ["CSQU 305438 3"]}
    assert claims.plates(vehicle) == ["51G12345"] and claims.codes(container) == ["CSQU3054383"]
    assert claims.plates({"plates": "51G12345"}) == [] and claims.codes({"codes": [7, None]}) == []
