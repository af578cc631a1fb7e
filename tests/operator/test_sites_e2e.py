"""EdgeSites as a real resource (#20 item 5), on the real stack: the operator writes every site's
status (`kubectl get edgesites` shows NODES, READY, HEALTH, FREE CPU, REPLICAS), free CPU drops when
a workload is placed; `spec.cordoned: true` drains the site make-before-break (the Pod watch never
sees fewer Ready replicas than `replicas - maxUnavailable`) and keeps new workloads off it; and
uncordoned, the site gets back the workload whose users are in its district."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import pytest

from devstack.faults import Faults
from orchestrator.resources.common import parse_quantity
from tests.conftest import StackHandle
from tests.operator.conftest import (
    KubectlWatch,
    apply_all,
    get_json,
    own_namespace,
    placed_ready,
    wait_for,
    workload,
)

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]
SITE = "fe-sants"


class PodWatch:
    """`kubectl get pods --watch` on a namespace: after every event once `armed`, the Ready Pods
    (not terminating) are counted; `min_ready` is the fewest seen."""

    def __init__(self, stack: StackHandle, ns: str) -> None:
        self.ready: dict[str, bool] = {}
        self.min_ready = 10**9
        self.events = 0
        self.armed = False
        self._lock = threading.Lock()
        self._watch = KubectlWatch(stack, ["pods", "-n", ns, "--output-watch-events"], self._apply)

    def _apply(self, event: dict[str, Any]) -> None:
        pod = event["object"]
        name = pod["metadata"]["name"]
        with self._lock:
            if event["type"] == "DELETED":
                self.ready.pop(name, None)
            else:
                self.ready[name] = not pod["metadata"].get("deletionTimestamp") and any(
                    c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions")
                    or [])
            if self.armed:
                self.events += 1
                self.min_ready = min(self.min_ready, sum(self.ready.values()))

    def arm(self, ready: int) -> bool:
        """Start counting once the watch has caught up with `ready` Ready Pods."""
        with self._lock:
            if sum(self.ready.values()) == ready:
                self.armed = True
            return self.armed

    def stop(self) -> None:
        self._watch.stop()


def _columns(text: str) -> list[dict[str, str]]:
    """kubectl's table as dicts (a cell starts where its header does; an empty cell is "")."""
    lines = text.splitlines()
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", lines[0])]
    names = [lines[0][a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return [{n: line[a:b].strip() for n, a, b in zip(names, starts, [*starts[1:], None], strict=True)}
            for line in lines[1:]]


def _site(stack: StackHandle, name: str) -> dict[str, Any]:
    return dict(get_json(stack, "edgesite", name))


def _site_nodes(stack: StackHandle, name: str) -> set[str]:
    return {n["metadata"]["name"] for n in get_json(stack, "nodes", "-l", f"edgeorch.io/site={name}")["items"]}


def _cpu(quantity: str) -> float:
    return float(parse_quantity(quantity))


def _site_events(stack: StackHandle, name: str) -> list[str]:
    return [e["reason"] for e in get_json(stack, "events", "-A", "--field-selector",
                                          f"involvedObject.kind=EdgeSite,involvedObject.name={name}")["items"]]


def test_kubectl_get_edgesites_shows_the_columns_and_free_cpu_drops_when_a_workload_isplaced_ready(
        operator: StackHandle) -> None:
    def table() -> list[dict[str, str]] | None:
        rows = _columns(operator.kubectl("get", "edgesites").stdout)
        return rows if rows and all(r["NODES"].isdigit() and r["HEALTH"] in ("Up", "Degraded", "Down")
                                    for r in rows) else None

    rows = wait_for(table, 60, "NODES and HEALTH filled for every EdgeSite")
    assert list(rows[0]) == ["NAME", "TIER", "ZONE", "NODES", "READY", "HEALTH", "FREE CPU", "REPLICAS", "CORDONED",
                             "AGE"]
    assert len(rows) == 10 and all(int(r["NODES"]) >= 2 and r["READY"].isdigit() and r["FREE CPU"] for r in rows), rows
    cloud = _site(operator, "cloud-bcn-dc")["status"]
    assert cloud["nodes"] == 4 and cloud["allocatable"]["cpu"] == "256" and cloud["allocatable"]["gpu"] == 8
    assert {c["type"]: c["status"] for c in cloud["conditions"]} == {"Ready": "True", "Cordoned": "False"}

    def unchanged_for_a_while() -> bool:  # no write storm: a status that changes nothing is not written again
        before = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in get_json(operator, "edgesites")["items"]}
        time.sleep(8)  # > MIN_WRITE_S + TICK_S (orchestrator.sites)
        return before == {s["metadata"]["name"]: s["metadata"]["resourceVersion"]
                          for s in get_json(operator, "edgesites")["items"]}

    wait_for(unchanged_for_a_while, 60, "no EdgeSite written while nothing changes")
    free = {s["metadata"]["name"]: _cpu(s["status"]["free"]["cpu"]) for s in get_json(operator, "edgesites")["items"]}
    with own_namespace(operator, "site-free") as ns:
        apply_all(operator, [workload("andreu-map", ns, cells={"cell-sant-andreu-1": 1.0}, max_latency_ms=50,
                                      cpu="2")])
        st = wait_for(lambda: placed_ready(operator, ns, "andreu-map", 1), 90, "andreu-map placed")
        site = st["placements"][0]["site"]
        after = wait_for(lambda: (lambda f: f if f <= free[site] - 2 else None)(
            _cpu(_site(operator, site)["status"]["free"]["cpu"])), 30, f"free CPU of {site} down by 2 cores")
        assert after <= free[site] - 2
        assert _site(operator, site)["status"]["replicas"] >= 1


def test_a_cordoned_site_drains_make_before_break_takes_nothing_new_and_gets_its_workload_back(
        operator: StackHandle) -> None:
    name = "sants-cam"
    nodes = _site_nodes(operator, SITE)
    with own_namespace(operator, "site-cordon") as ns:
        ew = workload(name, ns, replicas=2, cells={"cell-sants-1": 1.0}, max_latency_ms=50)
        ew["spec"]["placement"]["preferTier"] = "far-edge"  # a far-edge app: the site at its users is worth a move
        apply_all(operator, [ew])
        st = wait_for(lambda: placed_ready(operator, ns, name, 2), 90, "sants-cam placed")
        assert set(st["podNodes"]) <= nodes, st  # at its users' far-edge cabinet

        watch = PodWatch(operator, ns)
        try:
            wait_for(lambda: watch.arm(2), 30, "the Pod watch sees the 2 Ready replicas")
            operator.kubectl("patch", "edgesite", SITE, "--type=merge", "-p", json.dumps({"spec": {"cordoned": True}}))
            st = wait_for(lambda: (lambda s: s if s and not set(s["podNodes"]) & nodes else None)(
                placed_ready(operator, ns, name, 2)), 120, "sants-cam's replicas elsewhere, Ready")
            watch.stop()
            # maxSurge 25 % (1), maxUnavailable 25 % (0 of 2): never fewer than 2 Ready
            print(f"drain: {watch.events} Pod events, fewest Ready {watch.min_ready}")
            assert watch.events >= 4 and watch.min_ready >= 2, (watch.events, watch.min_ready, watch.ready)
            assert SITE not in st["sites"].split(",") and st["migrations"] >= 2, st

            def drained() -> dict[str, Any] | None:
                status = _site(operator, SITE).get("status") or {}
                conds = {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions") or []}
                return status if conds.get("Cordoned") == ("True", "Drained") and status.get("replicas") == 0 else None

            wait_for(drained, 30, f"{SITE} Cordoned=True Drained, no replicas")
            assert {"Cordoned", "Drained"} <= set(_site_events(operator, SITE))

            apply_all(operator, [{**ew, "metadata": {"name": "sants-new", "namespace": ns}}])
            new = wait_for(lambda: placed_ready(operator, ns, "sants-new", 2), 90, "sants-new placed while cordoned")
            assert not set(new["podNodes"]) & nodes and SITE not in new["sites"].split(","), new
        finally:
            watch.stop()
            operator.kubectl("patch", "edgesite", SITE, "--type=merge", "-p",
                             json.dumps({"spec": {"cordoned": False}}))

        back = wait_for(lambda: (lambda s: s if s and set(s["podNodes"]) <= nodes else None)(
            placed_ready(operator, ns, name, 2)), 120, "sants-cam back at its users' site")
        assert back["sites"] == SITE
        wait_for(lambda: "Uncordoned" in _site_events(operator, SITE), 30, "an Uncordoned Event")
        conds = {c["type"]: c["status"] for c in _site(operator, SITE)["status"]["conditions"]}
        assert conds["Cordoned"] == "False"


def test_health_follows_edgeorch_site_up_while_the_nodes_stay_ready(operator: StackHandle) -> None:
    site = "cloud-frankfurt"
    control = Faults(operator.exporter_url, operator.kubeconfig, operator.state.scenario).control

    def health(want: str) -> dict[str, Any] | None:
        status = _site(operator, site).get("status") or {}
        return status if status.get("health") == want else None

    fault = control.take_offline(site)  # the metric only: the Nodes stay Ready
    try:
        status = wait_for(lambda: health("Down"), 60, f"{site} Down")
        ready = {c["type"]: c for c in status["conditions"]}["Ready"]
        assert (ready["status"], ready["reason"], status["readyNodes"]) == ("False", "SiteOffline", 4), status
        row = [r for r in _columns(operator.kubectl("get", "edgesites").stdout) if r["NAME"] == site]
        assert row[0]["HEALTH"] == "Down", row
    finally:
        control.heal(fault)
    status = wait_for(lambda: health("Up"), 60, f"{site} Up again")
    assert {c["type"]: c for c in status["conditions"]}["Ready"]["reason"] == "SiteUp"
