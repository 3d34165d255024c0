"""gate_metrics: a running site's figures, scraped over HTTP and parsed as Prometheus text."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gate_metrics import METRICS
from gate_metrics.config import MetricsSection
from gate_metrics.metrics import SiteMetrics
from gatecore.api import DROPS, Fault, ProfileError, Site, Stamp
from gatecore.privacy import SafeText
from gatecore.testing import BareSite, make_site, running, wait_for

from .conftest import SITE, lane_toml

EVIDENCE = 'kind = "sim.evidence"\n  latency_ms = [0.0, 2.0]\n  pass_weight = 1.0\n  refer_weight = 0.5'


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The samples of each metric family (counters by their _total, histograms by their _count)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {family.name: [(dict(s.labels), s.value) for s in family.samples
                          if s.name in (family.name, family.name + "_total", family.name + "_count")]
            for family in text_string_to_metric_families(text)}


def site_with_metrics(tmp_path: Path) -> Site:
    text = (SITE.replace("traffic = false", "traffic = true\narrivals_per_min = 1200\ndwell_ms = 5\nofficer_ms = 5")
            + '[plugins.gate_metrics]\nlisten = "127.0.0.1:0"\n'
            + lane_toml("l1").replace('kind = "scripted"', EVIDENCE)
            + lane_toml("l2").replace('kind = "scripted"', EVIDENCE))
    site, _ = make_site(text, tmp_path)
    return site


async def test_the_scrape_agrees_with_the_site(tmp_path: Path) -> None:
    site = site_with_metrics(tmp_path)
    async with running(site):
        await wait_for(lambda: sum(lane.crossings for lane in site.lanes.values()) >= 20, timeout=30)
        port = site.stash[METRICS].port
        assert port
        site.lanes["l2"].devices["barrier"].inject("drop")  # type: ignore[attr-defined]
        await wait_for(lambda: site.lanes["l2"].faults >= 1, timeout=10)
        stats = {lane_id: (dict(lane.decisions), lane.crossings, lane.faults)
                 for lane_id, lane in site.lanes.items()}
        dropped = DROPS.total()
        metrics = await asyncio.to_thread(scrape, port)
        dropped_after = DROPS.total()
        stats_after = {lane_id: (dict(lane.decisions), lane.crossings, lane.faults)
                       for lane_id, lane in site.lanes.items()}
    decided = {(labels["lane"], labels["outcome"]): value for labels, value in metrics["gatecore_decisions"]}
    for lane_id in ("l1", "l2"):
        for outcome in ("pass", "refer"):
            low, high = stats[lane_id][0][outcome], stats_after[lane_id][0][outcome]
            assert low <= decided.get((lane_id, outcome), 0) <= high
    crossings = {labels["lane"]: value for labels, value in metrics["gatecore_crossings"]}
    assert stats["l1"][1] <= crossings["l1"] <= stats_after["l1"][1]
    faults = {(labels["lane"], labels["kind"]): value for labels, value in metrics["gatecore_faults"]}
    assert faults[("l2", "device_offline")] >= 1
    online = {(labels["lane"], labels["device"]): value for labels, value in metrics["gatecore_device_online"]}
    assert online[("l2", "barrier")] == 0.0 and online[("l1", "barrier")] == 1.0
    states = {labels["lane"]: labels["gatecore_lane_state"] for labels, value in metrics["gatecore_lane_state"]
              if value == 1.0}
    assert states["l2"] == "degraded"
    latency = {labels["lane"]: value for labels, value in metrics["gatecore_decision_latency_seconds"]}
    assert latency["l1"] == decided[("l1", "pass")] + decided.get(("l1", "refer"), 0) + decided.get(("l1", "deny"), 0)
    assert dropped <= metrics["gatecore_privacy_dropped"][0][1] <= dropped_after  # what privacy kept back
    with pytest.raises(urllib.error.URLError):  # the site stopped: so did its endpoint
        await asyncio.to_thread(scrape, port)


def test_a_bad_listen_address_is_a_check_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as err:
        make_site(SITE + '[plugins.gate_metrics]\nlisten = "9464"\n'
                  + lane_toml("l1").replace('kind = "scripted"', EVIDENCE), tmp_path)
    assert "plugins.gate_metrics.listen" in str(err.value) and "expected host:port" in str(err.value)


def test_a_fault_kind_the_core_does_not_make_is_no_label() -> None:
    metrics = SiteMetrics(BareSite(), MetricsSection(listen="127.0.0.1:0"))
    for kind in ("device_offline", "C1234567"):
        metrics.fault(Fault(Stamp("site", "l1"), kind, SafeText("barrier: offline")))
    labels = {dict(s.labels)["kind"] for family in metrics.registry.collect() if family.name == "gatecore_faults"
              for s in family.samples if s.name == "gatecore_faults_total"}
    assert labels == {"device_offline", "other"}
