"""The demo's second act: a latency fault at the busiest edge site, the SLA breach on chain, the
offload, the recovery and the fail-back, told with timestamps.

The fault goes in (and is healed) through the simulated city's control API; the cluster is read
through `orchestrator.kube`, the chain through `sla_contracts` (the BreachRecorded and
MigrationRecorded events of the agreement).  The operator does all the work; this module only
watches and tells, and returns what it saw (`Told`) so a test can check the story.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from orchestrator.kube.sync import call, list_custom, session
from orchestrator.vocabulary import API_GROUP, API_VERSION, EDGEWORKLOADS, SITE_LABEL, SLAS, WORKLOAD_LABEL
from sim.control import ExporterControlSync
from sla_contracts import Ledger, LedgerEvent, Severity, open_ledger
from sla_contracts.model import from_fixed

Say = Callable[[str], None]
FAULT_MS = 40.0
POLL_S = 0.5
GROUP, VERSION = API_GROUP, API_VERSION


def demo_sla(sample: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The sample SLA as the demo applies it: as shipped, in `namespace` (its short windows and interval
    are the sample's own), so `edgeorch sla verify` of the sample file matches what is on chain."""
    doc = copy.deepcopy(dict(sample))
    doc["metadata"] = {**doc["metadata"], "namespace": namespace}
    return doc


def _busiest(placements: list[dict[str, Any]], tier: str | None = None) -> tuple[str, int] | None:
    count = Counter(p["site"] for p in placements if tier is None or p.get("tier") == tier)
    if not count:
        return None
    site = min(count, key=lambda s: (-count[s], s))
    return site, count[site]


def fault_site(workloads: list[dict[str, Any]], covered: str) -> tuple[str, str] | None:
    """Where to degrade, and why: the busiest edge site (the edge-tier site hosting the most replicas of
    `workloads`) when the SLA-covered workload `covered` serves its users from there; otherwise the site
    hosting most of `covered`'s replicas (the simulator serves a workload's requests from that site, so
    only there does a fault reach the SLA), saying which site was the busiest edge site."""
    placements = {w["metadata"]["name"]: list((w.get("status") or {}).get("placements") or []) for w in workloads}
    edge = _busiest([p for ps in placements.values() for p in ps], "edge")
    home = _busiest(placements.get(covered) or [])
    if home is None:
        return None
    if edge is not None and edge[0] == home[0]:
        return edge[0], f"the busiest edge site ({edge[1]} replicas)"
    n = len(placements[covered])
    why = f"where {covered} serves its users ({home[1]} of its {n} replicas)"
    if edge is not None:
        why += f"; the busiest edge site, {edge[0]} ({edge[1]} replicas), does not serve {covered}'s users"
    return home[0], why


def moves(before: list[str], after: list[str]) -> list[tuple[str, str]]:
    """(from, to) per replica that changed site."""
    gone, came = Counter(before) - Counter(after), Counter(after) - Counter(before)
    return list(zip(sorted(gone.elements()), sorted(came.elements()), strict=False))


@dataclass
class Told:
    """What the story saw."""

    workload: str
    sla: str
    fault_site: str | None = None
    home: list[str] = field(default_factory=list)  # the workload's sites before the fault
    agreement_id: str | None = None
    contract: str | None = None
    breaches: list[LedgerEvent] = field(default_factory=list)
    migrations: list[LedgerEvent] = field(default_factory=list)
    offloaded: list[tuple[str, str]] = field(default_factory=list)
    failed_back: list[tuple[str, str]] = field(default_factory=list)
    healed: bool = False

    @property
    def complete(self) -> bool:
        return bool(self.breaches and self.offloaded and self.failed_back and self.healed)


class _Watch:
    """Reads of one workload, its SLA, its Pods and its agreement on chain."""

    def __init__(self, api: Any, namespace: str, workload: str, sla: str) -> None:
        self.api, self.ns, self.workload, self.sla = api, namespace, workload, sla
        self.core = k8s.CoreV1Api(api)

    def _get(self, plural: str, name: str) -> dict[str, Any]:
        items = [o for o in list_custom(self.api, GROUP, VERSION, plural, self.ns) if o["metadata"]["name"] == name]
        return items[0] if items else {}

    def sites(self) -> list[str]:
        return sorted(p["site"] for p in (self._get(EDGEWORKLOADS, self.workload).get("status") or {})
                      .get("placements") or [])

    def migration_budget(self) -> str:
        """How much of the workload's migration budget the last hour used (why a move may be deferred)."""
        ew = self._get(EDGEWORKLOADS, self.workload)
        policy = (ew.get("spec") or {}).get("migration") or {}
        log = (ew.get("status") or {}).get("migrationLog") or []
        recent = sum(1 for t in log if time.time() - float(t) < 3600)
        return (f"{recent} migration(s) in the last hour, budget {policy.get('budgetPerHour', '?')}/h, "
                f"cool-down {policy.get('cooldownSeconds', '?')} s")

    def cooling_down(self) -> float:
        """Seconds left of the workload's migration cool-down (0: it may move now)."""
        ew = self._get(EDGEWORKLOADS, self.workload)
        last = (ew.get("status") or {}).get("lastMigrationTime")
        if not last:
            return 0.0
        since = time.time() - datetime.fromisoformat(str(last).replace("Z", "+00:00")).timestamp()
        return max(0.0, float(((ew.get("spec") or {}).get("migration") or {}).get("cooldownSeconds", 0)) - since)

    def sla_status(self) -> dict[str, Any]:
        return dict(self._get(SLAS, self.sla).get("status") or {})

    def pods_at(self, sites: list[str]) -> bool:
        """The workload's live replica Pods are bound, at exactly `sites`."""
        pods: Any = call(self.core.list_namespaced_pod, self.ns, label_selector=f"{WORKLOAD_LABEL}={self.workload}")
        live = [p for p in pods.items if p.metadata.deletion_timestamp is None]
        return all(p.spec.node_name for p in live) and sorted(
            (p.metadata.labels or {}).get(SITE_LABEL, "") for p in live) == sites


def _breach_line(e: LedgerEvent) -> str:
    a = e.args
    return (f"breach {'0x' + bytes(a['breach_id']).hex()}: severity {Severity(int(a['severity'])).name.lower()}, "
            f"observed {from_fixed(int(a['observed'])):.1f} ms, window {a['window_start']}..{a['window_end']}, "
            f"tx {e.tx_hash}, block {e.block_number}")


def play(kubeconfig: Path, chain_url: str, exporter_url: str, workloads: list[dict[str, Any]], say: Say,
         stamp: Callable[[], str], *, namespace: str = "default", workload: str = "video-analytics",
         sla: str = "video-analytics-sla", timeout: float = 150.0) -> Told:
    """Fault at the busiest edge site of `workloads` (placed EdgeWorkloads; see `fault_site`), then
    watch and tell."""
    told = Told(f"{namespace}/{workload}", sla)
    deadline = time.monotonic() + timeout
    target = fault_site(workloads, workload)
    if target is None:
        say(f"{stamp()} {workload} is not placed; nothing to degrade")
        return told
    site, why = target
    told.fault_site = site
    with session(kubeconfig) as api, asyncio.Runner() as runner:
        watch = _Watch(api, namespace, workload, sla)

        def wait(what: str, check: Callable[[], Any], limit: float) -> Any:
            end = min(deadline, time.monotonic() + limit)
            while time.monotonic() < end:
                value = check()
                if value:
                    return value
                time.sleep(POLL_S)
            say(f"{stamp()} gave up waiting for {what} ({workload}: {watch.migration_budget()})")
            return None

        def met() -> dict[str, Any] | None:
            st = watch.sla_status()
            objs = st.get("objectives") or []
            return st if st.get("agreementId") and objs and all(o["state"] == "Ok" for o in objs) else None

        def placed(accept: Callable[[list[str]], bool]) -> Callable[[], list[str] | None]:
            def check() -> list[str] | None:
                sites = watch.sites()
                return sites if sites and accept(sites) and watch.pods_at(sites) else None
            return check

        st = wait(f"{sla} on chain and evaluated", met, 60)
        if st is None:
            return told
        told.agreement_id, told.contract = str(st["agreementId"]), str(st["contractAddress"])
        say(f"{stamp()} SLA {sla} on chain: agreement {told.agreement_id} (contract {told.contract}, "
            f"tx {st.get('txHash', '?')}); objective latency Ok, p95 {st['objectives'][0].get('lastValue', 0):.1f} ms")
        ledger: Ledger = runner.run(open_ledger(chain_url, address=told.contract, deploy=False))
        aid = bytes.fromhex(told.agreement_id[2:])

        def chain(name: str) -> list[LedgerEvent]:
            return runner.run(ledger.events([name], aid))

        try:
            home = told.home = watch.sites()
            left = watch.cooling_down()
            if left > 0:  # a demo run again soon after the last one: let the sample's cool-down pass first
                say(f"{stamp()} waiting {left:.0f} s for {workload}'s migration cool-down (it moved recently)")
                time.sleep(left + 1)
            seen, seen_moves = len(chain("BreachRecorded")), len(chain("MigrationRecorded"))
            control = ExporterControlSync(exporter_url)
            say(f"{stamp()} fault: +{FAULT_MS:g} ms of latency at {site}, {why}; {workload} runs at {', '.join(home)}")
            fault = control.inject_latency(site, FAULT_MS)
            moved: list[str] | None = None
            try:
                told.breaches = wait("the breach on chain", lambda: chain("BreachRecorded")[seen:], 45) or []
                if told.breaches:
                    say(f"{stamp()} breach on chain: {_breach_line(told.breaches[0])}")
                moved = wait(f"{workload} to leave {site}", placed(lambda s: s != home and site not in s), 45)
                if moved:
                    told.offloaded = moves(home, moved)
                    say(f"{stamp()} offloaded {workload}: " + ", ".join(f"{a} -> {b}" for a, b in told.offloaded)
                        + f"; its Pods bound at {', '.join(moved)}")
                    if wait("the SLA to be met at the new sites", met, 30):
                        say(f"{stamp()} SLA {sla} met again at {', '.join(sorted(set(moved)))} "
                            f"(2 good windows), while {site} is still degraded")
            finally:
                control.heal(fault)
                told.healed = True
                say(f"{stamp()} recovery: the fault at {site} healed")
            if moved:
                say(f"{stamp()} waiting for the fail-back ({workload}'s migration cool-down, then a what-if solve "
                    "that must beat the current latency by 10 %)")
                back = wait(f"{workload} to fail back to {site}",
                            placed(lambda s: s.count(site) >= home.count(site)), 100)
                if back:
                    told.failed_back = moves(moved, back)
                    say(f"{stamp()} failed back {workload}: " + ", ".join(f"{a} -> {b}" for a, b in told.failed_back)
                        + f"; its Pods bound at {', '.join(back)}")
            every = chain("BreachRecorded")
            total, told.breaches = len(every), every[seen:]
            # each move's record goes through the SLA's outbox: give the last ones a few ticks to land
            hops = set(told.offloaded) | set(told.failed_back)

            def landed() -> bool:
                told.migrations = chain("MigrationRecorded")[seen_moves:]
                return hops <= {(m.args["from_site"], m.args["to_site"]) for m in told.migrations}

            if not landed():
                wait("the last migration records on chain", landed, 15)
            say(f"{stamp()} on chain for agreement {told.agreement_id}: {total} breach(es) ({len(told.breaches)} new), "
                f"{len(told.migrations)} new migration(s) (" + ", ".join(
                    f"{m.args['from_site']} -> {m.args['to_site']}" for m in told.migrations) + ")")
        finally:
            runner.run(ledger.close())
    return told
