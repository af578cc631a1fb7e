"""Takeover benchmark: kill -9 of the leading operator process -> first decision by the new leader.

    python -m bench.takeover             # 10 trials
    python -m bench.takeover --quick     # 5 trials

One local stack (real kube-apiserver and etcd, kwok nodes of the barcelona city, Prometheus, the city's
exporter, anvil) and two operator processes (orchestrator.leader: one Lease, the deploy/ timings: lease
12 s, renew deadline 10 s, retry 1 s).  Each trial, once one process leads and the other has read the
Lease as a standby:

  t0          a monotonic clock on the client, just before SIGKILL to the leader's process group
              (no release of the Lease: a crash), then at once a new EdgeWorkload (1 replica, one
              radio cell, any site within 200 ms) is created
  lease_s     the Lease names the other process (polled every 0.1 s)
  ready_s     the new leader's /readyz answers 200 (its loops run)
  decision_s  the new EdgeWorkload's status says Placed: the new leader's first decision

The killed process is started again as the standby before the next trial, so the roles alternate.
Target (issue 24): decision p95 <= 15 s.  Writes bench/results/takeover.json: a JSON list of one row
(trials, p50/p95/min/max per step, the raw trials, settings, target, machine).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import trials
from bench.kubeload import local_stack_only
from bench.machine import describe, machine
from bench.stats import percentile
from devstack.localstack import Stack, StackState
from devstack.localstack.components import operator_name
from orchestrator.kube.errors import KubeNotFound
from orchestrator.kube.leases import Leases
from orchestrator.kube.sync import Applier, api_client, call, get_custom
from orchestrator.vocabulary import API_GROUP, API_VERSION, EDGEWORKLOADS

RESULTS = Path(__file__).resolve().parent / "results" / "takeover.json"
SCENARIO = "barcelona"
TARGET_P95_S = 15.0
POLL_S = 0.1
LEASE = {"EDGEORCH_LEASE_DURATION_S": "12", "EDGEORCH_LEASE_RENEW_DEADLINE_S": "10", "EDGEORCH_LEASE_RETRY_S": "1"}
STEPS = {"lease": "Lease taken by the standby", "ready": "new leader ready (/readyz)",
         "decision": "first decision (a new workload Placed)"}
NS = "default"
LEASE_NS = "edgeorch-system"  # where the local stack (and deploy/) keeps the operators' Lease


def log(msg: str) -> None:
    print(msg, flush=True)


def probe(state: StackState, instance: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(Stack.operator_url(state, instance, path), timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, {}
    except OSError:
        return 0, {}


def wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = check()
        if out:
            return out
        time.sleep(POLL_S)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def workload(name: str) -> dict[str, Any]:
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "EdgeWorkload",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": 1, "resources": {"cpu": "100m", "memory": "64Mi"},
                     "template": {"spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}},
                     "users": {"cells": [{"cell": "cell-sants-1", "share": 1.0}]}, "qos": {"maxLatencyMs": 200}}}


def phase(api: Any, name: str) -> str:
    try:
        return str((get_custom(api, API_GROUP, API_VERSION, EDGEWORKLOADS, NS, name).get("status") or {}).get("phase"))
    except KubeNotFound:
        return ""


def trial(i: int, stack: Stack, state: StackState, api: Any, leases: Leases) -> dict[str, Any]:
    leader = wait(lambda: next((n for n in (1, 2) if probe(state, n, "readyz")[0] == 200), 0), 60, "a leader")
    standby = 3 - leader
    wait(lambda: probe(state, standby, "healthz")[1].get("holder"), 30, "the standby to read the Lease")
    wanted = probe(state, standby, "healthz")[1]["identity"]
    name = f"takeover-{i}-{int(time.time()) % 100000}"
    applier = Applier(api)
    t0 = time.monotonic()
    stack.supervisor.kill(operator_name(leader))
    applier.apply(workload(name))
    marks: dict[str, float | None] = {"lease": None, "ready": None, "decision": None}
    deadline = t0 + 60
    while time.monotonic() < deadline and None in marks.values():
        now = time.monotonic() - t0
        if marks["lease"] is None:
            lease = leases.read("edgeorch-operator", 2)
            if lease and lease["spec"].get("holderIdentity") == wanted:
                marks["lease"] = now
        if marks["ready"] is None and probe(state, standby, "readyz")[0] == 200:
            marks["ready"] = now
        if marks["decision"] is None and phase(api, name) == "Placed":
            marks["decision"] = now
        time.sleep(POLL_S)
    took = {f"{k}_s": None if v is None else round(v, 3) for k, v in marks.items()}
    row = {"trial": i, "killed": operator_name(leader), "new_leader": operator_name(standby), **took}
    log(f"trial {i:>2}: killed {row['killed']:<10} lease {_fmt(took['lease_s'])} s, ready {_fmt(took['ready_s'])} s, "
        f"first decision {_fmt(took['decision_s'])} s")
    call(applier.dyn.resources.get(api_version=f"{API_GROUP}/{API_VERSION}", kind="EdgeWorkload").delete,
         name=name, namespace=NS)
    stack.start_operator(LEASE, instance=leader, wait="healthy")  # back, as the standby
    return row


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def summarise(raw: list[dict[str, Any]], info: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"system": "edgeorch", "trials": len(raw)}
    for key in STEPS:
        values = [r[f"{key}_s"] for r in raw if r[f"{key}_s"] is not None]
        row[f"{key}_completed"] = len(values)
        for q in (50, 95):
            row[f"{key}_p{q}_s"] = round(percentile(values, q / 100), 3) if values else None
        row[f"{key}_min_s"], row[f"{key}_max_s"] = (min(values), max(values)) if values else (None, None)
    p95 = row["decision_p95_s"]
    row["targets"] = {f"decision_p95<={TARGET_P95_S:g}s": p95 is not None and p95 <= TARGET_P95_S}
    row["settings"] = {"lease_duration_s": float(LEASE["EDGEORCH_LEASE_DURATION_S"]),  # what the operators ran with
                       "renew_deadline_s": float(LEASE["EDGEORCH_LEASE_RENEW_DEADLINE_S"]),
                       "retry_period_s": float(LEASE["EDGEORCH_LEASE_RETRY_S"]), "poll_s": POLL_S,
                       "operators": 2, "scenario": SCENARIO, "workload": "1 replica, cell-sants-1, maxLatencyMs 200"}
    row["runs"] = raw
    row["machine"] = info
    return row


def report(row: dict[str, Any]) -> str:
    head = f"{'measure':<42} {'trials':>6} {'done':>5} {'p50 s':>7} {'p95 s':>7} {'min s':>7} {'max s':>7}  target"
    lines = [head, "-" * len(head)]
    for key, label in STEPS.items():
        target = "-"
        if key == "decision":
            target = f"p95<={TARGET_P95_S:g} s " + ("met" if row["targets"][f"decision_p95<={TARGET_P95_S:g}s"] else "MISSED")
        lines.append(f"{label:<42} {row['trials']:>6} {row[f'{key}_completed']:>5} {_fmt(row[f'{key}_p50_s']):>7} "
                     f"{_fmt(row[f'{key}_p95_s']):>7} {_fmt(row[f'{key}_min_s']):>7} {_fmt(row[f'{key}_max_s']):>7}  "
                     f"{target}")
    st = row["settings"]
    lines.append(f"settings: {st['operators']} operator processes, lease {st['lease_duration_s']:g} s, renew deadline "
                 f"{st['renew_deadline_s']:g} s, retry {st['retry_period_s']:g} s; client poll {st['poll_s']} s")
    lines.append(f"machine: {describe(row['machine'])}")
    return "\n".join(lines)


def run(trials: int, state_dir: Path | None = None, keep: bool = False) -> dict[str, Any]:
    state_root = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="edgeorch-bench-takeover-"))
    stack = Stack(state_root / "stack")
    try:
        with local_stack_only():
            state = stack.up(SCENARIO, log=log)
        stack.start_operator(LEASE, instance=1)
        stack.start_operator(LEASE, instance=2, wait="healthy")
        api = api_client(Path(state.kubeconfig))
        leases = Leases(api, LEASE_NS)
        info = machine(api)
        raw = [trial(i, stack, state, api, leases) for i in range(trials)]
        return summarise(raw, info)
    finally:
        stack.down(log=log)
        if not keep and not state_dir:
            shutil.rmtree(state_root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = trials.parser("python -m bench.takeover", __doc__, RESULTS).parse_args(argv)
    row = run(trials.count(args), state_dir=args.state_dir, keep=args.keep)
    print(report(row))
    return trials.write(row, args.output, log, "decision")


if __name__ == "__main__":
    raise SystemExit(main())
