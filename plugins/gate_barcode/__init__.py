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

from gatecore.api import (
    ConfigModel,
    Decision,
    EvidenceConfig,
    EvidenceSource,
    LaneInfo,
    Profile,
    SharedState,
    Site,
    StashKey,
    hookimpl,
)

from . import cli
from .config import BarcodeSection, PassEvidenceConfig
from .evidence import PassEvidence
from .state import TRUST_NAME, USES_PREFIX, SiteState, log

NAME = "gate_barcode"
STATE = StashKey[SiteState]()


@hookimpl
def gatecore_config_section() -> tuple[str, type[ConfigModel]]:
    return NAME, BarcodeSection


@hookimpl
def gatecore_evidence_kinds() -> Sequence[type[EvidenceConfig]]:
    return (PassEvidenceConfig,)


@hookimpl
def gatecore_check_profile(profile: Profile) -> list[tuple[tuple[str | int, ...], str]]:
    """Every lane with a pass source names roles it has, and the site has a trust list to check passes with."""
    issues: list[tuple[tuple[str | int, ...], str]] = []
    used = False
    for i, lane in enumerate(profile.lanes):
        roles = {d.role for d in lane.devices}
        for j, ev in enumerate(lane.evidence):
            if not isinstance(ev, PassEvidenceConfig):
                continue
            used = True
            for key in ("camera", "reader"):
                role = getattr(ev, key)
                if role is not None and role not in roles:
                    issues.append((("lanes", i, "evidence", j, key),
                                   f"lane {lane.id} has no device with role {role!r} (known: {sorted(roles)})"))
    section = profile.plugin_config(NAME)
    if used and not (isinstance(section, BarcodeSection) and section.trust_list):
        issues.append((("plugins", NAME) if section else ("plugins",),
                       f"a lane checks passes but [plugins.{NAME}] names no trust_list: every pass would be refused"))
    return issues


@hookimpl
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
    if not isinstance(config, PassEvidenceConfig):
        return None
    section = lane.plugin_config(NAME)
    state = lane.stash.get(STATE, None)
    if state is None:  # once per site: the trust list is read and the replay guard shared by all lanes
        state = SiteState.from_section(section if isinstance(section, BarcodeSection) else None, lane.site_id)
        lane.stash[STATE] = state
    return PassEvidence(config, lane.id, state)


@hookimpl
def gatecore_site_start(site: Site) -> None:
    state = site.stash.get(STATE, None)
    if state is not None:
        site.spawn(state.share_snapshots(site), name=f"{NAME}/share-uses")


@hookimpl
async def gatecore_report_decision(site: Site, decision: Decision) -> None:
    """A PASS records the use of its pass (saved before this returns, so before the barrier opens)."""
    state = site.stash.get(STATE, None)
    if state is not None:
        await state.decided(site, decision)


@hookimpl
async def gatecore_apply_state(site: Site, update: SharedState) -> bool | None:
    """Uses from the crossing's other controllers, and signed trust lists (``gate_barcode/...``)."""
    state = site.stash.get(STATE, None)
    if state is None or not update.name.startswith(f"{NAME}/"):
        return None
    if update.name == TRUST_NAME:
        return await state.apply_trust(update)
    if update.name.startswith(f"{USES_PREFIX}{state.crossing}/"):
        return state.apply_uses(update)
    return None  # another crossing's guard


@hookimpl
def gatecore_site_stop(site: Site) -> None:
    state = site.stash.get(STATE, None)
    if state is not None:  # verdicts by reason, dropped frames, refused updates, for the run's log
        log.info("barcode_summary", **state.summary())
        state.close()


@hookimpl
def gatecore_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cli.add_commands(subparsers)
