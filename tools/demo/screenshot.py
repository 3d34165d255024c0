"""A screenshot of the officers' console of a running demo, for the README.

    GATECORE_DEMO_PASSWORD=... make demo &        # in one shell
    GATECORE_DEMO_PASSWORD=... python -m tools.demo.screenshot docs/console/demo.png

Logs in as the demo account in headless Chromium (Debian's chromium and chromium-driver, as the console's
browser tests use), waits for a referral to be waiting, and saves the page at 1366x768.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:8780")
    parser.add_argument("--wait-s", type=float, default=60.0, help="how long to wait for the console and a referral")
    args = parser.parse_args()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1366,768"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or ""), options=options)
    try:
        wait = WebDriverWait(driver, args.wait_s, poll_frequency=0.2)
        deadline = time.monotonic() + args.wait_s
        while True:  # the demo may still be building its world
            try:
                driver.get(args.url + "/login")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        driver.find_element(By.ID, "name").send_keys("demo")
        driver.find_element(By.ID, "password").send_keys(os.environ["GATECORE_DEMO_PASSWORD"])
        driver.find_element(By.ID, "login").click()
        wait.until(lambda d: d.find_element(By.ID, "link").text == "live")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".referral"))
        time.sleep(1.0)  # a few more decisions in the history
        args.out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.out))
        print(f"wrote {args.out}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
