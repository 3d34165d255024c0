"""What plugins see of a site and its lanes: the types the hooks take, with no implementation behind them.

A plugin gets the site as a :class:`SiteView` in every site hook, and through ``ctx.site`` (devices) and
``lane.site`` (evidence sources) in the factories. Per-site plugin state lives in the site's stash, in
typed keys, made once in ``gatecore_site_setup``::

    STATE = StashKey[MyState]()

    @hookimpl
    def gatecore_site_setup(site: SiteView) -> None:
        cfg = site.plugin_config("acme_plate")
        if cfg is not None:
            site.stash[STATE] = MyState(cfg)
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from gatecore.config import ConfigModel, LaneConfig
from gatecore.stash import Stash
from gatecore.types import Decision, LaneState, OfficerEvent, Outcome, PartnerMessage, SharedState

if TYPE_CHECKING:
    from gatecore.devices import Barrier, Device


class LaneView(Protocol):
    """A lane, read-only: what it is, what state it is in, what it has counted and its devices."""

    @property
    def id(self) -> str: ...
    @property
    def config(self) -> LaneConfig: ...
    @property
    def state(self) -> LaneState: ...
    @property
    def devices(self) -> Mapping[str, Device]:
        """The lane's devices by role."""
    @property
    def barrier(self) -> Barrier:
        """The lane's barrier device (``devices[config.barrier]``)."""
    @property
    def crossings(self) -> int:
        """Crossings completed (the lane was clear again after a decision)."""
    @property
    def decisions(self) -> Mapping[str, int]:
        """Decisions made, by outcome (``pass``, ``deny``, ``refer``)."""
    @property
    def faults(self) -> int:
        """Times the lane went degraded."""
    @property
    def referral(self) -> Decision | None:
        """The REFER decision waiting for an officer (lane state ``referred``), if any."""


class SiteView(Protocol):
    """A site as plugins see it."""

    @property
    def id(self) -> str: ...
    @property
    def stash(self) -> Stash:
        """Per-site plugin state in typed keys (:class:`gatecore.api.StashKey`)."""
    @property
    def lanes(self) -> Mapping[str, LaneView]: ...

    def plugin_config(self, name: str) -> ConfigModel | None:
        """The validated ``[plugins.NAME]`` section, or ``None`` when the profile has none."""

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` in the background, owned by the site: a crash is logged and reported, it is
        cancelled at shutdown. Before the site runs, it starts with the site."""

    async def share_state(self, update: SharedState) -> None:
        """Hand a snapshot or delta of shared state to the transports (``gatecore_share_state``)."""

    async def apply_state(self, update: SharedState) -> bool:
        """Apply an update that arrived (``gatecore_apply_state``); ``False`` when nobody could."""

    def resolve(self, lane_id: str, txn_id: str, outcome: Outcome, officer: str, reason: str) -> str | None:
        """An officer's PASS or DENY for the referral of ``txn_id`` waiting on ``lane_id`` (``reason`` a
        code such as ``documents_checked``). ``None`` when the lane took it: it records the officer's
        decision through every decision reporter, then acts on it (a PASS opens the barrier through the
        lane's one open path, for that crossing only). Otherwise why it was refused (no such lane, no such
        referral waiting there: ended, timed out, resolved already)."""

    def set_manual(self, lane_id: str, manual: bool, officer: str, reason: str) -> str | None:
        """An officer takes ``lane_id`` to manual mode (the crossing in progress is abandoned, nothing is
        commanded) or gives it back (it recovers, barrier closed, then idle); the lane's state record
        names the officer and reason. ``None`` when done, else why refused."""

    async def report_officer_event(self, event: OfficerEvent) -> str | None:
        """Hand what an officers' console did of its own (a login, a failed one, a fault acknowledged...)
        to every ``gatecore_report_officer_event`` implementation (the IOC's outbox), awaited under the
        report deadline. ``None`` once handed over, else why the event was refused (a kind that is not one
        of :data:`gatecore.api.OFFICER_EVENT_KINDS`, an officer that is not an account id...)."""
    async def plugin_fault(self, lane_id: str, plugin: str, code: str, txn_id: str | None = None) -> None:
        """Report a fault a plugin found on a lane outside its hooks (an IGV that never arrived, say): a
        :class:`gatecore.api.Fault` of kind ``plugin_reported`` naming ``plugin``, whose message is
        ``code`` (a code: lower-case letters, digits and ``_ . -``; anything else says ``[dropped]``),
        goes to every ``gatecore_report_fault`` (the IOC, metrics). The lane's state does not change."""

    async def send_to_partner(self, message: PartnerMessage) -> bool:
        """Hand a message to the link plugins for the partner gate (``gatecore_partner_send``); ``False``
        when no link took it (no link plugin, or none carries messages to ``message.partner``)."""

    async def partner_received(self, message: PartnerMessage) -> bool:
        """A link hands over a message from the partner (``gatecore_partner_receive``); ``False`` when
        no plugin handled it."""


@dataclass(frozen=True)
class LaneInfo:
    """A lane as evidence factories see it: its site, its config and its devices by role."""

    site: SiteView
    config: LaneConfig
    devices: Mapping[str, Device] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def site_id(self) -> str:
        return self.site.id
