"""Every hook the core calls, grouped by phase. Read this file to write a plugin.

A plugin is a module (or object) with functions named like these specs and decorated with
``@gatecore.hookimpl``. It reaches the core through the ``gatecore`` entry-point group::

    [project.entry-points.gatecore]
    acme_plate = "acme_plate.plugin"

pluggy calls hooks synchronously. A hook marked *may be async* may be written ``async def``: the core
awaits what it returns, under a deadline, and a failure or timeout of one plugin is logged as a fault
without stopping the others. Hooks marked *first result wins* stop at the first non-``None`` answer,
so return ``None`` for anything that is not yours.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING

from gatecore import hookspec

if TYPE_CHECKING:
    from gatecore.config import ConfigModel, DeviceConfig, EvidenceConfig
    from gatecore.devices import Device, DeviceContext
    from gatecore.evidence import EvidenceSource, TransactionContext
    from gatecore.site import LaneInfo, Profile, Site
    from gatecore.types import Decision, Evidence, Fault, LaneStateChange, SharedState, Vote

# ------------------------------------------------------------------------------------------------
# setup: what a plugin adds to profiles and to the command line
# ------------------------------------------------------------------------------------------------


@hookspec
def gatecore_config_section() -> tuple[str, type[ConfigModel]] | None:
    """Declare this plugin's profile section ``[plugins.NAME]`` and its model.

    Return ``(NAME, Model)``; ``Model`` subclasses :class:`gatecore.api.ConfigModel`. The section is
    validated with the rest of the profile, and its errors carry file, line and key path. The validated
    instance is ``site.plugin_config(NAME)`` (``None`` when the profile has no such section).
    Called once per profile load.
    """


@hookspec
def gatecore_device_kinds() -> Sequence[type[DeviceConfig]]:
    """Declare the device kinds this plugin makes.

    Each is a :class:`gatecore.api.DeviceConfig` subclass whose ``kind`` field is a
    ``Literal["vendor.kind"]``; the profile's ``[[lanes.devices]]`` entries are validated against the
    union of all plugins' kinds. Called once per profile load.
    """


@hookspec
def gatecore_evidence_kinds() -> Sequence[type[EvidenceConfig]]:
    """Declare the evidence kinds this plugin provides (``[[lanes.evidence]]`` entries), as
    :class:`gatecore.api.EvidenceConfig` subclasses with a ``kind`` literal."""


@hookspec
def gatecore_check_profile(profile: Profile) -> Sequence[tuple[tuple[str | int, ...], str]] | None:
    """Check the whole validated profile for what one model cannot see (a model file's hash, a role
    that must exist on every lane using your evidence kind...).

    Return ``[(key_path, message), ...]``; each becomes an error at the key path's line. Called by
    ``gatecore check`` and before ``gatecore run``; must not start hardware or open network links.
    """


@hookspec
def gatecore_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add sub-commands to the ``gatecore`` command line.

    Create a parser with ``subparsers.add_parser(NAME, help=...)`` and set
    ``parser.set_defaults(func=callable)``; the callable receives the parsed ``argparse.Namespace`` and
    returns the exit code.
    """


# ------------------------------------------------------------------------------------------------
# devices and evidence: factories called when the site is assembled
# ------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gatecore_make_device(config: DeviceConfig, ctx: DeviceContext) -> Device | None:
    """Make the device for one ``[[lanes.devices]]`` entry, or return ``None`` if ``config.kind`` is
    not yours. *First result wins.* Do not open links here: the core calls ``await device.start()``.
    """


@hookspec(firstresult=True)
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
    """Make the evidence source for one ``[[lanes.evidence]]`` entry, or ``None`` if not yours.
    *First result wins.* ``lane.devices`` maps roles to the lane's devices (cameras, readers).

    The source's ``async collect(txn)`` runs as a task under the source's deadline; an optional plain
    ``collect_now(txn)`` returns evidence already at hand (or ``None``) and is tried first
    (:class:`gatecore.evidence.EvidenceSource`, :func:`gatecore.evidence.collect_now`).
    """


# ------------------------------------------------------------------------------------------------
# decision
# ------------------------------------------------------------------------------------------------


@hookspec
def gatecore_vote(
    txn: TransactionContext, evidence: Mapping[str, Evidence]
) -> Vote | Sequence[Vote] | Awaitable[Vote | Sequence[Vote] | None] | None:
    """Vote on a transaction once its evidence is in (or its deadline passed). *May be async.*

    ``evidence`` maps source names to what arrived in time; missing sources are absent. Return a
    :class:`gatecore.api.Vote`, several, or ``None`` to abstain. The lane policy combines the votes:
    any DENY wins; every required source must have a PASS vote about it; missing or late evidence
    gives REFER. Called once per transaction, under the lane's deadline.
    """


# ------------------------------------------------------------------------------------------------
# lifecycle and reports
# ------------------------------------------------------------------------------------------------


@hookspec
def gatecore_site_start(site: Site) -> Awaitable[None] | None:
    """The site is starting (devices are started, lanes are not yet running). *May be async.*

    Start background work with ``site.spawn(coro, name=...)``; it runs in the site's TaskGroup and is
    cancelled at shutdown.
    """


@hookspec
def gatecore_site_stop(site: Site) -> Awaitable[None] | None:
    """The site is stopping: lanes have ended and barriers were commanded closed. Flush what you hold.
    *May be async*, awaited under the shutdown deadline."""


@hookspec
def gatecore_report_decision(site: Site, decision: Decision) -> Awaitable[None] | None:
    """A lane decided. *May be async.* A plugin that must deliver the record (the IOC) persists it
    before returning; the lane does not command the barrier until every report hook returned or the
    report deadline passed."""


@hookspec
def gatecore_report_fault(site: Site, fault: Fault) -> Awaitable[None] | None:
    """A fault happened (device offline, missing confirmation, a plugin failure). *May be async.*"""


@hookspec
def gatecore_report_lane_state(site: Site, change: LaneStateChange) -> Awaitable[None] | None:
    """A lane changed state. *May be async*; keep it quick, it is called for every transition."""



# ------------------------------------------------------------------------------------------------
# shared state: versioned snapshots and deltas between controllers (galleries, watchlists)
# ------------------------------------------------------------------------------------------------


@hookspec
def gatecore_share_state(site: Site, update: SharedState) -> Awaitable[None] | None:
    """Carry ``update`` to the other controllers. *May be async.* Implemented by transport plugins
    (the IOC plugin, over the broker the IOC already runs); called by ``await site.share_state(update)``.
    Persist before returning if the update must arrive."""


@hookspec
def gatecore_apply_state(site: Site, update: SharedState) -> bool | Awaitable[bool | None] | None:
    """Apply an update that arrived from elsewhere. *May be async.* Return ``None`` when
    ``update.name`` is not yours, ``True`` once applied, ``False`` when yours but it cannot be applied
    (a delta from another version: the sender must send a snapshot). Transport plugins call
    ``await site.apply_state(update)`` when an update arrives."""
