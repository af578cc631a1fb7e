"""Rollout benchmark: N workloads x 4 replicas rolled to a new image, EdgeWorkloads against
Deployments, on the same local stack in the same run (#19).

    python -m bench.rollout               # 100 workloads x 4 replicas, 3 interleaved rounds
    python -m bench.rollout --quick       # 40 workloads, 2 rounds

One local stack (real etcd, kube-apiserver, controller-manager, kube-scheduler, kwok nodes,
Prometheus, the QoS exporter; no chain) runs a 200-node city scaled from city-500.  Each round runs
both rows, each in a fresh namespace (deleted before the next):

  edgeorch      N EdgeWorkloads (default strategy: maxSurge 25 %, maxUnavailable 25 %), placed by
                the operator and Ready at image :1; then every template's image is patched to :2
  deployment    the same replicas as N apps/v1 Deployments (the same 25 % / 25 % defaults),
                scheduled by the kube-scheduler, Ready at :1; then every image is patched to :2

Measurement, client side with a monotonic clock: a Pod watch follows each workload's Pods; a
workload's rollout is done when exactly its 4 replicas are live, all run image :2 and all are Ready.
time = done - its patch; makespan = last done - first patch.  The watch also records the fewest
Ready replicas any workload had during the rollout (the disruption budget allows 3 of 4).  Rows
alternate (edgeorch, deployment, edgeorch, ...) so that the shared machine's noise hits both; the
table gives medians over rounds and their spread, and the ratio edgeorch / deployment.

Writes bench/results/rollout.json: {"rounds": [rows...], "summary": {...}, "machine": {...}}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from bench.kubeload import (
    COMPONENTS,
    GROUP,
    VERSION,
    CpuMeter,
    create,
    create_namespace,
    delete_namespace,
    local_stack_only,
    log,
    request,
)
from bench.machine import describe, machine
from bench.rollout_watch import RolloutWatch
from bench.stats import percentile
from bench.workloadmix import Workload, generate, scaled_city
from devstack.localstack import Stack
from orchestrator.kube.sync import api_client
from orchestrator.vocabulary import WORKLOAD_LABEL
from sim.scenario import load_scenario

RESULTS = Path(__file__).resolve().parent / "results" / "rollout.json"
REPLICAS = 4
FULL, QUICK = 100, 40
SYSTEMS = ("edgeorch", "deployment")
APP_LABEL = "app"  # the Deployments' selector (and a label of the EdgeWorkloads' Pods too)


@dataclass
class Row:
    system: str
    round: int
    workloads: int
    replicas: int
    makespan_s: float
    p50_s: float
    p95_s: float
    max_s: float
    unfinished: int
    min_ready: int  # the fewest Ready replicas of any workload during the rollout
    cpu: dict[str, Any]
    notes: dict[str, Any]


def _image(name: str, version: int) -> str:
    return f"registry.example/{name}:{version}"


def deployment(w: Workload, ns: str) -> dict[str, Any]:
    """The workload's replicas as an apps/v1 Deployment (default RollingUpdate strategy)."""
    pod = w.plain_pods(ns)[0]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": w.name, "namespace": ns},
        "spec": {
            "replicas": w.replicas, "selector": {"matchLabels": {APP_LABEL: w.name}},
            "template": {"metadata": {"labels": {APP_LABEL: w.name}}, "spec": pod["spec"]},
        },
    }


def _paths(system: str, ns: str) -> tuple[str, str]:
    if system == "edgeorch":
        return f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/edgeworkloads", "application/merge-patch+json"
    return f"/apis/apps/v1/namespaces/{ns}/deployments", "application/strategic-merge-patch+json"


def _patch(api: Any, path: str, content_type: str, body: dict[str, Any], attempts: int = 6) -> bool:
    for attempt in range(attempts):
        try:
            m, url, headers, data, post = api.param_serialize(
                "PATCH", path, body=body, auth_settings=["BearerToken"],
                header_params={"Content-Type": content_type, "Accept": "application/json"})
            resp = api.call_api(m, url, header_params=headers, body=data, post_params=post, _request_timeout=30)
            resp.read()
            code = int(resp.status)
        except Exception:
            code = 0
        if 200 <= code < 300:
            return True
        if code and code not in (409, 429, 500, 503, 504):
            log(f"patch {path}: HTTP {code}")
            return False
        time.sleep(0.05 * 2 ** attempt)
    return False


def run_row(api: Any, system: str, rnd: int, ns: str, workloads: list[Workload], *, threads: int, timeout: float,
            pids: dict[str, int | None]) -> Row:
    """Create the workloads, wait until all run :1, then patch every image to :2 and time the rollouts."""
    create_namespace(api, ns)
    path, content_type = _paths(system, ns)
    label = WORKLOAD_LABEL if system == "edgeorch" else APP_LABEL
    watch = RolloutWatch(api, ns, label, {w.name: w.replicas for w in workloads}).start()
    with ThreadPoolExecutor(threads, thread_name_prefix="create") as pool:
        made = list(pool.map(lambda w: create(api, path, w.edge_workload(ns) if system == "edgeorch"
                                                else deployment(w, ns)), workloads))
    if not all(made):
        raise RuntimeError(f"{system}: {made.count(False)} workloads not created")
    watch.wait_settled(_image, 1, timeout)
    log(f"{system} round {rnd}: {len(workloads)} x {REPLICAS} replicas Ready at :1; rolling to :2")
    meter = CpuMeter(pids).start()

    def roll(w: Workload) -> None:
        template = {"spec": {"containers": [{"name": "app", "image": _image(w.name, 2)}]}}
        watch.patched(w.name, time.monotonic())
        if not _patch(api, f"{path}/{w.name}", content_type, {"spec": {"template": template}}):
            raise RuntimeError(f"{system}: patching {w.name} failed")

    watch.expect(_image, 2)
    with ThreadPoolExecutor(threads, thread_name_prefix="patch") as pool:
        list(pool.map(roll, workloads))
    watch.done.wait(timeout)
    cpu = meter.stop()
    watch.stop()
    times = sorted(watch.finished[n] - watch.patched_at[n] for n in watch.finished)
    span = max(watch.finished.values()) - min(watch.patched_at.values()) if watch.finished else float("nan")
    row = Row(system=system, round=rnd, workloads=len(workloads), replicas=REPLICAS, makespan_s=round(span, 3),
              p50_s=round(percentile(times, 0.5), 3), p95_s=round(percentile(times, 0.95), 3),
              max_s=round(times[-1], 3) if times else float("nan"), unfinished=len(workloads) - len(times),
              min_ready=watch.min_ready, cpu=cpu,
              notes={"watch_errors": len(watch.errors), "first_errors": watch.errors[:3],
                     "fewest_ready_of": watch.min_ready_of, "its_trace": watch.trace.get(watch.min_ready_of, [])[:40],
                     "its_events": _events(api, ns, watch.min_ready_of) if watch.min_ready < REPLICAS - 1 else []})
    log(f"{system} round {rnd}: {len(times)}/{len(workloads)} rolled, makespan {row.makespan_s} s, "
        f"p50 {row.p50_s} s, p95 {row.p95_s} s, fewest Ready {row.min_ready}")
    return row


def _events(api: Any, ns: str, name: str | None) -> list[str]:
    """The Events of the workload (or Deployment) that fell below its budget and of its Pods, oldest
    first: why its replicas went (the row's notes)."""
    if not name:
        return []
    try:
        items = json.loads(request(api, "GET", f"/api/v1/namespaces/{ns}/events", timeout=60).data).get("items") or []
    except Exception as exc:  # the notes are for reading; a failed read says so
        return [f"events unreadable: {exc}"]
    mine = [e for e in items if (e.get("involvedObject") or {}).get("name", "").startswith(name)]
    mine.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return [f"{e.get('lastTimestamp') or e.get('eventTime')} {e['involvedObject']['name']} {e.get('reason')}: "
            f"{(e.get('message') or '')[:200]} (x{e.get('count') or 1})" for e in mine][:60]


def run(count: int, rounds: int, *, nodes: int = 200, seed: int = 7, threads: int = 16, timeout: float = 300,
        state_dir: Path | None = None, keep: bool = False) -> tuple[list[Row], dict[str, Any]]:
    state = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="edgeorch-bench-rollout-"))
    state.mkdir(parents=True, exist_ok=True)
    city_file = state / "city.yaml"
    city_file.write_text(yaml.safe_dump(scaled_city(load_scenario("city-500"), nodes), sort_keys=False))
    workloads = [replace(w, replicas=REPLICAS) for w in generate(load_scenario(city_file), count, seed)]
    stack = Stack(state / "stack")
    rows: list[Row] = []
    try:
        with local_stack_only():
            st = stack.up(str(city_file), chain=False, log=log)
        if st.mode != "local":
            raise RuntimeError("bench.rollout needs its own local stack")
        api = api_client(Path(st.kubeconfig), pool=max(32, threads * 2))
        try:
            info = machine(api, packages=("kopf", "ortools", "kubernetes"))
            log(describe(info))
            for rnd in range(1, rounds + 1):
                for system in SYSTEMS if rnd % 2 else reversed(SYSTEMS):
                    if system == "edgeorch":
                        stack.start_operator()
                    try:
                        ns = f"roll-{system}-{rnd}"
                        rows.append(run_row(api, system, rnd, ns, workloads, threads=threads, timeout=timeout,
                                            pids={c: stack.supervisor.pid(c) for c in COMPONENTS}))
                        delete_namespace(api, ns)
                    finally:
                        if system == "edgeorch":
                            stack.stop_operator()
        finally:
            api.close()
    finally:
        stack.down(log=log)
        if not keep and not state_dir:
            shutil.rmtree(state, ignore_errors=True)
    return rows, info


def summary(rows: list[Row]) -> dict[str, Any]:
    """Per system: median and spread (min-max) of makespan and p95 over rounds; ratios edgeorch / deployment."""
    out: dict[str, Any] = {}
    for system in SYSTEMS:
        mine = [r for r in rows if r.system == system]
        if not mine:
            continue
        out[system] = {k: {"median": round(percentile(sorted(getattr(r, k) for r in mine), 0.5), 3),
                           "min": min(getattr(r, k) for r in mine), "max": max(getattr(r, k) for r in mine)}
                       for k in ("makespan_s", "p50_s", "p95_s")}
        out[system]["min_ready"] = min(r.min_ready for r in mine)
        out[system]["unfinished"] = sum(r.unfinished for r in mine)
    if len(out) == 2:
        out["ratio"] = {k: round(out["edgeorch"][k]["median"] / out["deployment"][k]["median"], 2)
                        for k in ("makespan_s", "p50_s", "p95_s") if out["deployment"][k]["median"]}
    return out


def report(rows: list[Row], summ: dict[str, Any]) -> str:
    head = ("system", "round", "workloads", "replicas", "makespan s", "p50 s", "p95 s", "max s", "unfinished",
            "fewest Ready")
    body = [(r.system, str(r.round), str(r.workloads), str(r.replicas), f"{r.makespan_s:g}", f"{r.p50_s:g}",
             f"{r.p95_s:g}", f"{r.max_s:g}", str(r.unfinished), f"{r.min_ready} of {r.replicas}") for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)) for line in (head, *body)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for system in SYSTEMS:
        if s := summ.get(system):
            lines.append(f"{system}: makespan median {s['makespan_s']['median']} s (spread {s['makespan_s']['min']}-"
                         f"{s['makespan_s']['max']}), p95 median {s['p95_s']['median']} s; fewest Ready {s['min_ready']}")
    if ratio := summ.get("ratio"):
        lines.append("edgeorch / deployment (medians): " + ", ".join(f"{k} {v}x" for k, v in ratio.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.rollout", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"{QUICK} workloads and 2 rounds")
    ap.add_argument("--workloads", type=int, help=f"how many workloads (default {FULL}; {QUICK} with --quick)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 3; 2 with --quick)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait for a row's rollouts")
    ap.add_argument("--output", type=Path, default=RESULTS)
    ap.add_argument("--keep", action="store_true", help="keep the stack's state directory (logs) afterwards")
    args = ap.parse_args(argv)
    count = args.workloads or (QUICK if args.quick else FULL)
    rounds = args.rounds or (2 if args.quick else 3)
    rows, info = run(count, rounds, timeout=args.timeout, keep=args.keep)
    summ = summary(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"rounds": [asdict(r) for r in rows], "summary": summ, "machine": info},
                                      indent=2, default=str) + "\n")
    print(report(rows, summ))
    print(describe(info))
    print(f"wrote {args.output}")
    return 1 if any(r.unfinished or r.min_ready < REPLICAS - 1 for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
