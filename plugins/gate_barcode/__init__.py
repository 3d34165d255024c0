"""gate_barcode: QR and barcodes read from camera frames; signed passes verified offline.

Profile::

    [plugins.gate_barcode]
    trust_list = "/etc/gatecore/trust.json"   # issuer keys (docs/pass-format.md)
    backend = "zxing"                          # or "zbar"
    replay_window_s = 300

    [[lanes.evidence]]
    kind = "barcode.pass"
    source = "pass"
    camera = "pass-cam"    # and/or reader = "qr-reader"

A verified pass gives PASS with ``claims["identity_ref"]`` (for the face plugin's 1:1 check); every
rejection gives DENY or REFER with its reason (see ``passes.DEFAULT_OUTCOMES``). Logs carry the pass
id hash only.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gatecore.api import (
    Camera,
    ConfigModel,
    EvidenceConfig,
    EvidenceSource,
    LaneInfo,
    Profile,
    Reader,
    SiteView,
    StashKey,
    hookimpl,
)

from . import cli
from .config import BarcodeSection, PassEvidenceConfig
from .evidence import PassEvidence, SiteState, log

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
    """A pass source's ``camera`` is a camera of its lane and its ``reader`` a reader."""
    issues: list[tuple[tuple[str | int, ...], str]] = []
    for i, lane in enumerate(profile.lanes):
        for j, ev in enumerate(lane.evidence):
            if not isinstance(ev, PassEvidenceConfig):
                continue
            for key, role, model in (("camera", ev.camera, Camera), ("reader", ev.reader, Reader)):
                problem = lane.role_problem(role, model) if role is not None else None
                if problem:
                    issues.append((("lanes", i, "evidence", j, key), problem))
    return issues


@hookimpl
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
    if not isinstance(config, PassEvidenceConfig):
        return None
    return PassEvidence(config, lane.id, lane.site.stash[STATE])


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    """Once per site: the trust list is read and the replay guard shared by all lanes."""
    section = site.plugin_config(NAME)
    site.stash[STATE] = SiteState.from_section(section if isinstance(section, BarcodeSection) else None)


@hookimpl
def gatecore_site_stop(site: SiteView) -> None:
    state = site.stash.get(STATE, None)
    if state is not None:  # verdicts by reason and dropped frames, for the run's log
        log.info("barcode_summary", **state.counts)


@hookimpl
def gatecore_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cli.add_commands(subparsers)
