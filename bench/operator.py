"""Operator benchmark: EdgeWorkloads created to replica Pods bound, end to end, on 200 simulated nodes.

    python -m bench.operator            # 1,000 EdgeWorkloads
    python -m bench.operator --quick    # 300

One local stack (real etcd, kube-apiserver, controller-manager, kube-scheduler, kwok nodes,
Prometheus, the city's QoS exporter; no chain) runs a 200-node city scaled from city-500.  Rows, all
measured in the same run, each in a fresh namespace (deleted, Pods gone, before the next row):

  edgeorch              the operator with its default settings (batched CP-SAT placement; the
                        kube-scheduler binds the pinned Pods)
  edgeorch-direct-binding  the operator restarted with EDGEORCH_BINDING=direct (Pods created with
                        spec.nodeName set: no Binding, no Scheduled Event)
  edgeorch-no-batching  the operator restarted with EDGEORCH_MAX_BATCH=1 (one solve per workload)
  kube-scheduler        the same replicas as plain Pods (kwok and far-edge taints tolerated,
                        nodeSelector type=kwok) created directly: the stock scheduler on the same
                        control plane, with no latency or QoS input

Measurement, client side with a monotonic clock: every object is created as fast as a thread pool
can (t_create: just before the workload's first create request); a pod watch records when all of a
workload's replicas have spec.nodeName set (t_bound).  latency = t_bound - t_create; throughput =
bound workloads / (last t_bound - first t_create).  Workloads not bound within the timeout are
failures (`unbound`).  The operator is restarted and warmed up (a few workloads, not measured)
before each operator row.  Targets (from the issue): >= 100 workloads/s, p95 <= 5 s.

Writes bench/results/operator.json: a JSON list of rows (system, workloads, pods, nodes,
throughput_per_s, p50_s, p95_s, p99_s, max_s, unbound, ..., machine).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.kubeload import (
    COMPONENTS,
    GROUP,
    VERSION,
    BindWatch,
    CpuMeter,
    apiserver_requests,
    create,
    create_namespace,
    delete_namespace,
    local_stack_only,
    log,
    request,
)
from bench.machine import describe, machine
from bench.stats import percentile
from bench.workloadmix import BASELINE_LABEL, Workload, generate, scaled_city
from devstack.localstack import Stack
from orchestrator.kube.sync import api_client
from sim.scenario import load_scenario

RESULTS = Path(__file__).resolve().parent / "results" / "operator.json"
OPERATOR_LABEL = "edgeorch.io/workload"  # set by the operator on every replica Pod
TARGET_THROUGHPUT = 100.0  # workloads/s: kube-scheduler's end-to-end rate on a real cluster
TARGET_P95_S = 5.0
FULL, QUICK, MIN_QUICK = 1000, 300, 300
WARMUP = 5


@dataclass
class Row:
    system: str
    workloads: int
    pods: int
    nodes: int
    throughput_per_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float
    unbound: int
    failed_creates: int
    submit_per_s: float
    duration_s: float
    cleanup_s: float = 0.0
    settings: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)


def run_row(api: Any, system: str, ns: str, workloads: list[Workload], *, nodes: int, plain: bool,
            threads: int, timeout: float, pids: dict[str, int | None] | None = None) -> Row:
    """Create every workload from a thread pool and time each until all its replicas are bound."""
    create_namespace(api, ns)
    meter = CpuMeter(pids or {})
    expected = {w.name: w.replicas for w in workloads}
    watch = BindWatch(api, ns, BASELINE_LABEL if plain else OPERATOR_LABEL, expected).start()
    created: dict[str, float] = {}
    failed: list[str] = []
    cr_path = f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/edgeworkloads"
    pod_path = f"/api/v1/namespaces/{ns}/pods"

    def submit(w: Workload) -> None:
        t = time.monotonic()
        if plain:
            ok = all([create(api, pod_path, p) for p in w.plain_pods(ns)])
        else:
            ok = create(api, cr_path, w.edge_workload(ns))
        created[w.name] = t
        if not ok:
            failed.append(w.name)

    requests_before = apiserver_requests(api)
    meter.start()
    t0 = time.monotonic()
    with ThreadPoolExecutor(threads, thread_name_prefix="create") as pool:
        list(pool.map(submit, workloads))
    t_submitted = time.monotonic()
    log(f"{system}: {len(workloads)} workloads submitted in {t_submitted - t0:.1f} s; "
        f"{len(watch.bound_at)} bound so far")
    watch.done.wait(timeout)
    cpu = meter.stop()  # from the first create to the last bind (or the timeout)
    watch.stop()
    bound = {n: t for n, t in watch.bound_at.items() if n in created}
    lat = sorted(bound[n] - created[n] for n in bound)
    first = min(created.values())
    span = (max(bound.values()) - first) if bound else float("nan")
    notes: dict[str, Any] = {"watch_events": watch.events, "cpu": cpu}
    # not timed: the operator writes status (and Events) after creating the Pods; wait for it so the
    # namespace is not deleted under its feet, and keep what the status says about the solver
    report = {} if plain else _operator_report(api, cr_path, set(expected), min(created.values()))
    done = apiserver_requests(api) - requests_before  # every request of the row, the last status included
    notes["apiserver_requests_per_workload"] = {
        k: round(v / len(workloads), 2) for k, v in sorted(done.items(), key=lambda kv: -kv[1]) if v >= len(workloads) / 20}
    log(f"{system}: API requests per workload: " + ", ".join(
        f"{k} {v}" for k, v in notes["apiserver_requests_per_workload"].items()))
    if watch.errors:
        notes["watch_errors"] = watch.errors[:5]
    unbound = sorted(set(expected) - set(bound))
    if unbound:
        notes["unbound_examples"] = unbound[:10]
    notes.update(report)
    row = Row(
        system=system, workloads=len(workloads), pods=sum(expected.values()), nodes=nodes,
        throughput_per_s=round(len(bound) / span, 1) if bound and span > 0 else 0.0,
        p50_s=round(percentile(lat, 0.50), 3), p95_s=round(percentile(lat, 0.95), 3),
        p99_s=round(percentile(lat, 0.99), 3), max_s=round(lat[-1], 3) if lat else float("nan"),
        unbound=len(unbound), failed_creates=len(failed),
        submit_per_s=round(len(workloads) / max(t_submitted - t0, 1e-9), 1),
        duration_s=round(span, 2), notes=notes,
    )
    log(f"{system}: {len(bound)}/{len(workloads)} bound, {row.throughput_per_s}/s, p50 {row.p50_s} s, "
        f"p95 {row.p95_s} s")
    return row


def _operator_report(api: Any, path: str, names: set[str], first: float, timeout: float = 60) -> dict[str, Any]:
    """Wait (up to `timeout`) until every EdgeWorkload has a phase; then phase counts, a sample
    Unplaceable reason, and the solver calls as the statuses report them (workloads with an identical
    solver report, i.e. the same objective, bound and wall time, were solved in one batch)."""
    items: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            items = [w for w in json.loads(request(api, "GET", path, timeout=60).data)["items"]
                     if w["metadata"]["name"] in names]
        except Exception as exc:
            return {"status_error": str(exc)}
        if all((w.get("status") or {}).get("phase") for w in items) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    out: dict[str, Any] = {"all_status_written_s": round(time.monotonic() - first, 2)}
    phases: Counter[str] = Counter()
    batches: Counter[tuple[Any, ...]] = Counter()
    walls: dict[tuple[Any, ...], float] = {}
    for w in items:
        st = w.get("status") or {}
        phases[st.get("phase") or "None"] += 1
        sol = st.get("solver") or {}
        if sol:
            key = (sol.get("objective"), sol.get("bound"), sol.get("wallSeconds"), sol.get("status"))
            batches[key] += 1
            walls[key] = float(sol.get("wallSeconds") or 0)
        for c in st.get("conditions") or []:
            if c.get("type") == "Unplaceable" and c.get("status") == "True" and "unplaceable_reason" not in out:
                out["unplaceable_reason"] = f"{w['metadata']['name']}: {c.get('message')}"
    out["phases"] = dict(phases)
    if batches:
        sizes = sorted(batches.values())
        out["solver"] = {
            "batches": len(batches), "mean_batch": round(sum(sizes) / len(sizes), 1), "max_batch": sizes[-1],
            "solve_s_total": round(sum(walls.values()), 2), "solve_s_max": round(max(walls.values()), 3),
            "statuses": dict(Counter(k[3] for k in batches)),
        }
    return out


def warm_up(api: Any, ns: str, workloads: list[Workload], *, plain: bool) -> None:
    """A few workloads through the whole path before timing (operator caches, Prometheus, watches)."""
    row = run_row(api, f"warm-up ({ns})", ns, workloads, nodes=0, plain=plain, threads=4, timeout=90)
    if row.unbound:
        raise RuntimeError(f"warm-up in {ns}: {row.unbound} of {len(workloads)} workloads never bound "
                           f"({row.notes}); see the operator log")
    delete_namespace(api, ns)


# -- the run ------------------------------------------------------------------------------------------
SYSTEMS = ("edgeorch", "edgeorch-direct-binding", "edgeorch-no-batching", "kube-scheduler")
OPERATOR_ENV = {"edgeorch": {}, "edgeorch-direct-binding": {"EDGEORCH_BINDING": "direct"},
                "edgeorch-no-batching": {"EDGEORCH_MAX_BATCH": "1"}}


def run(count: int, *, nodes: int = 200, seed: int = 1, threads: int = 16, timeout: float | None = None,
        state_dir: Path | None = None, keep: bool = False, systems: tuple[str, ...] = SYSTEMS,
        operator_env: dict[str, str] | None = None) -> list[Row]:
    state = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="edgeorch-bench-operator-"))
    city_data = scaled_city(load_scenario("city-500"), nodes)
    city_file = state / "city.yaml"
    state.mkdir(parents=True, exist_ok=True)
    city_file.write_text(yaml.safe_dump(city_data, sort_keys=False))
    city = load_scenario(city_file)
    workloads = generate(city, count, seed)
    warm = generate(city, WARMUP, seed + 1000)
    wait_s = timeout if timeout is not None else 60 + 0.1 * count
    stack = Stack(state / "stack")
    rows: list[Row] = []
    try:
        with local_stack_only():
            t0 = time.monotonic()
            st = stack.up(str(city_file), chain=False, log=log)
        if st.mode != "local":
            raise RuntimeError("bench.operator needs its own local stack")
        log(f"stack up in {time.monotonic() - t0:.1f} s ({sum(s.nodes for s in city.sites)} nodes); "
            f"state in {stack.dir}")
        api = api_client(Path(st.kubeconfig), pool=max(32, threads * 2))
        try:
            info = machine(api, packages=("kopf", "ortools", "kubernetes"))
            log(describe(info))
            for system in systems:
                plain = system == "kube-scheduler"
                settings: dict[str, str] = {}
                if not plain:
                    settings = {**OPERATOR_ENV[system], **(operator_env or {})}
                    stack.start_operator(extra_env=settings)
                try:
                    warm_up(api, f"bench-warmup-{system}", warm, plain=plain)
                    ns = f"bench-{system}"
                    pids = {c: stack.supervisor.pid(c) for c in COMPONENTS}
                    row = run_row(api, system, ns, workloads, nodes=nodes, plain=plain, threads=threads,
                                  timeout=wait_s, pids=pids)
                    row.cleanup_s = round(delete_namespace(api, ns), 1)
                finally:
                    if not plain:
                        stack.stop_operator()
                row.settings, row.machine = settings, info
                rows.append(row)
        finally:
            api.close()
    finally:
        if keep:
            log(f"keeping the stack's logs in {stack.dir / 'logs'}")
        stack.down(log=log)
        if not keep and not state_dir:
            shutil.rmtree(state, ignore_errors=True)
    return rows


def _fmt(x: float) -> str:
    return "-" if x != x else f"{x:g}"  # NaN: nothing bound


def report(rows: list[Row]) -> str:
    head = ("system", "workloads", "pods", "nodes", "throughput/s", "p50 s", "p95 s", "p99 s", "max s",
            "unbound", "submit/s")
    body = [(r.system, str(r.workloads), str(r.pods), str(r.nodes), _fmt(r.throughput_per_s), _fmt(r.p50_s),
             _fmt(r.p95_s), _fmt(r.p99_s), _fmt(r.max_s), str(r.unbound), _fmt(r.submit_per_s)) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
             for cells in (head, *body)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    by = {r.system: r for r in rows}
    out = ["\n".join(lines), ""]
    for r in rows:
        cpu = r.notes.get("cpu") or {}
        if cpu.get("cpu_s"):
            used = ", ".join(f"{n} {v:g}" for n, v in sorted(cpu["cpu_s"].items(), key=lambda kv: -kv[1]) if v)
            out.append(f"{r.system}: CPU seconds over {cpu['wall_s']} s wall: {used} (load {cpu['loadavg_1m']})")
    for r in rows:
        sol = r.notes.get("solver")
        if sol:
            out.append(f"{r.system}: {sol['batches']} solver batches (mean {sol['mean_batch']}, max "
                       f"{sol['max_batch']} workloads), solver wall time {sol['solve_s_total']} s in total "
                       f"(longest {sol['solve_s_max']} s, {sol['statuses']}); every status written "
                       f"{r.notes.get('all_status_written_s')} s after the first create; phases {r.notes.get('phases')}")
    if rows:
        out.append(f"machine: {describe(rows[0].machine)}")
    ours = by.get("edgeorch")

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b and a == a and b == b else "n/a"

    if ours and "kube-scheduler" in by:
        ks = by["kube-scheduler"]
        out.append(f"edgeorch / kube-scheduler: throughput {ratio(ours.throughput_per_s, ks.throughput_per_s)}, "
                   f"p50 {ratio(ours.p50_s, ks.p50_s)}, p95 {ratio(ours.p95_s, ks.p95_s)}")
    if ours and "edgeorch-direct-binding" in by:
        db = by["edgeorch-direct-binding"]
        out.append(f"direct binding / scheduler binding: throughput {ratio(db.throughput_per_s, ours.throughput_per_s)}, "
                   f"p95 {ratio(ours.p95_s, db.p95_s)} lower")
    if ours and "edgeorch-no-batching" in by:
        nb = by["edgeorch-no-batching"]
        out.append(f"batching / no batching: throughput {ratio(ours.throughput_per_s, nb.throughput_per_s)}, "
                   f"p95 {ratio(nb.p95_s, ours.p95_s)} lower")
    if ours:
        tp, p95 = ours.throughput_per_s, ours.p95_s
        out.append(f"target throughput >= {TARGET_THROUGHPUT:g}/s: "
                   + ("met" if tp >= TARGET_THROUGHPUT else f"MISSED ({tp:g}/s, {tp / TARGET_THROUGHPUT:.0%} of target)")
                   + f"; target p95 <= {TARGET_P95_S:g} s: "
                   + ("met" if p95 <= TARGET_P95_S else f"MISSED ({p95:g} s, {p95 / TARGET_P95_S:.1f}x the bound)"))
    return "\n".join(out)


def _jsonable(x: Any) -> Any:
    """NaN (nothing bound) as null, so the file stays strict JSON."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_jsonable(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.operator", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"{QUICK} workloads instead of {FULL}")
    ap.add_argument("--workloads", type=int, help="how many EdgeWorkloads (overrides --quick; for smoke tests)")
    ap.add_argument("--nodes", type=int, default=200, help="simulated nodes (city-500 scaled; default 200)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=16, help="client threads creating objects")
    ap.add_argument("--timeout", type=float, help="seconds to wait for binding after creating (default 60 + N/10)")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {','.join(SYSTEMS)}")
    ap.add_argument("--operator-env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra operator setting for the edgeorch rows (repeatable), e.g. EDGEORCH_SOLVE_WORKERS=1")
    ap.add_argument("--output", type=Path, default=RESULTS)
    ap.add_argument("--state-dir", type=Path, help="stack state directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the state directory (logs/operator.log) afterwards")
    args = ap.parse_args(argv)
    count = args.workloads or (QUICK if args.quick else FULL)
    if args.quick and not args.workloads and count < MIN_QUICK:
        ap.error(f"--quick runs at least {MIN_QUICK} workloads")
    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    if unknown := set(systems) - set(SYSTEMS):
        ap.error(f"unknown system(s): {', '.join(sorted(unknown))}")
    extra = dict(kv.split("=", 1) for kv in args.operator_env if "=" in kv)
    if bad := [kv for kv in args.operator_env if "=" not in kv or not kv.startswith("EDGEORCH_")]:
        ap.error(f"--operator-env wants EDGEORCH_NAME=VALUE, got {', '.join(bad)}")
    rows = run(count, nodes=args.nodes, seed=args.seed, threads=args.threads, timeout=args.timeout,
               state_dir=args.state_dir, keep=args.keep, systems=systems, operator_env=extra)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps([_jsonable(r.__dict__) for r in rows], indent=2) + "\n")
    print(report(rows))
    print(f"wrote {args.output}")
    return 1 if any(r.unbound or r.failed_creates for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
