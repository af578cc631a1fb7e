"""The Grafana dashboard (deploy/monitoring/edgeorch-dashboard.json): well formed, and every query answers
with data from the stack's real Prometheus once the operator has placed a workload under an SLA (and found
another Unplaceable)."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StackHandle
from tests.operator.conftest import apply_all, get_json, own_namespace, wait_for, workload
from tests.qos.conftest import sla

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "monitoring" / "edgeorch-dashboard.json"
NS = "monitoring-e2e"
# Grafana's variables as the test evaluates them (Prometheus scrapes every second in the stack)
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def queries() -> dict[str, str]:
    """'panel title / refId' -> PromQL with Grafana's variables replaced."""
    out = {}
    for p in panels():
        for t in p["targets"]:
            expr = t["expr"]
            for var, value in GRAFANA_VARS.items():
                expr = expr.replace(var, value)
            out[f"{p['title']} / {t['refId']}"] = expr
    return out


def test_the_dashboard_is_well_formed() -> None:
    dash = dashboard()
    assert dash["uid"] == "edgeorch-overview" and dash["schemaVersion"] >= 36
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    (var,) = dash["templating"]["list"]
    assert var["type"] == "datasource" and var["query"] == "prometheus"
    titles = {p["title"] for p in panels()}
    for wanted in ("Replicas by site", "Replicas by tier", "Solve time", "Optimality gap", "Queue depth",
                   "Migrations and repairs", "SLA compliance", "Breaches by severity", "Ledger backlog",
                   "Link latency heat map"):
        assert wanted in titles, wanted
    assert next(p for p in panels() if p["title"] == "Link latency heat map")["type"] == "heatmap"
    for p in panels():
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        assert p["datasource"]["uid"] == "${datasource}" and p["targets"], p["title"]
        for t in p["targets"]:
            assert t["expr"].strip() and t["datasource"]["uid"] == "${datasource}", p["title"]
            assert not re.search(r"\$(?!__rate_interval\b)\w+", t["expr"]), f"unknown variable in {t['expr']}"


def _query(prometheus_url: str, promql: str) -> list[dict[str, Any]]:
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", (promql, body)
    return body["data"]["result"]  # type: ignore[no-any-return]


def _phase(stack: StackHandle, name: str) -> str:
    return str((get_json(stack, "ew", name, "-n", NS).get("status") or {}).get("phase", ""))


@pytest.mark.cluster
@pytest.mark.prometheus
@pytest.mark.chain
def test_every_dashboard_query_returns_data_after_a_workload_and_its_sla(operator: StackHandle) -> None:
    with own_namespace(operator, NS):
        apply_all(operator, [
            workload("dash-app", NS, cells={"cell-eixample-1": 0.5, "cell-gracia-1": 0.5}, max_latency_ms=30),
            sla("dash-app-sla", NS, "dash-app", interval=1),
            workload("nowhere", NS, cells={"cell-eixample-1": 1.0}, max_latency_ms=0.01),
        ])
        wait_for(lambda: _phase(operator, "dash-app") == "Placed", 120, "dash-app Placed")
        wait_for(lambda: _phase(operator, "nowhere") == "Unplaceable", 120, "nowhere Unplaceable")
        wait_for(lambda: (get_json(operator, "sla", "dash-app-sla", "-n", NS).get("status") or {})
                 .get("compliance") is not None, 90, "the SLA evaluated (its compliance)")

        url = operator.prometheus_url
        pending = dict(queries())

        def all_answered() -> bool:
            for key, expr in list(pending.items()):
                if _query(url, expr):
                    del pending[key]
            return not pending

        try:
            wait_for(all_answered, 60, "every dashboard query to return data", interval=2)
        except AssertionError:
            raise AssertionError(f"dashboard queries without data: {pending}") from None

        # the values mean what the panels say
        placed = get_json(operator, "ew", "dash-app", "-n", NS)["status"]["placements"]
        sites = {p["site"] for p in placed}
        by_site = {r["metric"]["site"]: float(r["value"][1])
                   for r in _query(url, "sum by (site) (edgeorch_replicas)")}
        assert all(by_site.get(s, 0) >= 1 for s in sites), (sites, by_site)
        tiers = {r["metric"]["tier"] for r in _query(url, "sum by (tier) (edgeorch_replicas)")}
        assert {p["tier"] for p in placed} <= tiers
        unplaceable = _query(url, f'edgeorch_workload_unplaceable{{namespace="{NS}"}}')
        assert [(r["metric"]["workload"], r["value"][1]) for r in unplaceable] == [("nowhere", "1")]
        (compliance,) = _query(url, f'edgeorch_sla_compliance{{namespace="{NS}", sla="dash-app-sla"}}')
        assert compliance["metric"]["workload"] == "dash-app" and 0 <= float(compliance["value"][1]) <= 1
        links = _query(url, "edgeorch_link_latency_seconds")
        assert len({(r["metric"]["cell"], r["metric"]["site"]) for r in links}) >= 10
