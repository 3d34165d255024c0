"""One site's link: its endpoint, the manifests it holds, and what it tells the partner of the lanes.

With ``transport = "local"`` the partner is the simulator in this process (the demo): both sides sign with
keys made at start, which live only in memory, and trust each other through a trust list made with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from gatecore.api import Decision, LaneState, LaneStateChange, Outbox, PartnerMessage, SiteView, error_text

from . import store
from .config import LinkSection, ManifestEvidenceConfig
from .decision import ManifestIndex
from .endpoint import Endpoint, Settings
from .messages import Handover, Manifest, parse_time, time_text
from .partner import PartnerSimulator
from .receiver import Outcome
from .sim import Truck, fleet, load_fleet
from .suites import PrivateKey, generate, load_private
from .transport import LocalBus, Wire
from .trust import TrustList, trust_document, trusted_key

log = structlog.get_logger("gate_link")

#: how long ``stop`` lets the outbox drain before serving stops
DRAIN_ON_STOP_S = 1.0
#: the partner-message kind gate_igv owns: its hand-overs travel as this link's ``handover`` messages
IGV_HANDOVER = "igv.handover"
STATUS = {LaneState.DEGRADED: "degraded", LaneState.MANUAL: "closed", LaneState.STOPPED: "closed"}


def settings(cfg: LinkSection) -> Settings:
    o = cfg.outbox
    return Settings(window_s=cfg.window_s, receipt_timeout_s=cfg.receipt_timeout_s,
                    retention_s=cfg.retention_h * 3600, outbox_window=o.window, outbox_batch=min(o.batch, o.window),
                    synchronous=o.synchronous, budget_bytes=int(o.budget_mb * 1024 * 1024))


def ephemeral(me: str, partner: str) -> tuple[PrivateKey, PrivateKey, TrustList]:
    """Throwaway keys for both sides of a local link, and the trust list that holds them."""
    now = time.time()
    mine, theirs = generate("ed25519", f"{me}-local"), generate("ed25519", f"{partner}-local")
    rows = [trusted_key(k.public(), k.kid, party, now - 60, now + 30 * 86400)
            for k, party in ((mine, me), (theirs, partner))]
    return mine, theirs, TrustList.from_data(trust_document(rows, mine, 1, now), None, "local")


def mqtt_wire(cfg: LinkSection) -> Wire:
    from .mqtt import MqttSettings, MqttWire, tls_context  # aiomqtt: an optional dependency

    assert cfg.tls is not None
    host, port = cfg.endpoint()
    return MqttWire(MqttSettings(host, port, cfg.party, cfg.partner, cfg.topic_prefix, cfg.client_id,
                                 tls_context(cfg.tls.ca_file, cfg.tls.cert_file, cfg.tls.key_file)))


class LinkSite:
    def __init__(self, cfg: LinkSection, site: SiteView) -> None:
        self.cfg, self.site = cfg, site
        self.index = ManifestIndex()
        sim = cfg.simulator
        self.trucks: list[Truck] = [] if sim is None else load_fleet(sim.fleet) if sim.fleet else fleet(
            sim.trucks, sim.seed, {"no_manifest": sim.no_manifest, "container_mismatch": sim.container_mismatch,
                                   "expired": sim.expired, "flagged": sim.flagged})
        self.endpoint: Endpoint | None = None
        self.partner: PartnerSimulator | None = None
        self.cargo: dict[str, str] = {}  # lane -> its manifest source (the lanes are built after setup)
        self.status: dict[str, str] = {}
        self.versions: dict[str, int] = {}
        self._stop, self._done = asyncio.Event(), asyncio.Event()
        self.checks: Counter[str] = Counter()  # the cargo lanes' manifest checks, by reason

    def figures(self) -> dict[str, Any]:
        """For the run's summary: manifests held, the lanes' manifest checks (matched among them), messages."""
        counts = self.endpoint.counts() if self.endpoint is not None else {}
        return {"manifests": len(self.index.by_consignment), "checked": sum(self.checks.values()),
                "matched": self.checks["matched"], "checks": dict(self.checks), "messages": counts}

    async def start(self) -> None:
        cfg, state_dir = self.cfg, Path(self.cfg.state_dir)
        self.cargo = {lane.id: ev.source for lane in self.site.lanes.values() for ev in lane.config.evidence
                      if isinstance(ev, ManifestEvidenceConfig)}
        if cfg.transport == "mqtt":
            assert cfg.signing_key is not None and cfg.trust_list is not None and cfg.key_id is not None
            key = load_private(cfg.signing_key.reveal().encode(), cfg.key_id)
            trust = TrustList.load(cfg.trust_list, cfg.trust_root)
            self.endpoint = Endpoint(cfg.party, cfg.partner, key, trust, mqtt_wire(cfg), state_dir, settings(cfg))
        else:
            bus = LocalBus()
            key, theirs, trust = ephemeral(cfg.party, cfg.partner)
            self.endpoint = Endpoint(cfg.party, cfg.partner, key, trust, bus.wire(cfg.party, cfg.partner), state_dir,
                                     settings(cfg))
            if cfg.simulator is not None:
                other = Endpoint(cfg.partner, cfg.party, theirs, trust, bus.wire(cfg.partner, cfg.party),
                                 state_dir / "partner-sim", settings(cfg))
                self.partner = PartnerSimulator(other)
        for ep in self._endpoints():
            await ep.open()
        self.endpoint.listeners.append(self.index.taken)
        self.endpoint.listeners.append(self._handed_back)
        rows = await self.endpoint.db.run(lambda conn: store.current(conn, cfg.partner, "manifest"))
        for _, _, body in rows:
            self.index.put(Manifest.model_validate_json(body))

    def _endpoints(self) -> list[Endpoint]:
        return [ep for ep in (self.endpoint, self.partner.endpoint if self.partner else None) if ep is not None]

    async def run(self) -> None:
        """Serve every endpoint (and let the simulator lodge its manifests) until :meth:`stop`; then let the
        outbox drain a moment, stop serving and close the files."""
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(ep.serve(), name=f"gate_link/{ep.me}") for ep in self._endpoints()]
                if self.partner is not None:
                    tasks.append(tg.create_task(self._lodge(), name="gate_link/simulator"))
                    sim = self.cfg.simulator
                    if sim is not None and sim.hand_back_s is not None:
                        self.partner.endpoint.listeners.append(self.partner.taken)
                        tasks.append(tg.create_task(self.partner.hand_back(sim.hand_back_s),
                                                    name="gate_link/simulator-hand-back"))
                await self._stop.wait()
                if self.endpoint is not None:
                    await self.endpoint.outbox.wait_idle(DRAIN_ON_STOP_S)
                for task in tasks:
                    task.cancel()
        finally:
            for ep in self._endpoints():
                try:
                    await ep.close()
                except Exception as exc:  # noqa: BLE001 - the other endpoint is still closed
                    log.error("link_close_failed", error=error_text(exc))
            self._done.set()

    async def _lodge(self) -> None:
        assert self.partner is not None
        now, partner = time.time(), self.partner
        await asyncio.gather(*(partner.lodge(truck, now) for truck in self.trucks))  # group commits

    async def stop(self, timeout: float = 3.0) -> None:
        if self.endpoint is not None:
            log.info("link_summary", counts=self.endpoint.counts(), applied=len(self.index.by_consignment))
        self._stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), timeout)

    def _version(self, subject: str) -> int:
        """Versions of what this side sends: milliseconds of the wall clock, always growing per subject."""
        v = self.versions[subject] = max(self.versions.get(subject, 0) + 1, int(time.time() * 1000))
        return v

    async def decided(self, decision: Decision) -> None:
        """A cargo lane decided: the clearance goes to the partner (committed before the barrier moves)."""
        source = self.cargo.get(decision.stamp.lane_id)
        ev = decision.evidence.get(source) if source else None
        if self.endpoint is None or ev is None:
            return
        if decision.officer is None:
            self.checks[ev.reason or ""] += 1
        consignment, plates = ev.claims.get("consignment"), list(ev.claims.get("plates") or ())
        if not isinstance(consignment, str) and not plates:
            return  # nothing read that the partner knows a crossing by
        about = {"consignment": consignment} if isinstance(consignment, str) else {"plate": str(plates[0])}
        await self.endpoint.send("clearance", **about, version=self._version(str(about)), lane=decision.stamp.lane_id,
                                 outcome=decision.outcome.value, reasons=[ev.reason] if ev.reason else [],
                                 decided=time_text(decision.stamp.t_wall))

    async def to_partner(self, message: PartnerMessage) -> bool | None:
        """An IGV hand-over of this side (kind ``igv.handover``, gate_igv's payload) goes to the partner as
        a signed ``handover`` message, committed to the link's outbox before this returns. Other kinds, and
        other partners, are not this link's (``None``)."""
        if message.kind != IGV_HANDOVER or self.endpoint is None or message.partner not in ("", self.cfg.partner):
            return None
        p = message.payload
        trip = str(p["trip"])
        await self.endpoint.send("handover", trip=trip, version=self._version(f"trip:{trip}"),
                                 igv=f"{p['manufacturer']}/{p['serialNumber']}", event="arrived",
                                 point=str(p["point"]), at=time_text(float(p["t_wall"])))
        return True

    def _handed_back(self, outcomes: Sequence[Outcome]) -> None:
        """A vehicle the partner hands back: its ``handover`` goes to the plugin that owns IGV hand-overs
        (``site.partner_received``), in gate_igv's payload."""
        for o in outcomes:
            if isinstance(o.message, Handover) and o.status == "applied":
                manufacturer, _, serial = o.message.igv.partition("/")
                payload = {"schema": "gatecore.igv.handover/1", "trip": o.message.trip, "manufacturer": manufacturer,
                           "serialNumber": serial, "point": o.message.point, "t_wall": parse_time(o.message.at)}
                message = PartnerMessage(self.site.id, IGV_HANDOVER, payload, partner=self.cfg.partner)
                self.site.spawn(self._hand_over(message), name="gate_link/handed-back")

    async def _hand_over(self, message: PartnerMessage) -> None:
        if not await self.site.partner_received(message):
            log.warning("link_handover_unclaimed", kind=message.kind)

    async def lane_changed(self, change: LaneStateChange) -> None:
        lane = change.stamp.lane_id
        status = STATUS.get(change.new, "open")
        if self.endpoint is None or not self.cfg.lane_status or lane not in self.cargo \
                or self.status.get(lane) == status:
            return
        self.status[lane] = status
        await self.endpoint.send("lane-status", lane=lane, version=self._version(f"lane:{lane}"), status=status,
                                 at=time_text(change.stamp.t_wall))

    @property
    def outbox(self) -> Outbox | None:
        return self.endpoint.outbox if self.endpoint is not None else None
