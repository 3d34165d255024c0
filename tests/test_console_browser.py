"""gate_console in a real browser: Debian's headless Chromium, driven by Selenium, against a running
simulated site of six lanes. A supervisor logs in, sees the six lanes live, lets a referred traveller
through (the barrier opens for that crossing only), sends the next one back, takes a lane to manual and
back; a viewer sees no action and is refused one it forges. Screenshots of the main screens go to
``$GATECORE_SCREENSHOTS`` (``docs/console`` for the README) or the test's own folder.

One browser for the whole walk (Chromium takes seconds to start on a shared machine); Selenium blocks,
so each step runs in a thread while the site runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from gatecore.api import Outcome
from gatecore.testing import running, wait_for

from .console_kit import PASSWORDS, console_of, console_site

CHROMIUM, DRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or ""
WAIT_S = 20.0

LANE = """
[[lanes]]
id = "{id}"
flow = "{flow}"
exit = "exit"
lights = "lights"
display = "display"
policy = {{ require = ["pass"], deadline_ms = 800, refer_hold_ms = 100, officer_timeout_ms = {wait} }}
  [[lanes.evidence]]
  kind = "sim.evidence"
  source = "pass"
  latency_ms = [20.0, 80.0]
  refer_weight = {refer}
  pass_weight = {passes}
  deny_weight = 0.0
""" + "".join(f'  [[lanes.devices]]\n  kind = "{kind}"\n  role = "{role}"\n{extra}' for kind, role, extra in (
    ("sim.presence", "entry", ""), ("sim.presence", "exit", ""), ("sim.barrier", "barrier", "  travel_ms = 150\n"),
    ("sim.lights", "lights", ""), ("sim.display", "display", "")))
#: five lanes of ordinary traffic, and one (bl1-egate-4) that refers every crossing to an officer
LANES = "".join(LANE.format(id=i, flow=f, wait=w, refer=r, passes=p) for i, f, w, r, p in (
    ("bl1-egate-1", "passenger", 0, 0.05, 0.95), ("bl1-egate-2", "passenger", 0, 0.05, 0.95),
    ("bl1-egate-3", "passenger", 0, 0.05, 0.95), ("bl1-egate-4", "passenger", 120_000, 1.0, 0.0),
    ("cargo-in-1", "cargo", 0, 0.05, 0.95), ("cargo-out-1", "cargo", 0, 0.05, 0.95)))
SITE = """
[site]
id = "mong-cai/console-test"
[run]
shutdown_timeout_s = 3.0
hook_budget_ms = 5000  # the machine may be busy: a slow hook is not what this test is about
[plugins.gate_sim]
seed = 5
traffic = true
arrivals_per_min = 40
dwell_ms = 80
officer_ms = 300
"""


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-extensions", "--no-first-run", "--window-size=1366,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the screenshots go: ``$GATECORE_SCREENSHOTS`` (``docs/console`` for the README), else the test's own."""
    folder = Path(os.environ.get("GATECORE_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Page:
    """The officer's view of the console in the browser (every method blocks: run it in a thread)."""

    def __init__(self, driver: WebDriver, base: str, shots: Path) -> None:
        self.driver, self.base, self.shots = driver, base, shots

    def until(self, found: Callable[[WebDriver], Any]) -> Any:
        return WebDriverWait(self.driver, WAIT_S, poll_frequency=0.1).until(found)

    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))

    def login(self, name: str, shot: str | None = None) -> None:
        self.driver.delete_all_cookies()
        self.driver.get(self.base + "/login")
        self.driver.find_element(By.ID, "name").send_keys(name)
        self.driver.find_element(By.ID, "password").send_keys(PASSWORDS[name])
        if shot:
            self.shot(shot)
        self.driver.find_element(By.ID, "login").click()
        self.until(lambda d: d.find_element(By.ID, "link").text == "live")

    def logout(self) -> None:
        self.driver.find_element(By.ID, "logout").click()
        self.until(lambda d: d.current_url.endswith("/login"))

    def tiles(self) -> dict[str, str]:
        """Each lane tile's state, as the page shows it."""
        return dict(self.driver.execute_script(
            "return [...document.querySelectorAll('.tile')].map((t) => [t.dataset.lane, t.dataset.state]);"))

    def crossings(self) -> int:
        """The crossings the tiles show, all lanes together."""
        return int(self.driver.execute_script(
            "return [...document.querySelectorAll('.tile')].reduce((n, t) => n + +t.dataset.crossings, 0);"))

    def referral(self, lane: str, not_txn: str | None = None) -> WebElement:
        def card(d: WebDriver) -> WebElement | bool:
            for found in d.find_elements(By.CSS_SELECTOR, f'.referral[data-lane="{lane}"]'):
                if found.get_attribute("data-txn") != not_txn:
                    return found
            return False
        return self.until(card)

    def tile_action(self, lane: str) -> str:
        """Press the lane's manual/automatic button; the lane's state when it was pressed."""
        tile = self.driver.find_element(By.CSS_SELECTOR, f'.tile[data-lane="{lane}"]')
        was = tile.get_attribute("data-state") or ""
        tile.find_element(By.CSS_SELECTOR, '[data-action="manual"]').click()
        return was

    def state_of(self, lane: str, wanted: Callable[[str], bool]) -> None:
        self.until(lambda d: wanted(d.find_element(By.CSS_SELECTOR, f'.tile[data-lane="{lane}"]')
                                    .get_attribute("data-state") or ""))

    def forge(self, path: str, body: dict[str, Any]) -> int:
        """What a viewer's page could send if it tried: the request the buttons would make."""
        return int(self.driver.execute_async_script("""
            const [path, body, done] = arguments;
            fetch(path, {method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json",
              "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content},
              body: JSON.stringify(body)}).then((r) => done(r.status), () => done(0));
        """, path, body))


async def test_an_officer_watches_six_lanes_resolves_referrals_and_a_viewer_acts_on_nothing(
    tmp_path: Path, browser: WebDriver, shots: Path,
) -> None:
    site, recorder = console_site(tmp_path, lanes=LANES, site=SITE)
    referred = site.lanes["bl1-egate-4"]
    async with running(site, timeout=20):
        page = Page(browser, f"http://127.0.0.1:{console_of(site).port}", shots)

        def step(call: Callable[..., Any], *args: Any) -> Any:
            return asyncio.to_thread(call, *args)

        await step(page.viewport, 1366, 768)
        await step(page.login, "super.2", "login")
        assert len(await step(page.tiles)) == 6
        before = await step(page.crossings)
        await step(page.until, lambda d: page.crossings() > before + 3)  # live: pushed, nobody reloads

        card = await step(page.referral, "bl1-egate-4")
        first = card.get_attribute("data-txn")
        evidence = await step(lambda: card.find_element(By.CSS_SELECTOR, "table.evidence").text)
        assert "weights [pass " in evidence and "object Object" not in evidence  # a nested summary, readable
        await step(page.shot, "console")
        await step(card.find_element(By.CSS_SELECTOR, '[data-action="pass"]').click)
        await wait_for(lambda: any(d.officer and d.txn_id == first for d in recorder.decisions), timeout=WAIT_S)
        await wait_for(lambda: referred.crossings >= 1, timeout=WAIT_S)  # through the barrier, and clear

        card = await step(page.referral, "bl1-egate-4", first)
        second = card.get_attribute("data-txn")
        deny = card.find_element(By.CSS_SELECTOR, '[data-action="deny"]')
        await step(deny.click)
        await wait_for(lambda: any(d.officer and d.txn_id == second for d in recorder.decisions), timeout=WAIT_S)

        assert await step(page.tile_action, "bl1-egate-2") != "manual"
        await step(page.state_of, "bl1-egate-2", lambda s: s == "manual")
        await step(page.shot, "manual")
        await step(page.tile_action, "bl1-egate-2")
        await step(page.state_of, "bl1-egate-2", lambda s: s != "manual")

        await step(page.logout)
        await step(page.login, "viewer.1")
        assert not await step(browser.find_elements, By.CSS_SELECTOR, "[data-action]")  # nothing to press
        assert await step(page.forge, "/api/lanes/bl1-egate-1/manual", {"manual": True, "reason": "maintenance"}) \
            == 403
        await step(page.shot, "viewer")
        await step(page.viewport, 800, 1280, True)
        await step(page.shot, "tablet")

    officers = [(d.txn_id, d.outcome, d.officer) for d in recorder.decisions if d.officer]
    assert officers == [(first, Outcome.PASS, "super.2"), (second, Outcome.DENY, "super.2")]
    opens = [c for c in referred.barrier.commands if c[1] == "open"]  # type: ignore[attr-defined]
    passes = [d for d in recorder.decisions if d.stamp.lane_id == "bl1-egate-4" and d.outcome is Outcome.PASS]
    assert len(opens) == len(passes) == 1  # the officer's PASS opened it, that once
    manual = [(c.new.value, c.officer) for c in recorder.states if c.stamp.lane_id == "bl1-egate-2" and c.officer]
    assert manual == [("manual", "super.2"), ("idle", "super.2")]
    assert site.lanes["bl1-egate-1"].state.value != "manual"
    events = [(e.kind, e.officer, e.reason) for e in recorder.officer_events]
    assert events == [("login", "super.2", "supervisor"), ("logout", "super.2", ""), ("login", "viewer.1", "viewer"),
                      ("action_refused", "viewer.1", "not_permitted")]
