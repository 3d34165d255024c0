"""gate_plate: Vietnamese and Chinese plates and ISO 6346 container codes read from lane cameras, fused
across cameras and frames, and matched against the pre-arrival manifest and watchlists.

Profile::

    [plugins.gate_plate]
    manifest = { path = "/var/lib/gatecore/manifest.csv" }          # plate, container, ref
    watchlists.stolen = { path = "/etc/gatecore/stolen.jsonl", on_hit = "deny" }

    [[lanes.evidence]]
    kind = "plate.vehicle"
    source = "plate"
    cameras = ["plate-front", "plate-rear"]
    deadline_ms = 1200

    [[lanes.evidence]]
    kind = "plate.container"
    source = "container"
    cameras = ["container-left", "container-right"]
    plate_source = "plate"

The plugin votes (``gatecore_vote``): PASS for a confident manifest match, DENY for a confident exact hit on a
deny watchlist, REFER otherwise; the lane policy decides. See README.md beside this file.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gatecore.api import (
    Camera,
    ConfigModel,
    Evidence,
    EvidenceConfig,
    EvidenceSource,
    LaneConfig,
    LaneInfo,
    Outcome,
    Profile,
    SiteView,
    StashKey,
    Vote,
    hookimpl,
)

from . import cli, models
from .config import DENY_REASONS, KINDS, PASS_REASONS, ContainerEvidence, PlateSection, ReadEvidence, VehicleEvidence
from .engine import SitePlates, log
from .source import ContainerSource, VehicleSource

NAME = "gate_plate"
VOTER = NAME
Issues = list[tuple[tuple[str | int, ...], str]]


@dataclass
class Plates:
    """A site's plate state, opened by its first plate source (lists read, models loaded)."""

    section: PlateSection | None
    state: SitePlates | None = None

    def open(self) -> SitePlates:
        if self.state is None:
            self.state = SitePlates.from_section(self.section)
        return self.state


PLATES = StashKey[Plates]()


def _state(site: SiteView) -> SitePlates | None:
    plates = site.stash.get(PLATES, None)
    return plates.state if plates is not None else None


@hookimpl
def gatecore_config_section() -> tuple[str, type[ConfigModel]]:
    return NAME, PlateSection


@hookimpl
def gatecore_evidence_kinds() -> Sequence[type[EvidenceConfig]]:
    return (VehicleEvidence, ContainerEvidence)


@hookimpl
def gatecore_check_profile(profile: Profile) -> Issues:
    """Each plate source's cameras are cameras of its lane, the manifest and watchlists it uses are in the
    section, its ``plate_source`` is a plate source of its lane; the models are there, unaltered."""
    section = profile.plugin_config(NAME)
    section = section if isinstance(section, PlateSection) else None
    issues: Issues = []
    used = False
    for i, lane in enumerate(profile.lanes):
        plate_sources = {ev.source for ev in lane.evidence if isinstance(ev, VehicleEvidence)}
        for j, ev in enumerate(lane.evidence):
            if isinstance(ev, ReadEvidence):
                used = True
                issues += [(("lanes", i, "evidence", j, *key), msg) for key, msg in _source_issues(lane, ev, section)]
                if isinstance(ev, ContainerEvidence) and ev.plate_source and ev.plate_source not in plate_sources:
                    issues.append((("lanes", i, "evidence", j, "plate_source"),
                                   f"no plate.vehicle source {ev.plate_source!r} in this lane; its plate sources: "
                                   f"{', '.join(map(repr, sorted(plate_sources))) or 'none'}"))
    return issues + _model_issues(section) if used else issues


def _source_issues(lane: LaneConfig, ev: ReadEvidence, section: PlateSection | None) -> Issues:
    issues: Issues = []
    for role in ev.cameras:
        problem = lane.role_problem(role, Camera)
        if problem:
            issues.append((("cameras",), problem))
    if ev.manifest and (section is None or section.manifest is None):
        issues.append((("manifest",), f"this source matches the manifest, and [plugins.{NAME}] has no manifest "
                                      "(manifest = { path = ... }, or manifest = false here)"))
    known = set(section.watchlists) if section else set()
    for name in ev.watchlists or ():
        if name not in known:
            issues.append((("watchlists",), f"no watchlist {name!r} in [plugins.{NAME}.watchlists]; watchlists: "
                                            f"{', '.join(map(repr, sorted(known))) or 'none'}"))
    return issues


def _model_issues(section: PlateSection | None) -> Issues:
    where: tuple[str, ...] = ("plugins", NAME) if section else ("plugins",)
    problem = models.runtime_problem()
    if problem:
        return [(where, problem)]
    issues: Issues = []
    for key, name in (("detector", "detect"), ("recogniser", "recog")):
        configured = getattr(section, key) if section else None
        problem = models.problem(models.folder(name, configured))
        if problem:
            issues.append(((*where, key) if configured else where, problem))
    return issues


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    """Once per site; the lists are read and the models loaded by the first plate source."""
    section = site.plugin_config(NAME)
    site.stash[PLATES] = Plates(section if isinstance(section, PlateSection) else None)


@hookimpl
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
    if isinstance(config, VehicleEvidence):
        return VehicleSource(config, lane, lane.site.stash[PLATES].open())
    if isinstance(config, ContainerEvidence):
        return ContainerSource(config, lane, lane.site.stash[PLATES].open())
    return None


@hookimpl
def gatecore_site_start(site: SiteView) -> None:
    state = _state(site)
    if state is not None and state.section.reload_every_s > 0 and (state.manifest or state.watchlists):
        site.spawn(state.keep_lists(), name=f"{NAME}/lists")


@hookimpl
def gatecore_site_stop(site: SiteView) -> None:
    state = _state(site)
    if state is not None:  # verdicts by reason and dropped frames, for the run's log
        log.info("plate_summary", counts=dict(state.counts))
        state.close()


@hookimpl
def gatecore_vote(evidence: Mapping[str, Evidence]) -> list[Vote]:
    """PASS on a confident manifest match (or a confident valid read where no manifest is matched), DENY on a
    confident exact deny-list hit, REFER on anything else. A plate source with no evidence in time gets no vote:
    the lane policy says what missing evidence means."""
    votes = []
    for name, ev in evidence.items():
        if ev.kind not in KINDS:
            continue
        outcome = Outcome.PASS if ev.reason in PASS_REASONS else Outcome.DENY if ev.reason in DENY_REASONS \
            else Outcome.REFER
        votes.append(Vote(VOTER, outcome, ev.reason, source=name))
    return votes


@hookimpl
def gatecore_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cli.add_commands(subparsers)
