"""Every hook the core calls, grouped by phase. Read this file to write a plugin.

A plugin is a module (or object) with functions named like these specs and decorated with
``@gatecore.hookimpl``. It reaches the core through the ``gatecore`` entry-point group::

    [project.entry-points.gatecore]
    acme_plate = "acme_plate.plugin"

How the core calls hooks (:mod:`gatecore.hooks`):

- Every call goes through pluggy's hook callers, **one plugin at a time**: each plugin's implementation
  is called through a pluggy subset caller holding that plugin and every wrapper. So pluggy's tracing
  and hook-call monitoring (``pm.trace``, ``pm.add_hookcall_monitoring``) see every call, and a
  ``@hookimpl(wrapper=True)`` (or ``hookwrapper=True``) runs around *each plugin's* implementation,
  seeing that plugin's result; for an ``async def`` implementation that result is the coroutine, which
  the core awaits after the wrapper returned. A plugin that has a wrapper and a plain implementation
  of the same hook is not wrapped by its own wrapper around other plugins' calls.
- A hook marked *may be async* may be written ``async def``: the core awaits what it returns, under a
  deadline. Hooks marked *first result wins* stop at the first non-``None`` answer, so return ``None``
  for anything that is not yours.
- A plain (not async) implementation runs on the event loop and **must not block**: a call that takes
  longer than ``run.hook_budget_ms`` (100 ms by default) counts as a failure of its plugin, whatever it
  returned (a blocking call or computing counts; time the operating system gave other work while the
  call's own CPU time stayed within the budget does not: :class:`gatecore.notify.Step`). Do slow work
  in an executor, or write the hook ``async def``. (The setup hook and the factories run while the site
  is built, before any lane: they may take their time, e.g. to load models.)
  The same holds for each step of an evidence source between its awaits, and for device methods.
- An evidence source's ``collect`` runs in a task of its own: an ``asyncio.timeout()`` or ``TaskGroup``
  in it is its own. An async hook implementation and a device method run in the *caller's* task until
  they first wait (a call that completes at once costs no task: a task for each would make the core's CPU
  per crossing about half as much again, bench/core_latency.py). There, enter no ``asyncio.timeout()``
  or ``TaskGroup`` before the first ``await`` (``await asyncio.sleep(0)`` first): it would bind to the
  caller, whose cancellation it then is.
- A plugin's failure of any kind - an exception (``CancelledError`` and ``SystemExit`` included), a
  late answer, a blocked loop, a result of the wrong type - is logged with the plugin's name and costs
  at most one lane: inside a crossing (voters, decision reporters, evidence sources, device commands)
  that lane goes degraded (barrier commanded closed, refer to officer), reports a fault naming the
  plugin, and recovers by itself. Other plugins are still called; other lanes do not notice.

Per-site plugin state is made in :func:`gatecore_site_setup` and kept in ``site.stash`` under typed
keys (:class:`gatecore.api.StashKey`); plugins see lanes through read-only views
(:class:`gatecore.api.LaneView`).

What leaves the controller is an allow-list (:mod:`gatecore.privacy`): each evidence kind declares the
reason codes and summary fields it may report (``reports`` on its config class, see
:func:`gatecore_evidence_kinds`); free text a plugin hands the core (an exception's message, a device's
offline reason, an undeclared reason) never reaches a record, a log line or a metric.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gatecore import hookspec

if TYPE_CHECKING:
    from gatecore.config import ConfigModel, DeviceConfig, EvidenceConfig
    from gatecore.devices import Device, DeviceContext
    from gatecore.evidence import EvidenceSource, TransactionContext
    from gatecore.profile import Profile
    from gatecore.types import (
        Decision,
        Evidence,
        Fault,
        LaneStateChange,
        OfficerEvent,
        PartnerMessage,
        SharedState,
        Vote,
    )
    from gatecore.views import LaneInfo, SiteView

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
    ``Literal["vendor.kind"]`` and whose ``makes`` class attribute names the device model it makes
    (``makes = Barrier``), so that ``gatecore check`` can tell a lane's ``barrier``/``lights``/... roles
    name devices of the right model. The profile's ``[[lanes.devices]]`` entries are validated against
    the union of all plugins' kinds. Called once per profile load.
    """


@hookspec
def gatecore_evidence_kinds() -> Sequence[type[EvidenceConfig]]:
    """Declare the evidence kinds this plugin provides (``[[lanes.evidence]]`` entries), as
    :class:`gatecore.api.EvidenceConfig` subclasses with a ``kind`` literal and, in their ``reports``
    class attribute, what their evidence may report outside the controller::

        reports: ClassVar[Reports] = Reports(("read", "no_plate"), score=NUMBER, plate=REF)

    (:class:`gatecore.api.Reports`: the codes ``Evidence.reason`` takes, and each summary field's type:
    ``NUMBER``, ``FLAG``, ``Codes(...)``, ``REF`` - a reference that leaves only as a keyed hash - or
    ``Group(...)``). Records, logs and metrics carry nothing else of the evidence: an undeclared key or
    a value of another type is left out and counted, a reason that is not a code reads ``[dropped]``,
    claims never leave. Called once per profile load."""


@hookspec
def gatecore_check_profile(profile: Profile) -> Sequence[tuple[tuple[str | int, ...], str]] | None:
    """Check the whole validated profile for what one model cannot see (a model file's hash, a role
    that must exist on every lane using your evidence kind...).

    Return ``[(key_path, message), ...]``; each becomes an error at the key path's line. Called by
    ``gatecore check`` and before ``gatecore run``; must not start hardware or open network links.
    Check here everything your factories would refuse (``gatecore check`` must refuse what ``run``
    would): a lane's ``LaneConfig.role_problem(role, Camera)`` says whether a role names a camera.
    """


@hookspec
def gatecore_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add sub-commands to the ``gatecore`` command line.

    Create a parser with ``subparsers.add_parser(NAME, help=...)`` and set
    ``parser.set_defaults(func=callable)``; the callable receives the parsed ``argparse.Namespace`` and
    returns the exit code.
    """


@hookspec
def gatecore_site_setup(site: SiteView) -> None:
    """A site is being assembled from a validated profile: called once per site, before any factory
    (like pytest's ``pytest_configure``). Make this plugin's per-site state here and keep it in
    ``site.stash`` under a typed key; read your section with ``site.plugin_config(NAME)``. Plain only
    (not async); open no links here (do that in :func:`gatecore_site_start` or a device's ``start``)."""


# ------------------------------------------------------------------------------------------------
# devices and evidence: factories called when the site is assembled
# ------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gatecore_make_device(config: DeviceConfig, ctx: DeviceContext) -> Device | None:
    """Make the device for one ``[[lanes.devices]]`` entry, or return ``None`` if ``config.kind`` is
    not yours. *First result wins.* Plain only. ``ctx.site`` is the site (its stash, its plugin
    sections). Do not open links here: the core calls ``await device.start()``. Every device method
    (``start``, commands, ``stop``) is called under a deadline; one that raises or hangs is a fault of
    this plugin on the device's lane.
    """


@hookspec(firstresult=True)
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
    """Make the evidence source for one ``[[lanes.evidence]]`` entry, or ``None`` if not yours.
    *First result wins.* Plain only. ``lane.devices`` maps roles to the lane's devices (cameras,
    readers); ``lane.site`` is the site.

    The source's ``async collect(txn)`` runs in a task of its own under the source's deadline
    (:class:`gatecore.evidence.EvidenceSource`).
    The evidence is checked where it enters the core (its ``kind`` is set to the configured kind): an
    :class:`gatecore.api.Evidence` for this source, ``confidence`` a finite number in [0, 1],
    ``elapsed_ms`` finite and not negative, ``reason`` at most 200 characters, ``claims`` and ``summary``
    plain JSON (string keys, at most 4 levels and 256 items).
    Anything else, or an exception, is a fault of this plugin; being late is not (the evidence is missing).
    """


# ------------------------------------------------------------------------------------------------
# decision
# ------------------------------------------------------------------------------------------------


@hookspec
def gatecore_vote(
    site: SiteView, txn: TransactionContext, evidence: Mapping[str, Evidence]
) -> Vote | Sequence[Vote] | Awaitable[Vote | Sequence[Vote] | None] | None:
    """Vote on a transaction once its evidence is in (or its deadline passed). *May be async.*

    ``site`` is the site (its stash); an implementation may leave out the arguments it does not use.
    ``evidence`` maps source names to what arrived in time; missing sources are absent. It is read-only,
    and so is each :class:`gatecore.api.Evidence`. Return a :class:`gatecore.api.Vote`, a list of them,
    or ``None`` to abstain; anything else is a fault of this plugin (the lane degrades). The lane policy
    combines the votes: any DENY wins; every required source must have a PASS vote about it; missing or
    late evidence gives REFER. Called once per transaction, under the lane's deadline.

    A vote's ``voter`` is set to this plugin's name; its ``reason`` is kept (in the decision and what
    leaves the controller) only if it is one of the reason codes its ``source``'s kind declares, its
    ``source`` only if the lane has that source.
    """


# ------------------------------------------------------------------------------------------------
# lifecycle and reports
# ------------------------------------------------------------------------------------------------


@hookspec
def gatecore_site_start(site: SiteView) -> Awaitable[None] | None:
    """The site is starting (devices are started, lanes are not yet running). *May be async.*

    Start background work with ``site.spawn(coro, name=...)``; it runs in the site's TaskGroup and is
    cancelled at shutdown.
    """


@hookspec
def gatecore_site_stop(site: SiteView) -> Awaitable[None] | None:
    """The site is stopping: lanes have ended and barriers were commanded closed. Flush what you hold.
    *May be async*, awaited under the shutdown deadline."""


@hookspec
def gatecore_summary(site: SiteView) -> Mapping[str, Any] | None:
    """This plugin's part of the run's summary (``Site.summary()``, the last line ``gatecore run`` prints):
    plain JSON whose keys are added beside the core's. *Plain only*, called after the site stopped (and
    whenever the summary is asked for); a key the core or another plugin already gave is left out and
    logged."""


@hookspec
def gatecore_report_decision(site: SiteView, decision: Decision) -> Awaitable[None] | None:
    """A lane decided. *May be async.* A plugin that must deliver the record (the IOC) persists it
    before returning. Nothing is acted on before it is recorded: the lane commands the barrier only once
    every implementation of this hook has returned; one that raises or misses ``run.report_timeout_ms``
    turns the crossing into a fault (barrier closed, refer to officer) naming the plugin, never an open.
    So implement it only if you record decisions, and keep it quick."""


@hookspec
def gatecore_report_fault(site: SiteView, fault: Fault) -> Awaitable[None] | None:
    """A fault happened (device offline, missing confirmation, a plugin failure). *May be async.*
    ``fault.message`` is the core's own text (the error's type and where it was raised, never its
    message, nor a device's offline reason); records made with ``to_record()`` are fit to leave."""


@hookspec
def gatecore_report_lane_state(site: SiteView, change: LaneStateChange) -> Awaitable[None] | None:
    """A lane changed state. *May be async*; keep it quick, it is called for every transition."""


@hookspec
def gatecore_report_officer_event(site: SiteView, event: OfficerEvent) -> Awaitable[None] | None:
    """Something done at an officers' console that no lane records (a login, a failed one, an account
    locked out, a fault acknowledged, an action refused), handed in by the console with
    ``await site.report_officer_event(event)``. *May be async*: a plugin that must deliver the record (the
    IOC) persists it before returning. The officers' decisions and manual mode are not reported here:
    they are the lanes' own records (decisions and state changes naming the officer)."""



# ------------------------------------------------------------------------------------------------
# shared state: versioned snapshots and deltas between controllers (galleries, watchlists)
# ------------------------------------------------------------------------------------------------


@hookspec
def gatecore_share_state(site: SiteView, update: SharedState) -> Awaitable[None] | None:
    """Carry ``update`` to the other controllers. *May be async.* Implemented by transport plugins
    (the IOC plugin, over the broker the IOC already runs); called by ``await site.share_state(update)``.
    Persist before returning if the update must arrive."""


@hookspec
def gatecore_apply_state(site: SiteView, update: SharedState) -> bool | Awaitable[bool | None] | None:
    """Apply an update that arrived from elsewhere. *May be async.* Return ``None`` when
    ``update.name`` is not yours, ``True`` once applied, ``False`` when yours but it cannot be applied
    (a delta from another version: the sender must send a snapshot). Transport plugins call
    ``await site.apply_state(update)`` when an update arrives."""


# ------------------------------------------------------------------------------------------------
# partner gates: messages to and from the partner site across the border (the Dongxing link)
# ------------------------------------------------------------------------------------------------


@hookspec
def gatecore_partner_send(site: SiteView, message: PartnerMessage) -> bool | Awaitable[bool | None] | None:
    """Carry ``message`` to the partner gate. *May be async.* Implemented by link plugins; called by
    ``await site.send_to_partner(message)`` (an IGV hand-over, say), which is ``True`` when a link took it.

    Return ``True`` once the message is yours to deliver - persisted, since it must arrive (a durable
    outbox) - and ``None`` when you carry nothing to ``message.partner`` (``""``: your configured
    partner). Sign, address and deliver it as your link does; ``message.to_record()`` is its JSON form.
    Called under ``run.report_timeout_ms``; keep it quick."""


@hookspec
def gatecore_partner_receive(site: SiteView, message: PartnerMessage) -> bool | Awaitable[bool | None] | None:
    """A message from the partner gate arrived (verified by the link that carried it). *May be async.*
    Return ``None`` when ``message.kind`` is not yours, ``True`` once handled, ``False`` when yours but
    refused (a payload that fails your schema). Link plugins call ``await site.partner_received(message)``
    for each message they verified (``message.partner``: the site it came from); it is ``True`` only when
    some plugin handled it, so a link may tell its partner the message was not applied."""

