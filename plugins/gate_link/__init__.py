"""gate_link: the partner-gate link (Dongxing), signed, replay-proof and store-and-forward.

Profile::

    [plugins.gate_link]
    party = "mong-cai"
    partner = "dongxing"
    transport = "mqtt"                                   # or "local" (the demo, with the partner simulator)
    broker = "mqtts://link.example:8883"
    tls = { ca_file = "/etc/gatecore/ca.pem", cert_file = "/etc/gatecore/mc.pem", key_file = "/etc/gatecore/mc.key" }
    signing_key = "file:/etc/gatecore/link/mc-2026a.key"  # PKCS#8 PEM, Ed25519 or SM2
    key_id = "mc-2026a"
    trust_list = "/etc/gatecore/link/dongxing-trust.json"
    trust_root = "/etc/gatecore/link/dongxing-root.pub"

    [[lanes.evidence]]
    kind = "link.manifest"
    source = "manifest"
    plates_from = "plate"          # the lane's plate reader evidence (claims: gate_link.claims)
    codes_from = "containers"      # the lane's container-code reader (default: plates_from)

A cargo lane's ``link.manifest`` evidence PASSes only with a matching, unexpired manifest for the plates and
container codes read; it REFERs with the reason otherwise and DENYs a consignment the partner flagged.
Every decision of such a lane goes to the partner as a clearance (committed to the outbox before the
barrier moves), and its opening, closing or degrading as a lane status. See README.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from gatecore.api import (
    ConfigModel,
    Decision,
    EvidenceConfig,
    EvidenceSource,
    LaneInfo,
    LaneStateChange,
    PartnerMessage,
    Profile,
    SiteView,
    StashKey,
    hookimpl,
)

from . import cli
from .config import LinkSection, ManifestEvidenceConfig, SimPlatesConfig
from .decision import ManifestEvidence
from .sim import SimPlates
from .state import LinkSite

NAME = "gate_link"
LINK = StashKey[LinkSite]()

Issues = list[tuple[tuple[str | int, ...], str]]


def _link(site: SiteView) -> LinkSite | None:
    return site.stash.get(LINK, None)


@hookimpl
def gatecore_config_section() -> tuple[str, type[ConfigModel]]:
    return NAME, LinkSection


@hookimpl
def gatecore_evidence_kinds() -> Sequence[type[EvidenceConfig]]:
    return (ManifestEvidenceConfig, SimPlatesConfig)


@hookimpl
def gatecore_check_profile(profile: Profile) -> Issues:
    """A manifest source reads another source of its lane, its lane requires it, and the site has a link
    section (with the simulator, for simulated plates)."""
    section = profile.plugin_config(NAME)
    issues: Issues = []
    for i, lane in enumerate(profile.lanes):
        sources = [ev.source for ev in lane.evidence]
        for j, ev in enumerate(lane.evidence):
            at: tuple[str | int, ...] = ("lanes", i, "evidence", j)
            if isinstance(ev, ManifestEvidenceConfig | SimPlatesConfig) and not isinstance(section, LinkSection):
                issues.append(((*at, "kind"), f"kind {ev.kind!r} needs a [plugins.{NAME}] section"))
            if isinstance(ev, SimPlatesConfig) and isinstance(section, LinkSection) and section.simulator is None:
                issues.append(((*at, "kind"), f"'link.sim_plates' reads the partner simulator's traffic: "
                                              f"[plugins.{NAME}.simulator] is not configured"))
            if not isinstance(ev, ManifestEvidenceConfig):
                continue
            for key, name in (("plates_from", ev.plates_from), ("codes_from", ev.codes_from)):
                if name is not None and (name == ev.source or name not in sources):
                    others = ", ".join(repr(s) for s in sources if s != ev.source) or "none"
                    issues.append(((*at, key), f"no other evidence source {name!r} in this lane; sources: {others}"))
            if ev.source not in lane.policy.require:
                issues.append((("lanes", i, "policy", "require"), f"a cargo lane passes only with a matching "
                               f"manifest: its policy must require {ev.source!r}"))
    return issues


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    cfg = site.plugin_config(NAME)
    if isinstance(cfg, LinkSection):
        site.stash[LINK] = LinkSite(cfg, site)


@hookimpl
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
    link = _link(lane.site)
    if isinstance(config, ManifestEvidenceConfig) and link is not None:
        return ManifestEvidence(config, link.index)
    if isinstance(config, SimPlatesConfig) and link is not None and link.cfg.simulator is not None:
        return SimPlates(config, lane.id, link.trucks, link.cfg.simulator.seed)
    return None


@hookimpl
async def gatecore_site_start(site: SiteView) -> None:
    link = _link(site)
    if link is not None:
        await link.start()
        site.spawn(link.run(), name=f"{NAME}/run")


@hookimpl
async def gatecore_site_stop(site: SiteView) -> None:
    link = _link(site)
    if link is not None:
        await link.stop()


@hookimpl
async def gatecore_report_decision(site: SiteView, decision: Decision) -> None:
    link = _link(site)
    if link is not None:
        await link.decided(decision)


@hookimpl
def gatecore_summary(site: SiteView) -> dict[str, Any] | None:
    link = _link(site)
    return {"link": link.figures()} if link is not None else None


@hookimpl
async def gatecore_partner_send(site: SiteView, message: PartnerMessage) -> bool | None:
    """Hand-overs of IGVs to the partner travel as signed ``handover`` messages."""
    link = _link(site)
    return await link.to_partner(message) if link is not None else None


@hookimpl
async def gatecore_report_lane_state(site: SiteView, change: LaneStateChange) -> None:
    link = _link(site)
    if link is not None:
        await link.lane_changed(change)


@hookimpl
def gatecore_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cli.add_commands(subparsers)
