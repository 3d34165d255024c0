"""One site's metrics, in a registry of its own, served by prometheus_client's HTTP server thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import CollectorRegistry, Counter, Enum, Histogram, Info, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gatecore import __version__
from gatecore.api import DROPS, FAULT_KINDS, Decision, Fault, LaneState, LaneStateChange, SiteView

from .config import MetricsSection

log = structlog.get_logger("gate_metrics")

#: decision latency buckets (seconds): a crossing is decided in milliseconds to a few seconds
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _LaneCollector(Collector):
    """Read at each scrape: crossings per lane, each device's link, and what privacy kept from leaving."""

    def __init__(self, site: SiteView) -> None:
        self.site = site

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        crossings = CounterMetricFamily("gatecore_crossings", "Completed crossings", labels=["lane"])
        online = GaugeMetricFamily("gatecore_device_online", "1 when the device's link is up",
                                   labels=["lane", "device"])
        for lane_id, lane in list(self.site.lanes.items()):
            crossings.add_metric([lane_id], lane.crossings)
            for role, device in list(lane.devices.items()):
                online.add_metric([lane_id, role], 1.0 if device.online else 0.0)
        yield crossings
        yield online
        yield CounterMetricFamily("gatecore_privacy_dropped", "Values kept from leaving the controller because no "
                                  "plugin declared them safe (records and log lines; gatecore.privacy)",
                                  value=DROPS.total())


class SiteMetrics:
    def __init__(self, site: SiteView, cfg: MetricsSection) -> None:
        self.site, self.cfg = site, cfg
        self.registry = CollectorRegistry()
        r = self.registry
        Info("gatecore_site", "The site and the gatecore version", registry=r).info(
            {"site": site.id, "version": __version__})
        self.decisions = Counter("gatecore_decisions", "Decisions", ["lane", "outcome"], registry=r)
        self.latency = Histogram("gatecore_decision_latency_seconds", "Trigger to decision", ["lane"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.faults = Counter("gatecore_faults", "Faults", ["lane", "kind"], registry=r)
        self.lane_state = Enum("gatecore_lane_state", "The lane's state", ["lane"],
                               states=[s.value for s in LaneState], registry=r)
        r.register(_LaneCollector(site))
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int | None:
        return self._server.server_port if self._server is not None else None

    def serve(self) -> None:
        for lane_id in self.site.lanes:  # every lane shows from the first scrape, not from its first event
            self.lane_state.labels(lane_id).state(LaneState.STOPPED.value)
        host, port = self.cfg.address()
        self._server, self._thread = start_http_server(port, host, registry=self.registry)
        log.info("metrics_serving", url=f"http://{host}:{self.port}/metrics")

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def decision(self, d: Decision) -> None:
        lane = d.stamp.lane_id
        self.decisions.labels(lane, d.outcome.value).inc()
        self.latency.labels(lane).observe(d.latency_ms / 1000)

    def fault(self, f: Fault) -> None:
        self.faults.labels(f.stamp.lane_id, f.kind if f.kind in FAULT_KINDS else "other").inc()

    def state(self, change: LaneStateChange) -> None:
        self.lane_state.labels(change.stamp.lane_id).state(change.new.value)
