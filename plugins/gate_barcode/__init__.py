"""gate_barcode: QR and barcodes read from camera frames; signed passes verified offline.

Profile::

    [plugins.gate_barcode]
    trust_list = "/etc/gatecore/trust.cose"   # issuer keys (docs/pass-format.md)...
    trust_root = "/etc/gatecore/root.pem"     # ...signed by this root: updates come over the broker
    crossing = "mong-cai"                      # passes' site claim; the replay guard's name
    state_dir = "/var/lib/gatecore/barcode"    # replay guard uses, trust list updates
    backend = "zxing"                          # or "zbar"
    replay_window_s = 300

    [[lanes.evidence]]
    kind = "barcode.pass"
    source = "pass"
    camera = "pass-cam"    # and/or reader = "qr-reader"
    replay_group = "in"

A verified pass gives PASS with ``claims["identity_ref"]`` (for the face plugin's 1:1 check); every
rejection gives DENY or REFER with its reason (see ``passes.DEFAULT_OUTCOMES``). A PASS decision
records the pass's use for the replay guard (``gatecore_report_decision``), which the crossing's
controllers share (``gatecore_share_state`` / ``gatecore_apply_state``). Logs carry the pass id hash only.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from gatecore.api import (
    Camera,
    ConfigModel,
    Decision,
    EvidenceConfig,
    EvidenceSource,
    LaneInfo,
    Profile,
    Reader,
    SharedState,
    SiteView,
    StashKey,
    hookimpl,
)

from . import cli
from .config import BarcodeSection, PassEvidenceConfig
from .evidence import PassEvidence
from .state import TRUST_NAME, USES_PREFIX, SiteState, log

NAME = "gate_barcode"
@dataclass
class SiteBarcode:
    """A site's pass checking, opened by its first pass source (trust lists read, stored uses loaded): a
    site without pass lanes opens no state directory."""

    section: BarcodeSection | None
    site_id: str
    state: SiteState | None = None

    def open(self) -> SiteState:
        if self.state is None:
            self.state = SiteState.from_section(self.section, self.site_id)
        return self.state


BARCODE = StashKey[SiteBarcode]()


def _state(site: SiteView) -> SiteState | None:
    barcode = site.stash.get(BARCODE, None)
    return barcode.state if barcode is not None else None


@hookimpl
def gatecore_config_section() -> tuple[str, type[ConfigModel]]:
    return NAME, BarcodeSection


@hookimpl
def gatecore_evidence_kinds() -> Sequence[type[EvidenceConfig]]:
    return (PassEvidenceConfig,)


@hookimpl
def gatecore_check_profile(profile: Profile) -> list[tuple[tuple[str | int, ...], str]]:
    """A pass source's ``camera`` is a camera of its lane and its ``reader`` a reader, and the site has a
    trust list to check passes with."""
    issues: list[tuple[tuple[str | int, ...], str]] = []
    used = False
    for i, lane in enumerate(profile.lanes):
        for j, ev in enumerate(lane.evidence):
            if not isinstance(ev, PassEvidenceConfig):
                continue
            used = True
            for key, role, model in (("camera", ev.camera, Camera), ("reader", ev.reader, Reader)):
                problem = lane.role_problem(role, model) if role is not None else None
                if problem:
                    issues.append((("lanes", i, "evidence", j, key), problem))
    section = profile.plugin_config(NAME)
    if used and not (isinstance(section, BarcodeSection) and section.trust_list):
        issues.append((("plugins", NAME) if section else ("plugins",),
                       f"a lane checks passes but [plugins.{NAME}] names no trust_list: every pass would be refused"))
    return issues


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    """Once per site; the trust list is read and the replay guard, shared by all lanes, loaded by the first
    pass source."""
    section = site.plugin_config(NAME)
    site.stash[BARCODE] = SiteBarcode(section if isinstance(section, BarcodeSection) else None, site.id)


@hookimpl
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
    if not isinstance(config, PassEvidenceConfig):
        return None
    return PassEvidence(config, lane.id, lane.site.stash[BARCODE].open())


@hookimpl
def gatecore_site_start(site: SiteView) -> None:
    state = _state(site)
    if state is not None:
        site.spawn(state.share_snapshots(site), name=f"{NAME}/share-uses")


@hookimpl
async def gatecore_report_decision(site: SiteView, decision: Decision) -> None:
    """A PASS records the use of its pass (saved before this returns, so before the barrier opens)."""
    state = _state(site)
    if state is not None:
        await state.decided(site, decision)


@hookimpl
async def gatecore_apply_state(site: SiteView, update: SharedState) -> bool | None:
    """Uses from the crossing's other controllers, and signed trust lists (``gate_barcode/...``)."""
    state = _state(site)
    if state is None or not update.name.startswith(f"{NAME}/"):
        return None
    if update.name == TRUST_NAME:
        return await state.apply_trust(update)
    if update.name.startswith(f"{USES_PREFIX}{state.crossing}/"):
        return state.apply_uses(update)
    return None  # another crossing's guard


@hookimpl
def gatecore_site_stop(site: SiteView) -> None:
    state = _state(site)
    if state is not None:  # verdicts by reason, dropped frames, refused updates, for the run's log
        log.info("barcode_summary", counts=state.summary())
        state.close()


@hookimpl
def gatecore_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cli.add_commands(subparsers)
