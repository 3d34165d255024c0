"""gate_metrics: Prometheus metrics of a site, for the operators' dashboards and alerts.

    [plugins.gate_metrics]
    listen = "127.0.0.1:9464"     # host:port of /metrics (keep it on a management network)

Counters of decisions (by lane and outcome) and faults (by lane and kind), the decision latency as a
histogram, each lane's state, each device's link, crossings per lane, and the values privacy kept from
leaving the controller, in the Prometheus text format (prometheus_client), served by its own thread so
a scrape never touches the event loop. Labels are the site and lane ids, device roles, outcomes, lane
states and fault kinds only: never a reason, a message or anything an evidence source said.
"""

from __future__ import annotations

import asyncio

from gatecore.api import ConfigModel, Decision, Fault, LaneStateChange, SiteView, StashKey, hookimpl

from .config import MetricsSection
from .metrics import SiteMetrics

NAME = "gate_metrics"
METRICS = StashKey[SiteMetrics]()


def _metrics(site: SiteView) -> SiteMetrics | None:
    return site.stash.get(METRICS, None)


@hookimpl
def gatecore_config_section() -> tuple[str, type[ConfigModel]]:
    return NAME, MetricsSection


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    cfg = site.plugin_config(NAME)
    if isinstance(cfg, MetricsSection):
        site.stash[METRICS] = SiteMetrics(site, cfg)


@hookimpl
def gatecore_site_start(site: SiteView) -> None:
    metrics = _metrics(site)
    if metrics is not None:
        metrics.serve()


@hookimpl
async def gatecore_site_stop(site: SiteView) -> None:
    metrics = _metrics(site)
    if metrics is not None:
        await asyncio.to_thread(metrics.close)  # the server thread takes up to half a second to stop


@hookimpl
def gatecore_report_decision(site: SiteView, decision: Decision) -> None:
    metrics = _metrics(site)
    if metrics is not None:
        metrics.decision(decision)


@hookimpl
def gatecore_report_fault(site: SiteView, fault: Fault) -> None:
    metrics = _metrics(site)
    if metrics is not None:
        metrics.fault(fault)


@hookimpl
def gatecore_report_lane_state(site: SiteView, change: LaneStateChange) -> None:
    metrics = _metrics(site)
    if metrics is not None:
        metrics.state(change)
