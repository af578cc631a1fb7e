"""`edgeorch dashboard` in a real headless Chromium (Debian's chromium and chromium-driver, driven by
selenium) against the running stack and operator: the page draws the city's sites and cells and a
placed workload's replica where its status says; a latency fault injected at that site shows on the
map (the site turns red and is marked, the fault is listed), then the SLA breach and its record on
chain appear in the side lists.  A screenshot is saved under the test's tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from sim.control import ExporterControlSync
from tests.conftest import StackHandle
from tests.operator.conftest import apply_all, get_json, own_namespace, wait_for, workload
from tests.qos.conftest import sla

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus, pytest.mark.chain, pytest.mark.slow]
CHROMIUM = os.environ.get("EDGEORCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("EDGEORCH_CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture
def dashboard(operator: StackHandle, tmp_path: Path) -> Iterator[str]:
    """`edgeorch dashboard --port 0` as its own process against the stack; its URL."""
    log = (tmp_path / "dashboard.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from devstack.cli import main; main()", "dashboard", "--port", "0",
         "--state-dir", str(operator.state_dir)],
        env=operator.env(), stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once listening
        assert line.startswith("edgeorch dashboard: http://"), (line, (tmp_path / "dashboard.log").read_text())
        yield line.split(": ", 1)[1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), f"{path} missing: scripts/setup.sh installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,950", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _dom(driver: webdriver.Chrome, css: str) -> list[dict[str, str]]:
    """The data attributes of every element matching `css`."""
    out: list[dict[str, str]] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => Object.assign({}, e.dataset))", css)
    return out


def _until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    def safe() -> Any:
        try:
            return check()
        except WebDriverException:
            return None
    return wait_for(safe, timeout, what, interval=1.0)


def test_the_map_shows_the_city_a_workload_and_a_fault_as_it_happens(
        operator: StackHandle, dashboard: str, browser: webdriver.Chrome, tmp_path: Path) -> None:
    sites = {s["metadata"]["name"] for s in get_json(operator, "edgesites")["items"]}
    cells = {c["metadata"]["name"] for c in get_json(operator, "radiocells")["items"]}
    with own_namespace(operator, "city-map") as ns:
        cell = "cell-eixample-1"
        ew = workload("cam", ns, cells={cell: 1.0}, max_latency_ms=20, tiers=["far-edge", "edge"])
        ew["spec"]["migration"] = {"budgetPerHour": 10, "cooldownSeconds": 2, "failBack": True}
        apply_all(operator, [ew, sla("cam-sla", ns, "cam")])
        status = wait_for(lambda: (get_json(operator, "ew", "cam", "-n", ns).get("status") or {}).get("placements"),
                          90, "the workload placed")
        (home,) = {p["site"] for p in status}
        key = f"{ns}/cam"

        browser.get(dashboard)
        _until(lambda: {d["site"] for d in _dom(browser, "g.site")} == sites, 60, "every EdgeSite drawn")
        assert {d["cell"] for d in _dom(browser, "g.cell")} == cells
        tiers = {d["site"]: d["tier"] for d in _dom(browser, "g.site")}
        assert {tiers[s] for s in sites} == {"far-edge", "edge", "cloud"}
        _until(lambda: [d for d in _dom(browser, "circle.replica") if d["workload"] == key and d["site"] == home],
               60, f"{key}'s replica drawn at {home}")
        (link,) = _until(lambda: [d for d in _dom(browser, "line.link") if d["workload"] == key], 30, "the link")
        assert (link["cell"], link["site"], link["level"]) == (cell, home, "ok")
        home_site = next(d for d in _dom(browser, "g.site") if d["site"] == home)
        assert home_site["fault"] == "false" and home_site["level"] == "ok"

        control = ExporterControlSync(operator.exporter_url)
        fault = control.inject_latency(home, 40.0)
        try:
            _until(lambda: any(d["site"] == home and d["fault"] == "true" and d["level"] == "bad"
                               for d in _dom(browser, "g.site")), 60, f"{home} drawn faulty and slow")
            assert any(d["kind"] == "fault" and d["subject"] == home for d in _dom(browser, "li.alert"))
            # the breach as it happens: the Event, then the record on chain, in the side lists
            _until(lambda: any(d["reason"] == "SLABreached" for d in _dom(browser, "li.event")), 90,
                   "the SLABreached Event listed")
            _until(lambda: any(d["event"] == "BreachRecorded" and d["agreement"] == f"{ns}/cam-sla"
                               for d in _dom(browser, "li.record")), 90, "the breach's chain record listed")
            shot = tmp_path / "city-map.png"
            assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
            print(f"screenshot: {shot}")
            # the replica moved off the slow site (offload) or its link is drawn red until it does
            links = [d for d in _dom(browser, "line.link") if d["workload"] == key]
            assert all(d["site"] != home or d["level"] == "bad" for d in links), links
        finally:
            control.heal(fault)
        _until(lambda: any(d["site"] == home and d["fault"] == "false" and d["level"] == "ok"
                           for d in _dom(browser, "g.site")), 60, f"{home} drawn healthy again")
        assert int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-updates") or 0) >= 3
        errors = _dom(browser, "#errors .error")
        assert errors == [], errors
