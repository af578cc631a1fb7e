"""QoS benchmark: from an injected degradation to the breach on chain and to the new placement bound.

    python -m bench.qos            # 10 trials
    python -m bench.qos --quick    # 5 trials

One local stack (real etcd, kube-apiserver, controller-manager, kube-scheduler, kwok nodes of the
barcelona city, Prometheus with its 1 s scrape, the city's QoS exporter, anvil) and the operator as
its own process.  Each trial uses a fresh EdgeWorkload (2 replicas, users in one radio cell, far-edge
or edge, max 20 ms) with its ServiceLevelAgreement (p95 request latency < 12 ms over a 3 s window,
evaluated every 1 s, breached after K=2 bad windows in a row, recovered after 2 good ones); the
cells rotate, so the home sites do too.  Once the workload is placed, its Pods bound and the
agreement on chain and evaluated Ok:

  t0            a monotonic clock on the client, just before the latency fault (+40 ms) is injected at
                the workload's site (the site hosting most of its replicas) through the exporter's API
  breach_s      the agreement's breach count on chain > 0 (polled every 0.1 s through sla_contracts;
                the BreachRecorded event's tx is kept)
  replace_s     every replica Pod (not terminating) has spec.nodeName on a node of another site that
                meets the latency bound (scenario latency, allowed tier), polled every 0.1 s
  failback_s    from healing the fault until the Pods are bound at the original sites again

Then the workload and its SLA are deleted.  Targets (issue 6): p95 <= 10 s for breach and
re-placement.  Reference points, not measured here: the descheduler's default 2-minute period and
Pledger's 60 s SLA check plus its 15 s decision loop (75 s).

Writes bench/results/qos.json: a JSON list of rows (trials, completed, breach/replace/failback
p50/p95/max, settings, targets, references, per-trial raw values, machine).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kubernetes import client as k8s

from bench import trials
from bench.kubeload import local_stack_only
from bench.machine import describe, machine
from bench.stats import percentile
from devstack.localstack import Stack
from orchestrator.kube.sync import Applier, api_client, call, node_labels
from sim.control import ExporterControl
from sim.scenario import load_scenario
from sla_contracts import Ledger, open_ledger

RESULTS = Path(__file__).resolve().parent / "results" / "qos.json"
SCENARIO = "barcelona"
NAMESPACE = "bench-qos"
CELLS = ("cell-eixample-1", "cell-gracia-1", "cell-poblenou-1", "cell-sants-1", "cell-sant-andreu-1")
TARGET_P95_S = 10.0
DESCHEDULER_S = 120.0
PLEDGER_S = 75.0  # SLA check every 60 s + decision loop every 15 s
POLL_S = 0.1


def log(msg: str) -> None:
    print(msg, flush=True)


@dataclass(frozen=True)
class Settings:
    interval_s: int = 1
    breach_after: int = 2
    recover_after: int = 2
    window: str = "3s"
    threshold_ms: float = 12.0
    add_ms: float = 40.0
    replicas: int = 2
    max_latency_ms: float = 20.0
    timeout_s: float = 60.0

    def as_dict(self) -> dict[str, Any]:
        return {"sla_interval_s": self.interval_s, "breach_after_k": self.breach_after,
                "recover_after": self.recover_after, "window": self.window,
                "objective": f"p95_latency_ms < {self.threshold_ms:g}", "fault_add_ms": self.add_ms,
                "replicas": self.replicas, "max_latency_ms": self.max_latency_ms, "prometheus_scrape_s": 1,
                "operator_sla_timer_s": 1, "poll_s": POLL_S, "scenario": SCENARIO}


def manifests(name: str, cell: str, s: Settings) -> list[dict[str, Any]]:
    ew = {"apiVersion": "edgeorch.io/v1alpha1", "kind": "EdgeWorkload",
          "metadata": {"name": name, "namespace": NAMESPACE},
          "spec": {"replicas": s.replicas,
                   "template": {"metadata": {"labels": {"app": name}},
                                "spec": {"containers": [{"name": "app", "image": "registry.example/bench:1"}]}},
                   "resources": {"cpu": "250m", "memory": "128Mi"},
                   "users": {"cells": [{"cell": cell, "share": 1.0}]},
                   "qos": {"maxLatencyMs": s.max_latency_ms},
                   "placement": {"allowedTiers": ["far-edge", "edge"]},
                   "migration": {"budgetPerHour": 10, "cooldownSeconds": 2, "failBack": True}}}
    t = s.threshold_ms
    sla = {"apiVersion": "edgeorch.io/v1alpha1", "kind": "ServiceLevelAgreement",
           "metadata": {"name": f"{name}-sla", "namespace": NAMESPACE},
           "spec": {"provider": "bcn-edge-operator", "consumer": "tenant-bench", "workloadRef": name,
                    "objectives": [{"name": "latency", "metric": "p95_latency_ms", "comparator": "lt",
                                    "window": s.window, "thresholds": {"warning": t, "mild": t + 3, "serious": t + 13,
                                                                       "severe": t + 28, "catastrophic": t + 68}}],
                    "validity": {"start": "2026-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
                    "evaluation": {"intervalSeconds": s.interval_s, "breachAfter": s.breach_after,
                                   "recoverAfter": s.recover_after}}}
    return [ew, sla]


class Cluster:
    """The few reads and writes a trial needs, on the sync client (called from threads)."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.core = k8s.CoreV1Api(api)
        self.custom = k8s.CustomObjectsApi(api)
        self.site_of = {n: labels.get("edgeorch.io/site", "") for n, labels in node_labels(api).items()}

    def get(self, plural: str, name: str) -> dict[str, Any]:
        out: Any = call(self.custom.get_namespaced_custom_object, "edgeorch.io", "v1alpha1", NAMESPACE, plural, name)
        return dict(out)

    def pod_sites(self, workload: str) -> list[str]:
        """Sites of the workload's live replica Pods ('' for an unbound one)."""
        pods: Any = call(self.core.list_namespaced_pod, NAMESPACE, label_selector=f"edgeorch.io/workload={workload}")
        return sorted(self.site_of.get(p.spec.node_name or "", "") for p in pods.items
                      if p.metadata.deletion_timestamp is None)

    def delete(self, plural: str, name: str) -> None:
        try:
            call(self.custom.delete_namespaced_custom_object, "edgeorch.io", "v1alpha1", NAMESPACE, plural, name)
        except Exception as exc:  # already gone is fine; anything else is only logged
            log(f"  (deleting {plural}/{name}: {type(exc).__name__})")


async def until(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(POLL_S)


async def first_seen(check: Callable[[], Awaitable[bool]], t0: float, timeout: float) -> float | None:
    """Seconds from t0 until `check` first holds (None: not within the timeout)."""
    while time.monotonic() - t0 < timeout:
        if await check():
            return time.monotonic() - t0
        await asyncio.sleep(POLL_S)
    return None


async def bound_sites(cl: Cluster, name: str, timeout: float) -> list[str]:
    """The sites of the workload's replicas once it is placed and every Pod is bound where it says."""
    async def placed() -> list[str] | None:
        ew = await asyncio.to_thread(cl.get, "edgeworkloads", name)
        want = sorted(p["site"] for p in (ew.get("status") or {}).get("placements") or [])
        return want if want and await asyncio.to_thread(cl.pod_sites, name) == want else None

    sites: list[str] = await until(placed, timeout, f"{name} placed and bound")
    return sites


@dataclass(frozen=True)
class Cycle:
    """One fault at the workload's site and its heal, timed from the client."""

    site: str
    first_s: float | None  # until the caller's first check held
    replace_s: float | None  # until every replica Pod is bound at a site within the bound
    to_sites: list[str]
    failback_s: float | None  # from the heal until the Pods are bound at the home sites again


async def fault_cycle(cl: Cluster, control: ExporterControl, name: str, cell: str, home_sites: list[str], replicas: int,
                      max_latency_ms: float, add_ms: float, timeout: float,
                      first: Callable[[], Awaitable[bool]]) -> Cycle:
    """+`add_ms` at the site hosting most replicas; time `first` and the re-placement; heal; time the fail-back."""
    city = load_scenario(SCENARIO)
    latency = city.latency_ms()
    site = Counter(home_sites).most_common(1)[0][0]
    compliant = {x.name for x in city.sites if x.name != site and x.tier in ("far-edge", "edge")
                 and latency[cell][x.name] <= max_latency_ms}

    async def moved() -> bool:
        sites = await asyncio.to_thread(cl.pod_sites, name)
        return len(sites) == replicas and all(x in compliant for x in sites)

    t0 = time.monotonic()
    fault = await control.inject_latency(site, add_ms)
    try:
        first_s, replace_s = await asyncio.gather(first_seen(first, t0, timeout), first_seen(moved, t0, timeout))
        new_sites = await asyncio.to_thread(cl.pod_sites, name)
    finally:
        t_heal = time.monotonic()
        await control.heal(fault)

    async def back() -> bool:
        return await asyncio.to_thread(cl.pod_sites, name) == home_sites

    return Cycle(site, first_s, replace_s, new_sites, await first_seen(back, t_heal, timeout))


async def trial(i: int, cl: Cluster, control: ExporterControl, chain_url: str, ledgers: dict[str, Ledger],
                s: Settings) -> dict[str, Any]:
    cell = CELLS[i % len(CELLS)]
    name = f"qos-{i}-{int(time.time()) % 100000}"
    await asyncio.to_thread(Applier(cl.api).apply_all, manifests(name, cell, s), 1)
    try:
        home_sites = await bound_sites(cl, name, s.timeout_s)

        async def ok() -> dict[str, Any] | None:
            st = (await asyncio.to_thread(cl.get, "servicelevelagreements", f"{name}-sla")).get("status") or {}
            objs = st.get("objectives") or []
            good = st.get("agreementId") and objs and all(o["state"] == "Ok" and o.get("lastValue") is not None
                                                          for o in objs)
            return st if good else None

        status = await until(ok, s.timeout_s, f"{name}-sla on chain and evaluated Ok")
        contract, aid = status["contractAddress"], bytes.fromhex(status["agreementId"][2:])
        if contract not in ledgers:
            ledgers[contract] = await open_ledger(chain_url, address=contract, deploy=False)
        ledger = ledgers[contract]

        async def breached() -> bool:
            return bool(await ledger.breach_count(aid) > 0)

        c = await fault_cycle(cl, control, name, cell, home_sites, s.replicas, s.max_latency_ms, s.add_ms, s.timeout_s,
                              breached)
        site, new_sites, breach_s, replace_s, failback_s = c.site, c.to_sites, c.first_s, c.replace_s, c.failback_s
        events = await ledger.breach_events(aid)
        row = {"trial": i, "workload": name, "cell": cell, "site": site, "from_sites": home_sites,
               "to_sites": new_sites, "breach_s": _r(breach_s), "replace_s": _r(replace_s),
               "failback_s": _r(failback_s), "breaches_on_chain": len(events),
               "breach_tx": events[0].tx_hash if events else None}
        log(f"trial {i:>2}: {cell:<19} {site:<13} -> {','.join(sorted(set(new_sites) - {site})) or '-':<13} "
            f"breach {_fmt(_r(breach_s))} s, re-placed {_fmt(_r(replace_s))} s, "
            f"failed back {_fmt(_r(failback_s))} s after the heal")
        return row
    finally:
        await asyncio.to_thread(cl.delete, "servicelevelagreements", f"{name}-sla")
        await asyncio.to_thread(cl.delete, "edgeworkloads", name)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) by bench.stats' nearest rank; None without values."""
    return round(percentile(values, q / 100), 3) if values else None


def summarise(raw: list[dict[str, Any]], s: TrialSettings, info: dict[str, Any],
              steps: tuple[str, ...] = ("breach", "replace", "failback"),
              targeted: tuple[str, ...] = ("breach", "replace")) -> dict[str, Any]:
    """The JSON row: per step (`<step>_s` of each trial) completed, p50, p95 and max; the p95 target of
    the `targeted` steps; references, settings, the trials and the machine."""
    row: dict[str, Any] = {"system": "edgeorch", "trials": len(raw)}
    for key in steps:
        values = [r[f"{key}_s"] for r in raw if r[f"{key}_s"] is not None]
        row[f"{key}_completed"] = len(values)
        row[f"{key}_p50_s"], row[f"{key}_p95_s"] = pct(values, 50), pct(values, 95)
        row[f"{key}_max_s"] = max(values) if values else None
    row["targets"] = {f"{k}_p95<={TARGET_P95_S:g}s": row[f"{k}_p95_s"] is not None
                      and row[f"{k}_completed"] == len(raw) and row[f"{k}_p95_s"] <= TARGET_P95_S
                      for k in targeted}
    row["references"] = {"descheduler_period_s": DESCHEDULER_S, "pledger_sla_check_plus_decision_s": PLEDGER_S}
    row["settings"], row["raw"], row["machine"] = s.as_dict(), raw, info
    return row


def report(row: dict[str, Any]) -> str:
    head = f"{'measure':<28} {'trials':>6} {'done':>5} {'p50 s':>7} {'p95 s':>7} {'max s':>7}  {'target p95<=10 s':<17} " \
           f"{'vs Pledger 75 s (p95)':<22} {'vs descheduler 120 s (p95)'}"
    lines = [head, "-" * len(head)]
    names = {"breach": "breach recorded on chain", "replace": "re-placement bound",
             "failback": "fail-back bound (from heal)"}
    for key, label in names.items():
        p95 = row[f"{key}_p95_s"]
        met = row["targets"].get(f"{key}_p95<={TARGET_P95_S:g}s")
        target = "-" if met is None else ("met" if met else "MISSED")

        def ratio(ref: float, p95: float | None = p95) -> str:
            return f"{ref / p95:.0f}x faster" if p95 else "n/a"
        lines.append(f"{label:<28} {row['trials']:>6} {row[f'{key}_completed']:>5} {_fmt(row[f'{key}_p50_s']):>7} "
                     f"{_fmt(p95):>7} {_fmt(row[f'{key}_max_s']):>7}  {target:<17} "
                     f"{ratio(PLEDGER_S) if key != 'failback' else '-':<22} "
                     f"{ratio(DESCHEDULER_S) if key != 'breach' else '-'}")
    lines.append(f"{'reference: Pledger':<28} {'':>6} {'':>5} {'':>7} {PLEDGER_S:>7.0f}  "
                 "(SLA check every 60 s + decision loop every 15 s: worst case before acting)")
    lines.append(f"{'reference: descheduler':<28} {'':>6} {'':>5} {'':>7} {DESCHEDULER_S:>7.0f}  "
                 "(default period 2 min: worst case before re-balancing; stock node failover 5-6 min)")
    st = row["settings"]
    lines.append(f"settings: SLA interval {st['sla_interval_s']} s, breachAfter K={st['breach_after_k']}, "
                 f"recoverAfter {st['recover_after']}, window {st['window']}, objective {st['objective']}, "
                 f"fault +{st['fault_add_ms']:g} ms at the workload's site, {st['replicas']} replicas, "
                 f"Prometheus scrape {st['prometheus_scrape_s']} s, operator SLA timer 1 s, client poll {POLL_S} s")
    lines.append(f"machine: {describe(row['machine'])}")
    return "\n".join(lines)


class TrialSettings(Protocol):
    @property
    def timeout_s(self) -> float: ...

    def as_dict(self) -> dict[str, Any]: ...


Trial = Callable[[int, "Cluster", ExporterControl, str, dict[str, Ledger], Any], Awaitable[dict[str, Any]]]


async def run_trials(trials: int, kubeconfig: Path, chain_url: str, exporter_url: str,
                     s: TrialSettings, one: Trial = trial) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    api = api_client(kubeconfig)
    ledgers: dict[str, Ledger] = {}
    control = ExporterControl(exporter_url)
    try:
        info = machine(api, packages=("kopf", "ortools", "web3"))
        log(f"machine: {describe(info)}")
        cl = Cluster(api)
        try:
            call(cl.core.create_namespace, {"metadata": {"name": NAMESPACE}})
        except Exception:
            log(f"  (namespace {NAMESPACE} exists)")
        raw = [await one(i, cl, control, chain_url, ledgers, s) for i in range(trials)]
        return raw, info
    finally:
        await control.close()
        for ledger in ledgers.values():
            await ledger.close()
        api.close()


def run(trials: int, s: TrialSettings, state_dir: Path | None = None, keep: bool = False, one: Trial = trial,
        **summary: Any) -> dict[str, Any]:
    """`trials` trials (`one`, default the SLA trial) on a fresh stack with the operator; the summary row."""
    state = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="edgeorch-bench-qos-"))
    stack = Stack(state / "stack")
    try:
        with local_stack_only():
            t0 = time.monotonic()
            st = stack.up(SCENARIO, log=log)
        log(f"stack up in {time.monotonic() - t0:.1f} s; state in {stack.dir}")
        stack.start_operator()
        raw, info = asyncio.run(run_trials(trials, Path(st.kubeconfig), st.chain_url, st.exporter_url, s, one))
        return summarise(raw, s, info, **summary)
    finally:
        stack.down(log=log)
        if not keep and not state_dir:
            shutil.rmtree(state, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = trials.parser("python -m bench.qos", __doc__, RESULTS)
    ap.add_argument("--breach-after", type=int, default=Settings.breach_after, help="K bad windows in a row")
    ap.add_argument("--interval", type=int, default=Settings.interval_s, help="SLA evaluation interval, s")
    ap.add_argument("--window", default=Settings.window, help="the objective's PromQL window")
    args = ap.parse_args(argv)
    s = Settings(interval_s=args.interval, breach_after=args.breach_after, window=args.window)
    row = run(trials.count(args), s, state_dir=args.state_dir, keep=args.keep)
    print(report(row))
    return trials.write(row, args.output, log, "breach", "replace")


if __name__ == "__main__":
    raise SystemExit(main())
