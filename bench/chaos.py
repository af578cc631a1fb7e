"""Chaos benchmark: waves of EdgeWorkloads, SLA breaches and moves while a component crashes, with counts.

    python -m bench.chaos                          # 2 rounds of each fault kind
    python -m bench.chaos --rounds 1 --kinds partition operator-kill9 --seed 3

One local stack (real etcd, kube-apiserver, controller-manager, scheduler, kwok nodes of the barcelona
city, Prometheus, the city's exporter, anvil with its state file) and two operator processes (one Lease,
deploy/'s timings), each reaching the API server through a loopback proxy the bench controls.  Each round
of a fault kind (bench.chaos_faults), in a namespace of its own:

  wave A      3 EdgeWorkloads under a ServiceLevelAgreement (one radio cell, far-edge or edge, <= 20 ms;
              p95 latency < 12 ms) and 5 without; once the agreements are on chain and the three placed:
  causes      +40 ms latency at the sites hosting the three (breaches, then moves away), and the site
              hosting most of the others offline (its Nodes NotReady: their replicas must move); and at
              once wave B, 8 more EdgeWorkloads, so placements are under way when the fault comes
  fault       at a seeded random moment 0-6 s later, for a seeded random down time (3-10 s; a partition
              5-20 s, longer than the leader's renew deadline), then ended: the process started again
  converge    from the end of the fault, polled every second (up to 120 s): every workload Placed with
              exactly its replicas as live Pods bound where its status says, none on a NotReady node, every
              agreement on chain with a breach recorded (each sat where the latency was added), no outbox
              waiting; any operator process that exited is started again
              (a supervisor's part; counted)
  counts      5 s after convergence (or at the timeout): double placements (a workload with more live Pods
              or placements than replicas), lost workloads (not Placed with every replica bound), replicas
              on a NotReady node, duplicated and lost chain records (per agreement: on chain at all; the
              BreachRecorded events against the breaches its status counts); and, with no target, bound
              Pods not Running and Ready (after an etcd restart kwok, the simulated kubelet, leaves some
              Pending, as it does not retry a status update that failed, or not Ready: the kubelet's part)

Then the site faults are healed and the namespace deleted.  Targets (issue 24): every count 0 and
convergence p95 <= 30 s after the fault ends, per kind.  Writes bench/results/chaos.json.  Traffic only
on loopback.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from bench.chaos_checks import Chain, Snapshot, snapshot
from bench.chaos_faults import KINDS, Operators, SiteFaults, begin, end
from bench.kubeload import create_namespace, local_stack_only
from bench.machine import describe, machine
from bench.stats import percentile
from bench.takeover import LEASE
from devstack.faults import Faults
from devstack.localstack import Stack
from orchestrator.kube.errors import KubeError, KubeNotFound
from orchestrator.kube.sync import Applier, api_client, call
from sim.scenario import load_scenario

RESULTS = Path(__file__).resolve().parent / "results" / "chaos.json"
SCENARIO = "barcelona"
SLA_CELLS = ("cell-eixample-1", "cell-gracia-1", "cell-poblenou-1", "cell-sants-1", "cell-sant-andreu-1")
TARGET_CONVERGE_P95_S = 30.0
COUNTS = ("double_placements", "lost_workloads", "dead_node_replicas", "chain_duplicated", "chain_lost")
DELAY_S = (0.0, 6.0)
DOWN_S = {"partition": (5.0, 20.0)}
DEFAULT_DOWN_S = (3.0, 10.0)
CONVERGE_TIMEOUT_S = 120.0
SETTLE_S = 5.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def edge_workload(name: str, ns: str, cell: str, *, replicas: int, max_ms: float, tiers: list[str] | None,
                  sla: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas, "resources": {"cpu": "100m", "memory": "64Mi"},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "app", "image": "registry.example/chaos:1"}]}},
        "users": {"cells": [{"cell": cell, "share": 1.0}]}, "qos": {"maxLatencyMs": max_ms},
        "placement": {"allowedTiers": tiers} if tiers else {}}
    if sla:  # moves for its breaches, no fail-back (the latency stays until the round ends)
        spec["migration"] = {"budgetPerHour": 20, "cooldownSeconds": 2, "failBack": False}
    return {"apiVersion": "edgeorch.io/v1alpha1", "kind": "EdgeWorkload", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def agreement(name: str, ns: str, workload: str, threshold_ms: float = 12.0) -> dict[str, Any]:
    t = threshold_ms
    return {"apiVersion": "edgeorch.io/v1alpha1", "kind": "ServiceLevelAgreement",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"provider": "bcn-edge-operator", "consumer": "tenant-chaos", "workloadRef": workload,
                     "objectives": [{"name": "latency", "metric": "p95_latency_ms", "comparator": "lt", "window": "3s",
                                     "thresholds": {"warning": t, "mild": t + 3, "serious": t + 13, "severe": t + 28,
                                                    "catastrophic": t + 68}}],
                     "validity": {"start": "2026-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
                     "evaluation": {"intervalSeconds": 1, "breachAfter": 2, "recoverAfter": 2}}}


def waves(ns: str, rng: random.Random, cells: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(wave A: 3 workloads with their agreements and 5 without, wave B: 8 without)."""
    a: list[dict[str, Any]] = []
    for i, cell in enumerate(rng.sample(SLA_CELLS, 3)):
        a += [edge_workload(f"s{i}", ns, cell, replicas=1, max_ms=20, tiers=["far-edge", "edge"], sla=True),
              agreement(f"s{i}-sla", ns, f"s{i}")]

    def plain(name: str) -> dict[str, Any]:
        return edge_workload(name, ns, rng.choice(cells), replicas=rng.randint(1, 2), max_ms=200,
                             tiers=rng.choice([None, ["edge"], ["edge", "cloud"]]), sla=False)
    return a + [plain(f"a{i}") for i in range(5)], [plain(f"b{i}") for i in range(8)]


class Round:
    """One round of one fault kind (see the module docstring)."""

    def __init__(self, kind: str, index: int, rng: random.Random, stack: Stack, ops: Operators, api: Any,
                 chain: Chain, faults: Faults) -> None:
        self.kind, self.index, self.rng = kind, index, rng
        self.stack, self.ops, self.api, self.chain = stack, ops, api, chain
        self.ns = f"chaos-{kind}-{index}"
        self.sites = SiteFaults(faults)

    def snap(self) -> Snapshot | None:
        try:
            return snapshot(self.api, self.ns)
        except KubeError:
            return None

    def wait(self, what: str, check: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = check()
            if out:
                return out
            time.sleep(1.0)
        log(f"  {self.ns}: no {what} within {timeout:g} s")
        return None

    def run(self) -> dict[str, Any]:
        create_namespace(self.api, self.ns)
        wave_a, wave_b = waves(self.ns, self.rng, sorted(c.name for c in load_scenario(SCENARIO).cells))
        applier = Applier(self.api)
        for doc in wave_a:
            applier.apply(doc)
        self.wait("agreement on chain and placement of s0-s2", self._recorded, 90)
        self._causes(self.snap())
        for doc in wave_b:
            applier.apply(doc)
        delay = self.rng.uniform(*DELAY_S)
        down = self.rng.uniform(*DOWN_S.get(self.kind, DEFAULT_DOWN_S))
        time.sleep(delay)
        fault = begin(self.kind, self.stack, self.ops)
        log(f"  {self.ns}: {self.kind} on {fault.target} {delay:.1f} s after the causes, for {down:.1f} s")
        time.sleep(down)
        try:
            end(fault, self.stack, self.ops, self.sites)
        except Exception as exc:  # a component that cannot come back: said in the row, the round goes on
            fault.notes.append(f"ending the fault failed: {type(exc).__name__}: {str(exc)[-400:]}")
            log(f"  {self.ns}: {fault.notes[-1]}")
        t_end = time.monotonic()
        restarts = 0
        converged: float | None = None
        last: Snapshot | None = None
        while time.monotonic() - t_end < CONVERGE_TIMEOUT_S:
            restarts += len(self.ops.keep_running())
            last = self.snap() or last
            if last is not None and last.converged(breaches=bool(self.sites.latency_sites)):
                converged = time.monotonic() - t_end
                break
            time.sleep(1.0)
        time.sleep(SETTLE_S)
        restarts += len(self.ops.keep_running())
        final = self.snap() or last
        row = {**self._counts(final, fault.target, delay, down, converged, restarts), "notes": fault.notes}
        self._cleanup()
        return row

    def _recorded(self) -> bool:
        snap = self.snap()
        if snap is None:
            return False
        slas_ok = all((s.get("status") or {}).get("agreementId") for s in snap.slas.values()) and len(snap.slas) == 3
        placed = all((snap.workloads.get(f"s{i}", {}).get("status") or {}).get("placements") for i in range(3))
        return slas_ok and placed

    def _causes(self, snap: Snapshot | None) -> None:
        """Latency at the sites of s0-s2; offline the site hosting most of a0-a4's replicas."""
        if snap is None:
            return
        def sites(names: list[str]) -> Counter[str]:
            return Counter(p.get("site", "") for n in names
                           for p in (snap.workloads.get(n, {}).get("status") or {}).get("placements") or [])
        self.sites.latency_sites = sorted(s for s in sites([f"s{i}" for i in range(3)]) if s)
        others = [s for s, _ in sites([f"a{i}" for i in range(5)]).most_common()
                  if s and s not in self.sites.latency_sites]
        self.sites.offline_site = others[0] if others else ""
        self.sites.apply()
        log(f"  {self.ns}: latency +40 ms at {', '.join(self.sites.latency_sites) or '-'}, "
            f"{self.sites.offline_site or 'no site'} offline")

    def _counts(self, snap: Snapshot | None, target: str, delay: float, down: float, converged: float | None,
                restarts: int) -> dict[str, Any]:
        row: dict[str, Any] = {"kind": self.kind, "round": self.index, "target": target,
                               "fault_at_s": round(delay, 2), "down_s": round(down, 2),
                               "converge_s": None if converged is None else round(converged, 2),
                               "operator_restarts": restarts, "latency_sites": self.sites.latency_sites,
                               "offline_site": self.sites.offline_site}
        if snap is None:
            return {**row, "error": "no read of the namespace"}
        try:
            chain = self.chain.check(snap.slas)
        except Exception as exc:  # the chain not answering is a finding, said in the row
            row["chain_error"] = f"{type(exc).__name__}: {exc}"[:300]
            chain = None
        details = {"double_placements": snap.double_placements(), "lost_workloads": snap.lost_workloads(),
                   "dead_node_replicas": snap.on_dead_nodes(), "pods_not_running": snap.not_running(),
                   "chain_duplicated": chain.duplicated if chain else [],
                   "chain_lost": chain.lost if chain else ["the chain could not be read"]}
        row.update({k: len(v) for k, v in details.items()})  # (pods_not_running: informative, no target)
        row["breaches"] = chain.breaches if chain else None
        row["moves"] = sum(int(((w.get("status") or {}).get("migrations")) or 0) for w in snap.workloads.values())
        row["waiting"] = [] if snap.converged(breaches=bool(self.sites.latency_sites)) else snap.waiting[:8]  # (what a timed-out round still waits for)
        row["details"] = {k: v[:8] for k, v in details.items() if v}
        log(f"  {self.ns}: converged {'-' if converged is None else f'{converged:.1f} s'}; "
            + ", ".join(f"{k} {row[k]}" for k in COUNTS) + f"; breaches {row['breaches']}, moves {row['moves']}, "
            f"operator restarts {restarts}" + (f"; waiting: {row['waiting']}" if row["waiting"] else ""))
        return row

    def _cleanup(self) -> None:
        try:
            self.sites.heal()
        except Exception as exc:
            log(f"  {self.ns}: healing the site faults: {type(exc).__name__}: {exc}")
        core = k8s.CoreV1Api(self.api)
        try:
            call(core.delete_namespace, self.ns)
        except KubeError:
            return

        def gone() -> bool:
            try:
                call(core.read_namespace, self.ns)
            except KubeNotFound:
                return True
            except KubeError:
                return False
            return False
        self.wait("namespace deletion", gone, 120)



def summarise(kind: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One kind's row: runs, the summed counts, convergence percentiles, and the targets."""
    conv = [r["converge_s"] for r in rows if r.get("converge_s") is not None]
    out: dict[str, Any] = {"kind": kind, "runs": len(rows), "converged": len(conv)}
    for key in COUNTS:
        out[key] = sum(int(r.get(key) or 0) for r in rows) + sum(1 for r in rows if key not in r)
    out["converge_p50_s"] = round(percentile(conv, 0.5), 2) if conv else None
    out["converge_p95_s"] = round(percentile(conv, 0.95), 2) if conv else None
    out["converge_max_s"] = max(conv) if conv else None
    out["pods_not_running"] = sum(int(r.get("pods_not_running") or 0) for r in rows)
    out["operator_restarts"] = sum(int(r.get("operator_restarts") or 0) for r in rows)
    out["breaches"] = sum(int(r.get("breaches") or 0) for r in rows)
    out["moves"] = sum(int(r.get("moves") or 0) for r in rows)
    p95 = out["converge_p95_s"]
    out["targets"] = {**{f"{k}==0": out[k] == 0 for k in COUNTS},
                      f"converge_p95<={TARGET_CONVERGE_P95_S:g}s": len(conv) == len(rows) and p95 is not None
                      and p95 <= TARGET_CONVERGE_P95_S}
    out["met"] = all(out["targets"].values())
    return out


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def report(data: dict[str, Any]) -> str:
    head = (f"{'fault kind':<18} {'runs':>4} {'conv':>4} {'double':>6} {'lost':>4} {'dead':>4} {'dup rec':>7} "
            f"{'lost rec':>8} {'not rdy':>7} {'p50 s':>6} {'p95 s':>6} {'max s':>6} {'restarts':>8} {'breaches':>8} {'moves':>5}  targets")
    lines = [head, "-" * len(head)]
    for r in data["kinds"]:
        lines.append(f"{r['kind']:<18} {r['runs']:>4} {r['converged']:>4} {r['double_placements']:>6} "
                     f"{r['lost_workloads']:>4} {r['dead_node_replicas']:>4} {r['chain_duplicated']:>7} "
                     f"{r['chain_lost']:>8} {r['pods_not_running']:>7} {_fmt(r['converge_p50_s']):>6} {_fmt(r['converge_p95_s']):>6} "
                     f"{_fmt(r['converge_max_s']):>6} {r['operator_restarts']:>8} {r['breaches']:>8} {r['moves']:>5}  "
                     + ("met" if r["met"] else "MISSED: " + ", ".join(k for k, v in r["targets"].items() if not v)))
    lines.append(f"machine: {describe(data['machine'])}")
    return "\n".join(lines)


def run(kinds: list[str], rounds: int, seed: int, state_dir: Path | None = None, keep: bool = False) -> dict[str, Any]:
    rng = random.Random(seed)
    state_root = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="edgeorch-bench-chaos-"))
    stack = Stack(state_root / "stack")
    ops: Operators | None = None
    chain: Chain | None = None
    try:
        with local_stack_only():
            state = stack.up(SCENARIO, log=log)
        ops = Operators(stack, state, LEASE)
        ops.start(1, wait="ready")
        ops.start(2)
        api = api_client(Path(state.kubeconfig))
        chain = Chain(state.chain_url)
        faults = Faults(state.exporter_url, Path(state.kubeconfig), SCENARIO)
        info = machine(api)
        raw: list[dict[str, Any]] = []
        for r in range(rounds):  # kinds interleaved: a slow drift of the machine hits them alike
            for kind in kinds:
                log(f"round {r} of {kind}")
                raw.append(Round(kind, r, rng, stack, ops, api, chain, faults).run())
        return {"kinds": [summarise(k, [x for x in raw if x["kind"] == k]) for k in kinds], "runs": raw,
                "settings": {"rounds": rounds, "seed": seed, "scenario": SCENARIO, "operators": 2,
                             "lease": {k.removeprefix("EDGEORCH_").lower(): float(v) for k, v in LEASE.items()},
                             "fault_delay_s": list(DELAY_S), "down_s": {**{k: list(DEFAULT_DOWN_S) for k in kinds},
                                                                        **{k: list(v) for k, v in DOWN_S.items()}},
                             "converge_timeout_s": CONVERGE_TIMEOUT_S, "settle_s": SETTLE_S,
                             "wave": "A: 3 with SLA (1 replica, <= 20 ms) + 5 plain; B: 8 plain (1-2 replicas)",
                             "site_faults": "+40 ms at the SLA workloads' sites; one site offline"},
                "target_converge_p95_s": TARGET_CONVERGE_P95_S, "machine": info}
    finally:
        if chain is not None:
            chain.close()
        if ops is not None:
            ops.close()
        stack.down(log=log)
        if not keep and not state_dir:
            shutil.rmtree(state_root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.chaos", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each fault kind")
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    ap.add_argument("--seed", type=int, default=24)
    ap.add_argument("--output", type=Path, default=RESULTS)
    ap.add_argument("--state-dir", type=Path, help="stack state directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the state directory (logs) afterwards")
    args = ap.parse_args(argv)
    data = run(list(args.kinds), max(1, args.rounds), args.seed, args.state_dir, args.keep)
    print(report(data))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=1) + "\n")
    log(f"wrote {args.output}")
    return 0 if all(k["met"] for k in data["kinds"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
