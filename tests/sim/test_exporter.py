"""The exporter as a real process: scrape /metrics over HTTP, drive faults through the control API."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sim.control import ControlError, ExporterControlSync
from sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Running:
    def __init__(self, proc: subprocess.Popen[str], metrics_url: str, control_url: str) -> None:
        self.proc = proc
        self.metrics_url = metrics_url
        self.control_url = control_url
        self.ctl = ExporterControlSync(control_url)

    def scrape(self) -> tuple[dict[str, str], Samples]:
        """metric family -> type, and every sample keyed by (sample name, sorted labels)."""
        text = ""
        for url in (self.metrics_url, self.metrics_url + "/apps"):  # the city, then the apps
            with urllib.request.urlopen(url, timeout=10) as resp:
                assert resp.headers["Content-Type"].startswith("text/plain")
                text += resp.read().decode()
        types: dict[str, str] = {}
        samples: Samples = {}
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return types, samples


def start_exporter(*args: str) -> Running:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.exporter", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    if not ready:
        proc.kill()
        pytest.fail("the exporter printed nothing within 30 s")
    line = proc.stdout.readline()
    if not line:
        _, err = proc.communicate(timeout=5)
        pytest.fail(f"the exporter exited: {err}")
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    return Running(proc, fields["metrics"], fields["control"])


def stop_exporter(running: Running) -> None:
    running.proc.terminate()
    try:
        assert running.proc.wait(timeout=10) == 0
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
        for stream in (running.proc.stdout, running.proc.stderr):
            if stream:
                stream.close()


@pytest.fixture(scope="module")
def exporter() -> Iterator[Running]:
    running = start_exporter("--scenario", "mini", "--seed", "5", "--samples-per-second", "200")
    yield running
    stop_exporter(running)


@pytest.fixture(autouse=True)
def _healed(exporter: Running) -> Iterator[None]:
    yield
    exporter.ctl.heal()


def wait_for(what: str, check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _raw(url: str, method: str, body: bytes | None) -> tuple[int, dict[str, str]]:
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        text = exc.read().decode()
        return exc.code, json.loads(text) if text.startswith("{") else {"error": text}


def test_metric_families_and_types(exporter: Running) -> None:
    types, samples = exporter.scrape()
    assert types["edgeorch_link_latency_seconds"] == "gauge"
    assert types["edgeorch_link_bandwidth_bytes"] == "gauge"
    assert types["edgeorch_node_cpu_usage_cores"] == "gauge"
    assert types["edgeorch_node_memory_usage_bytes"] == "gauge"
    assert types["edgeorch_site_up"] == "gauge"
    assert types["edgeorch_app_request_latency_seconds"] == "histogram"
    city = load_scenario("mini")
    links = [k for k in samples if k[0] == "edgeorch_link_latency_seconds"]
    assert len(links) == len(city.cells) * len(city.sites)
    key = ("edgeorch_link_latency_seconds", (("cell", "cell-poblenou-1"), ("site", "fe-poblenou")))
    assert samples[key] == pytest.approx(city.latency_ms()["cell-poblenou-1"]["fe-poblenou"] / 1000)
    assert samples[("edgeorch_node_cpu_usage_cores", (("node", "cloud-bcn-dc-n01"), ("site", "cloud-bcn-dc")))] \
        == pytest.approx(6.4)
    assert samples[("edgeorch_site_up", (("site", "mec-22at"),))] == 1.0


def test_latency_fault_raises_the_metric_and_healing_restores_it(exporter: Running) -> None:
    key = ("edgeorch_link_latency_seconds", (("cell", "cell-eixample-1"), ("site", "mec-22at")))
    other = ("edgeorch_link_latency_seconds", (("cell", "cell-eixample-1"), ("site", "fe-eixample")))
    _, before = exporter.scrape()
    fault_id = exporter.ctl.inject_latency("mec-22at", 40)
    assert [f["id"] for f in exporter.ctl.faults()] == [fault_id]
    _, during = exporter.scrape()
    assert during[key] == pytest.approx(before[key] + 0.040)
    assert during[other] == before[other]
    assert exporter.ctl.heal(fault_id) == [fault_id]
    _, after = exporter.scrape()
    assert after[key] == before[key]
    assert exporter.ctl.faults() == []


def test_cpu_and_offline_faults(exporter: Running) -> None:
    exporter.ctl.saturate_cpu("mec-22at-n02", 15.5)
    exporter.ctl.take_offline("fe-eixample")
    _, samples = exporter.scrape()
    assert samples[("edgeorch_node_cpu_usage_cores", (("node", "mec-22at-n02"), ("site", "mec-22at")))] == 15.5
    assert samples[("edgeorch_site_up", (("site", "fe-eixample"),))] == 0.0
    assert ("edgeorch_node_cpu_usage_cores", (("node", "fe-eixample-n01"), ("site", "fe-eixample"))) not in samples
    assert len(exporter.ctl.heal()) == 2
    _, samples = exporter.scrape()
    assert samples[("edgeorch_site_up", (("site", "fe-eixample"),))] == 1.0


def _app(samples: Samples, suffix: str, workload: str, site: str) -> float:
    return samples.get((f"edgeorch_app_request_latency_seconds_{suffix}",
                        (("site", site), ("workload", workload))), 0.0)


def test_workload_histogram_follows_site_latency(exporter: Running) -> None:
    placement = exporter.ctl.set_workload_site("city", "cams", "mec-22at", {"cell-poblenou-1": 1})
    assert placement["site"] == "mec-22at"
    assert exporter.ctl.workloads()["city/cams"]["cells"] == {"cell-poblenou-1": 1.0}

    def mean_of_new(min_new: int) -> float:
        _, s0 = exporter.scrape()
        c0, t0 = _app(s0, "count", "city/cams", "mec-22at"), _app(s0, "sum", "city/cams", "mec-22at")
        result: list[float] = []

        def enough() -> bool:
            _, s1 = exporter.scrape()
            c1 = _app(s1, "count", "city/cams", "mec-22at")
            if c1 - c0 < min_new:
                return False
            result.append((_app(s1, "sum", "city/cams", "mec-22at") - t0) / (c1 - c0))
            return True

        wait_for("new requests of city/cams", enough)
        return result[0]

    link_s = load_scenario("mini").latency_ms()["cell-poblenou-1"]["mec-22at"] / 1000
    healthy = mean_of_new(20)
    assert link_s < healthy < link_s + 0.005
    exporter.ctl.inject_latency("mec-22at", 40)
    degraded = mean_of_new(20)
    assert degraded > healthy + 0.030
    exporter.ctl.heal()
    exporter.ctl.set_workload_site("city", "cams", "fe-poblenou", {"cell-poblenou-1": 1})
    wait_for("requests at the new site",
             lambda: _app(exporter.scrape()[1], "count", "city/cams", "fe-poblenou") > 0)
    exporter.ctl.remove_workload("city", "cams")
    assert "city/cams" not in exporter.ctl.workloads()


def test_app_series_are_a_scrape_target_of_their_own(exporter: Running) -> None:
    """/metrics (the city) stays small however many workloads are simulated; /metrics/apps has them."""
    exporter.ctl.set_workload_site("city", "split", "mec-22at", {"cell-poblenou-1": 1})

    def names(url: str) -> set[str]:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return {f.name for f in text_string_to_metric_families(resp.read().decode())}

    wait_for("app series on /metrics/apps",
             lambda: "edgeorch_app_request_latency_seconds" in names(exporter.metrics_url + "/apps"))
    city, apps = names(exporter.metrics_url), names(exporter.metrics_url + "/apps")
    assert "edgeorch_link_latency_seconds" in city and "edgeorch_app_request_latency_seconds" not in city
    assert apps == {"edgeorch_app_request_latency_seconds", "edgeorch_app_requests_failed", "edgeorch_app_cpu_usage_cores"}


def test_a_load_fault_sets_the_cpu_each_replica_of_the_app_uses(exporter: Running) -> None:
    """The app's need (a load fault, else idle) shared by its replicas: edgeorch_app_cpu_usage_cores."""
    exporter.ctl._request("PUT", "/workloads/city/busy", {"site": "mec-22at", "replicas": 3})
    fault = exporter.ctl.load_app("city/busy", 1.5)

    def value() -> float | None:
        with urllib.request.urlopen(exporter.metrics_url + "/apps", timeout=10) as resp:
            for family in text_string_to_metric_families(resp.read().decode()):
                for s in family.samples:
                    if s.name == "edgeorch_app_cpu_usage_cores" and s.labels["workload"] == "city/busy":
                        return float(s.value)
        return None

    assert value() == pytest.approx(0.5)
    exporter.ctl.heal(fault)
    assert value() == pytest.approx(0.02 / 3, abs=1e-6)
    with pytest.raises(ControlError, match="workload"):
        exporter.ctl.load_app("no-slash", 1.0)


def test_offline_site_fails_requests(exporter: Running) -> None:
    exporter.ctl.set_workload_site("city", "kiosk", "fe-poblenou")
    exporter.ctl.take_offline("fe-poblenou")
    key = ("edgeorch_app_requests_failed_total", (("site", "fe-poblenou"), ("workload", "city/kiosk")))
    wait_for("failed requests", lambda: exporter.scrape()[1].get(key, 0) > 0)
    exporter.ctl.remove_workload("city", "kiosk")


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/faults", {"kind": "latency", "site": "nowhere", "add_ms": 5}, "site:"),
        ("POST", "/faults", {"kind": "latency", "site": "mec-22at", "add_ms": "much"}, "add_ms:"),
        ("POST", "/faults", {"kind": "cpu", "node": "mec-22at-n01"}, "usage_cores:"),
        ("POST", "/faults", {"kind": "meteor"}, "kind:"),
        ("PUT", "/workloads/ns/w", {"site": "mec-22at", "cells": {"cell-none": 1}}, "cells.cell-none:"),
        ("PUT", "/workloads/ns/w", {"cells": {}}, "site:"),
    ],
)
def test_bad_control_input_is_400_naming_the_field(
        exporter: Running, method: str, path: str, body: object, field: str) -> None:
    status, answer = _raw(exporter.control_url + path, method, json.dumps(body).encode())
    assert status == 400
    assert answer["error"].startswith(field)
    assert exporter.ctl.faults() == []


def test_invalid_json_and_unknown_ids(exporter: Running) -> None:
    status, answer = _raw(exporter.control_url + "/faults", "POST", b"{not json")
    assert (status, answer["error"][:18]) == (400, "body: invalid JSON")
    with pytest.raises(ControlError) as err:
        exporter.ctl.heal("f404")
    assert err.value.status == 404
    assert "f404" in err.value.message
    with pytest.raises(ControlError, match=r"400.*site: unknown site"):
        exporter.ctl.inject_latency("atlantis", 1)


def test_healthz(exporter: Running) -> None:
    assert exporter.ctl.healthz() == {"status": "ok", "scenario": "mini"}


def test_separate_control_port() -> None:
    running = start_exporter("--scenario", "mini", "--control-port", "0")
    try:
        assert running.control_url not in running.metrics_url
        status, _ = _raw(running.metrics_url.removesuffix("/metrics") + "/faults", "GET", None)
        assert status == 404
        running.ctl.inject_latency("mec-22at", 10)
        _, samples = running.scrape()
        key = ("edgeorch_link_latency_seconds", (("cell", "cell-gracia-1"), ("site", "mec-22at")))
        base = load_scenario("mini").latency_ms()["cell-gracia-1"]["mec-22at"]
        assert samples[key] == pytest.approx((base + 10) / 1000)
    finally:
        stop_exporter(running)


def test_cli_help_and_bad_scenario() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "sim.exporter", "--help"], capture_output=True, text=True,
                         cwd=REPO, env=env, timeout=30)
    assert out.returncode == 0
    for word in ("--scenario", "--port", "--control-port", "edgeorch_link_latency_seconds", "/faults", "/workloads/NS/NAME"):
        assert word in out.stdout
    bad = subprocess.run([sys.executable, "-m", "sim.exporter", "--scenario", "atlantis", "--port", "0"],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=30)
    assert bad.returncode == 2
    assert "--scenario" in bad.stderr
    assert "atlantis" in bad.stderr


def test_a_bus_moved_through_the_control_api_moves_its_users_metric(exporter: Running) -> None:
    key = "edgeorch_sim_cell_users"
    bus = exporter.ctl.start_bus("tracker", stops=[("cell-eixample-1", 3600), ("cell-poblenou-1", 3600)], users=25)
    try:
        types, samples = exporter.scrape()
        assert types[key] == "gauge"
        assert {k[1]: v for k, v in samples.items() if k[0] == key} == {
            (("app", "tracker"), ("cell", "cell-eixample-1")): 25.0}
        moved = exporter.ctl.move_bus(bus["id"], 1)
        assert (moved["stop"], moved["cells_now"]) == (1, {"cell-poblenou-1": 25.0})
        _, samples = exporter.scrape()
        assert {k[1]: v for k, v in samples.items() if k[0] == key} == {
            (("app", "tracker"), ("cell", "cell-poblenou-1")): 25.0}
        assert [g["id"] for g in exporter.ctl.groups()] == [bus["id"]]
        for body, status, field in ((b'{"stop": 2}', 400, "stop: must be 0..1"), (b'{"stop": "x"}', 400, "body:"),
                                    (b'{"stop": 0}', 404, "id: no group")):
            path = f"/groups/{bus['id'] if status != 404 else 'g404'}"
            assert _raw(exporter.control_url + path, "PATCH", body)[0] == status
            assert _raw(exporter.control_url + path, "PATCH", body)[1]["error"].startswith(field)
        with pytest.raises(ControlError, match=r"400.*route: unknown route 'v15'"):
            exporter.ctl.start_bus("tracker", "v15")  # the mini city has no routes
    finally:
        assert exporter.ctl.remove_groups() == [bus["id"]]
    _, samples = exporter.scrape()
    assert not [k for k in samples if k[0] == key]
