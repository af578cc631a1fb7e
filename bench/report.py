"""docs/benchmarks.md, generated from bench/results/*.json so that it cannot drift from them.

    python -m bench.report              # rewrite docs/benchmarks.md
    python -m bench.report --check      # exit 1 when docs/benchmarks.md is not what the JSON says

Every benchmark module writes its JSON to bench/results/ (with the machine it ran on); this module only
reads them and prints tables: the machine, the medians and spread the JSON holds, and the ratios to the
baselines measured in the same run.  Run it after a benchmark, and commit the JSON and the page together.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.machine import describe

RESULTS = Path(__file__).resolve().parent / "results"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

Row = dict[str, Any]


def _num(value: Any, fmt: str = ",.1f") -> str:
    return "-" if value is None else format(value, fmt)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _table(head: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    head = list(head)
    return [f"| {' | '.join(head)} |", "|" + "---|" * len(head),
            *(f"| {' | '.join(str(c) for c in row)} |" for row in rows)]


def _machines(rows: Iterable[Row]) -> list[str]:
    """One 'Machine:' line per distinct machine of a result file (a list of rows each holds one)."""
    seen = list(dict.fromkeys(describe(r["machine"]) for r in rows if r.get("machine")))
    return [f"Machine: {m}." for m in seen]


def _spread(runs: list[float] | None) -> str:
    if not runs:
        return "-"
    return f"{statistics.median(runs):.2f} s ({min(runs):.2f}-{max(runs):.2f}, {len(runs)} runs)"


# -- one section per result file -------------------------------------------------------------------------

def placement(data: dict[str, Any]) -> list[str]:
    out = ["## Placement: `bench.placement`", "",
           "CP-SAT (`cpsat`, edgeorch's solver) against the baselines on the same seeded instances, cold "
           "(nothing placed yet) and churn (re-placement from our cold solution after the users of 5 % of the "
           "workloads moved cells and the busiest MEC site degraded). ratio = cpsat objective / best baseline "
           "objective (< 1: better); gap = distance to the proven bound; wall: median of the runs (min-max).", "", *_machines([data]), ""]
    rows = data["rows"]
    out += _table(
        ["workloads x nodes", "scenario", "solver", "status", "objective", "gap", "wall", "limit", "unplaced",
         "migrations", "ratio"],
        ([f"{r['workloads']:,} x {r['nodes']:,}", r["scenario"], r["solver"], r["status"], _num(r["objective"]),
          _pct(r["gap"]), _spread(r.get("wall_s_runs")) if "wall_s_runs" in r else f"{r['wall_s']:.3f} s",
          f"{r['time_limit_s']:g} s", r["unplaced"], r["migrations"], _num(r.get("ratio_to_best_baseline"), ".3g")]
         for r in rows))
    out += ["", "Targets (the checks `bench.placement` makes):", "",
            *_table(["workloads", "scenario", "checks"],
                    ([f"{t['workloads']:,}", t["scenario"],
                      ", ".join(f"`{k}` {'met' if v else '**missed**'}" for k, v in t.items()
                                if k not in ("workloads", "scenario"))] for t in data.get("targets", [])))]
    return out


def seeds(data: dict[str, Any]) -> list[str]:
    out = ["## Many seeds of small and tight instances: `bench.seeds`", "",
           "Per family, every solver over the same instances: the objective sum (penalties for left-out "
           "workloads included), how many instances leave a placeable workload out, and the solve's wall time "
           "as a share of its limit.", "", *_machines([data]), ""]
    out += _table(
        ["family", "solver", "instances", "limit", "objective sum", "x cpsat", "leaving one out", "wall share mean",
         "wall share max"],
        ([r["family"], r["solver"], r["instances"], f"{r['time_limit_s']:g} s", _num(r["objective_sum"]),
          _num(r["objective_vs_cpsat"], ".2f"), r["instances_leaving_placeable_out"], _num(r["wall_share_mean"], ".2f"),
          _num(r["wall_share_max"], ".2f")] for r in data["rows"]))
    return out


def reference(rows: list[Row]) -> list[str]:
    out = ["## Exact reference: `bench.reference`", "",
           "The same `bench.placement` instance solved exactly by SCIP (an independent MIP of the model), "
           "next to ours: how far our solution is above the proven optimum, and our bound below it.", "",
           *_machines(rows), ""]
    out += _table(
        ["solver", "workloads x nodes", "status", "objective", "bound", "wall", "solution above optimum",
         "bound below optimum"],
        ([r["solver"], f"{r['workloads']} x {r['nodes']}", r["status"], _num(r["objective"], ".3f"),
          _num(r["bound"], ".3f"), f"{r['wall_s']:.2f} s", _pct(r["above_reference_solution"]),
          _pct(r["bound_below_reference_solution"])] for r in rows))
    return out


def patterns(rows: list[Row]) -> list[str]:
    out = ["## Pattern bound: `bench.patterns`", "",
           "The Dantzig-Wolfe (pattern) bound of the same instance by column generation, against our solution "
           "and LP bound.", "", *_machines(rows), ""]
    out += _table(
        ["solver", "workloads x nodes", "objective", "bound", "wall", "notes"],
        ([r["solver"], f"{r['workloads']} x {r['nodes']}", _num(r.get("objective"), ".3f"), _num(r["bound"], ".3f"),
          f"{r['wall_s']:.2f} s",
          (f"gap {_pct(r['gap'])}, {_pct(r['gap_to_pattern_bound'])} above the pattern bound" if "gap" in r else
           f"{r.get('iterations')} iterations, {r.get('columns')} columns, "
           f"{'converged' if r.get('converged') else 'not converged'}, "
           f"{_pct(r.get('above_our_bound'))} above our bound")] for r in rows))
    return out


def operator(rows: list[Row], name: str) -> list[str]:
    size = rows[0]["workloads"]
    kube = next((r for r in rows if r["system"] == "kube-scheduler"), None)
    out = [f"## Operator throughput, {size:,} EdgeWorkloads: `bench.operator` ({name})", "",
           f"{size:,} EdgeWorkloads created at once on {rows[0]['nodes']} simulated nodes, until every replica "
           "Pod is bound; latency from create to bound. Baseline: the same Pods as bare Pods for the "
           "kube-scheduler, on the same stack in the same run.", "", *_machines(rows), ""]
    out += _table(
        ["system", "settings", "workloads/s", "x kube-scheduler", "p50", "p95", "p99", "max", "unbound",
         "solver batches (mean, max)"],
        ([r["system"], ", ".join(f"`{k}={v}`" for k, v in (r.get("settings") or {}).items()) or "-",
          r["throughput_per_s"], _num(r["throughput_per_s"] / kube["throughput_per_s"], ".2f") if kube else "-",
          f"{r['p50_s']:.2f} s", f"{r['p95_s']:.2f} s", f"{r['p99_s']:.2f} s", f"{r['max_s']:.2f} s", r["unbound"],
          _batches(r)] for r in rows))
    out += ["", "CPU seconds per component over the run, and API server requests per workload:", ""]
    out += _table(
        ["system", "CPU (wall)", "requests per workload"],
        ([r["system"],
          ", ".join(f"{k} {v}" for k, v in r["notes"]["cpu"]["cpu_s"].items()) + f" ({r['notes']['cpu']['wall_s']} s)",
          ", ".join(f"{k} {v}" for k, v in r["notes"]["apiserver_requests_per_workload"].items())]
         for r in rows if r.get("notes", {}).get("cpu")))
    return out


def _batches(r: Row) -> str:
    s = (r.get("notes") or {}).get("solver")
    return f"{s['batches']} ({s['mean_batch']}, {s['max_batch']})" if s else "-"


def _closed_loop(rows: list[Row], heading: str, intro: str, steps: tuple[tuple[str, str], ...]) -> list[str]:
    """A fault-to-reaction benchmark's section: per step (label, key) completed, p50, p95, max."""
    out = [heading, "", intro, "", *_machines(rows), ""]
    for r in rows:
        out += _table(
            ["step", "completed", "p50", "p95", "max"],
            ([step, f"{r[f'{key}_completed']} of {r['trials']}", f"{r[f'{key}_p50_s']:.2f} s",
              f"{r[f'{key}_p95_s']:.2f} s", f"{r[f'{key}_max_s']:.2f} s"]
             for step, key in steps if r[f"{key}_completed"]))
        out += ["", "Targets: " + ", ".join(f"`{k}` {'met' if v else '**missed**'}" for k, v in r["targets"].items())
                + ". References: " + ", ".join(f"{k} {v}" for k, v in r["references"].items()) + ".",
                "", "Settings: " + ", ".join(f"{k} {v}" for k, v in r["settings"].items()) + "."]
    return out


def qos(rows: list[Row]) -> list[str]:
    return _closed_loop(
        rows, "## Closed loop: `bench.qos`",
        "A latency fault at the site serving an SLA-covered workload: time to the breach on chain, to the "
        "new placement bound, and to the fail-back after healing (nearest-rank percentiles over the trials).",
        (("fault to breach on chain", "breach"), ("fault to new placement", "replace"), ("heal to fail-back", "failback")))


def qos_guard(rows: list[Row]) -> list[str]:
    return _closed_loop(
        rows, "## A workload's own QoS bound: `bench.qos_guard`",
        "A latency fault at the site serving a workload with no SLA (`qos.maxLatencyMs` 8): time until its status "
        "says QoSDegraded (or names the QoS guard's offload), to the new placement bound, and to the fail-back "
        "after healing (the guard waits for the better placement to hold 10 s; nearest-rank percentiles). A workload "
        "whose home is not at least 2 ms and 20 % better than where it went stays there (cell-sant-andreu-1: "
        "mec-sagrera 3.95 ms, mec-22at 4.54 ms), so not every trial fails back.",
        (("fault to QoSDegraded", "degraded"), ("fault to new placement", "replace"), ("heal to fail-back", "failback")))


def elasticity(rows: list[Row]) -> list[str]:
    return _closed_loop(
        rows, "## SLA-driven elasticity: `bench.elasticity`",
        "A latency fault at the site of an SLA-covered workload whose CPU use is high (90 % of its 500m request): time "
        "to the breach on chain, to both replicas resized to 600m and Ready (from the fault and from the breach), and "
        "from the heal to the step back down (3 s quiet period included; nearest-rank percentiles). Baseline in the "
        "same run: the agreement deleted, the user patches spec.resources.cpu to 600m (the rollout alone).",
        (("fault to breach on chain", "breach"), ("fault to resized replicas Ready", "resize"),
         ("breach to resized replicas Ready", "breach_to_resize"), ("heal to stepped down Ready", "stepdown"),
         ("baseline: spec patched to resized Ready", "manual")))


def takeover(rows: list[Row]) -> list[str]:
    out = ["## High availability: `bench.takeover`", "",
           "Two operator processes, one Lease (`orchestrator.leader`; the timings of the run are under its table). kill -9 of the leader, then at once a new EdgeWorkload: time until the Lease names "
           "the standby, until its `/readyz` answers, and until the new workload is Placed (the new leader's first "
           "decision). The killed process comes back as the standby, so the roles alternate. The floor is the lease "
           "duration: a standby may not take the Lease sooner (nearest-rank percentiles; min-max is the spread).",
           "", *_machines(rows), ""]
    for r in rows:
        out += _table(
            ["step", "completed", "p50", "p95", "min-max"],
            ([label, f"{r[f'{key}_completed']} of {r['trials']}", f"{r[f'{key}_p50_s']:.2f} s",
              f"{r[f'{key}_p95_s']:.2f} s", f"{r[f'{key}_min_s']:.2f}-{r[f'{key}_max_s']:.2f} s"]
             for label, key in (("kill to Lease taken", "lease"), ("kill to new leader ready", "ready"),
                                ("kill to first decision", "decision")) if r[f"{key}_completed"]))
        out += ["", "Targets: " + ", ".join(f"`{k}` {'met' if v else '**missed**'}" for k, v in r["targets"].items())
                + ".", "", "Settings: " + ", ".join(f"{k} {v}" for k, v in r["settings"].items()) + "."]
    return out


def chaos(data: dict[str, Any]) -> list[str]:
    st = data["settings"]
    out = ["## Chaos with counts: `bench.chaos`", "",
           f"Two operator processes (one Lease), each behind a loopback proxy to the API server. Per round, in its own "
           f"namespace: a wave of EdgeWorkloads ({st['wave']}), then {st['site_faults']} (breaches and moves) and a "
           "second wave; at a seeded moment a crash (SIGKILL) of one component (`operator-kill9`: the leader), started "
           "again as it was after a seeded down time (" + ", ".join(f"{k} {a:g}-{b:g} s" for k, (a, b) in
                                                           st["down_s"].items()) + "; `partition`: the leader's "
           "proxy holds all its traffic meanwhile). Counted after convergence (or its "
           f"{st['converge_timeout_s']:g} s timeout): workloads with more Pods or placements than replicas, workloads "
           "not Placed with every replica bound, replicas on a NotReady node, agreements and breaches on chain "
           "against what the SLA statuses say. Convergence: from the end of the fault until every workload has exactly its replicas "
           "bound where its status says, every agreement has recorded its breach and no outbox waits. Not Ready: bound Pods "
           "not Running and Ready at the end (after an etcd restart kwok, the simulated kubelet, leaves some Pending: it "
           "does not retry a status update that failed, or not Ready; no target: the kubelet's part). "
           f"{st['rounds']} round(s) per kind, seed {st['seed']}.",
           "", *_machines([data]), ""]
    out += _table(["fault", "runs", "converged", "double placements", "lost workloads", "on dead nodes",
                   "dup. records", "lost records", "not Ready", "converge p50", "p95", "max", "operator restarts",
                   "breaches", "targets"],
                  ([r["kind"], r["runs"], r["converged"], r["double_placements"], r["lost_workloads"],
                    r["dead_node_replicas"], r["chain_duplicated"], r["chain_lost"], r["pods_not_running"],
                    _num(r["converge_p50_s"], ".1f"),
                    _num(r["converge_p95_s"], ".1f"), _num(r["converge_max_s"], ".1f"), r["operator_restarts"],
                    r["breaches"], "met" if r["met"] else "**missed**: " + ", ".join(
                        f"`{k}`" for k, v in r["targets"].items() if not v)] for r in data["kinds"]))
    return out


def rollout(data: dict[str, Any]) -> list[str]:
    rows, summ = data["rounds"], data["summary"]
    first = rows[0]
    out = ["## Rollouts: `bench.rollout`", "",
           f"{first['workloads']} workloads x {first['replicas']} replicas rolled to a new image at once: EdgeWorkloads "
           "against apps/v1 Deployments (both maxSurge 25 %, maxUnavailable 25 %) on the same stack, rows interleaved "
           "over rounds. Time per workload from its patch until exactly its replicas run the new image and are "
           "Ready; makespan from the first patch to the last workload done.", "", *_machines([data]), ""]
    out += _table(["system", "round", "makespan", "p50", "p95", "max", "unfinished", "fewest Ready"],
                  ([r["system"], r["round"], f"{r['makespan_s']:.2f} s", f"{r['p50_s']:.2f} s", f"{r['p95_s']:.2f} s",
                    f"{r['max_s']:.2f} s", r["unfinished"], f"{r['min_ready']} of {r['replicas']}"] for r in rows))
    if ratio := summ.get("ratio"):
        out += ["", "edgeorch / Deployment, medians over rounds: "
                + ", ".join(f"{k.removesuffix('_s')} {v}x" for k, v in ratio.items()) + "."]
    worst = min(rows, key=lambda r: r["min_ready"])
    if worst["min_ready"] < worst["replicas"] - 1:
        out += ["", f"**The budget was broken**: {worst['notes'].get('fewest_ready_of')} had {worst['min_ready']} of "
                f"{worst['replicas']} Ready in round {worst['round']} ({worst['system']}); its trace is in the JSON."]
    return out


def mobility(data: dict[str, Any]) -> list[str]:
    s, rows = data["settings"], data["rows"]
    out = ["## Users who move: `bench.mobility`", "",
           f"A bus of {s['users']:g} users on route v15 ({' -> '.join(c for c, _ in data['route'])}), {s['laps']} lap(s) "
           f"of {s['dwell_s']:g} s per stop: the user latency to the nearest Ready replica, traffic-weighted, sampled "
           f"every {s['sample_s']:g} s, for a workload that measures its users (`spec.users.fromMetric`, smoothing "
           f"{s['smoothing_s']} s, move threshold {s['move_threshold']}, cool-down {s['cooldown_s']} s) against the same "
           "workload with static users (the route's cells by dwell time; the first stop only). `near best`: share of "
           "samples within 1 ms of the best far-edge or edge site for the bus's cells.", "", *_machines([data]), ""]
    out += _table(["workload", "mean", "p50", "p95", "max", "near best", "migrations"],
                  ([r["workload"], f"{r['mean_ms']:.2f} ms", f"{r['p50_ms']:.2f} ms", f"{r['p95_ms']:.2f} ms",
                    f"{r['max_ms']:.2f} ms", _pct(r["near_best"]), r["migrations"]] for r in rows))
    follow = rows[0]
    out += ["", f"While following, the fewest Ready replicas were {follow.get('min_ready')} of {s['replicas']} "
            f"(make-before-break); samples without a Ready replica: {follow['no_replica_samples']}."]
    return out


def ledger(rows: list[Row]) -> list[str]:
    out = ["## SLA ledger: `bench.ledger`", "",
           "Gas and rate of each contract call, on the in-process chain (eth-tester) and on anvil.", "",
           *_machines(rows), ""]
    out += _table(
        ["operation", "backend", "gas", "gas per record", "records/s", "calls"],
        ([r["op"] + (f" (batches of {r['batch']})" if r.get("batch") else ""), r["backend"], f"{r['gas']:,}",
          f"{r['gas_per_record']:,}" + (f" (first {r['gas_first']:,})" if r.get("gas_first") else ""),
          r["per_s"], r["n"]] for r in rows))
    return out


def fuzz(data: dict[str, Any]) -> list[str]:
    out = ["## Fuzzed inputs: `bench.fuzz`", "",
           f"{data['objects']} EdgeWorkloads, EdgeSites and ServiceLevelAgreements drawn by hypothesis from the "
           f"pydantic models (seed {data['seed']}), valid or broken by one mutation, sent to the real API server "
           "with the operator running: rejected naming the field, or answered (a status for the generation) "
           f"within {data.get('answer_s', 30):g} s.", "", *_machines([data]), ""]
    classes = ["rejected", "rejected-unnamed", "server-error", "too-large", "answered", "silent"]
    out += _table(["", *classes, "total"], (
        [name, *(counts.get(c, 0) for c in classes), sum(counts.values())]
        for name, counts in [*data["by_kind"].items(), *data["by_mutation"].items(), ("all", data["classes"])]))
    alive = "kept running" if data["operator_alive"] else "**died**"
    out += ["", f"Control workloads: {', '.join(sorted(set(data['controls'].values()))) or '-'}; the operator "
            f"{alive}, {data['tracebacks']} tracebacks; accepted although the model rejects: "
            f"{data['model_rejects_but_accepted']}; failures: {len(data['failures'])}."]
    return out


def priority_bands(rows: list[Row]) -> list[str]:
    bands = list(rows[0]["bands"]) if rows else []
    out = ["## The priority rule: `bench.priority_bands`", "",
           "The 1,000 x 200 instance with its workloads spread over four priority bands, solved by band (as the "
           "operator does: a lower band never holds room a higher one could use) and as one band, at 2 s. Per band: "
           "unplaced / workloads, and the placed ones' mean predicted latency.", "", *_machines(rows), ""]
    out += _table(["load", "solved", "wall", *(f"band {b}" for b in bands)],
                  ([r["load"], r["mode"], f"{r['wall_s']:.2f} s",
                    *(f"{v['unplaced']}/{v['workloads']}, {_num(v['mean_latency_ms'], '.2f')} ms"
                      for v in r["bands"].values())] for r in rows))
    return out


def space(data: dict[str, Any], before: dict[str, Any] | None) -> list[str]:
    out = ["## Robustness over loads and bin packing: `bench.placement_space`", "",
           f"Now: {data['summary']}."]
    if before:
        out += ["", f"On the placement code before issue 21 (`placement_space_before.json`): {before['summary']}."]
    return [*out, "", "Every row, per family: [placement-space.md](placement-space.md) (written by the bench)."]


SECTIONS: tuple[tuple[str, Callable[..., list[str]]], ...] = (
    ("placement.json", placement),
    ("seeds.json", seeds),
    ("reference.json", reference),
    ("patterns.json", patterns),
    ("operator.json", lambda rows: operator(rows, "`--quick`")),
    ("operator-1000.json", lambda rows: operator(rows, "full")),
    ("qos.json", qos),
    ("qos_guard.json", qos_guard),
    ("elasticity.json", elasticity),


    ("takeover.json", takeover),
    ("chaos.json", chaos),
    ("rollout.json", rollout),
    ("mobility.json", mobility),
    ("ledger.json", ledger),
    ("fuzz.json", fuzz),
    ("priority_bands.json", priority_bands),
)


def markdown(results: Path = RESULTS) -> str:
    """The whole page, from the JSON files in `results`."""
    def load(name: str) -> Any:
        path = results / name
        return json.loads(path.read_text()) if path.exists() else None

    known = {name for name, _ in SECTIONS} | {"placement_space.json", "placement_space_before.json"}
    unknown = sorted(p.name for p in results.glob("*.json") if p.name not in known)
    if unknown:
        raise SystemExit(f"bench.report: no section for {', '.join(unknown)}: add one to bench/report.py")
    out = ["# Benchmarks", "",
           "Generated by `python -m bench.report` from `bench/results/*.json`; do not edit by hand "
           "(`tests/bench/test_report.py` fails when this page and the JSON disagree). Each benchmark "
           "(`python -m bench.<name>`, `make bench` for the quick set) writes its JSON with the machine it ran "
           "on; all ran on 2-core machines shared with other jobs, so single runs vary by 20-30 %.", ""]
    body: list[str] = []
    for name, section in SECTIONS:
        data = load(name)
        if data is not None:
            body += [*section(data), ""]
    if (now := load("placement_space.json")) is not None:
        body += [*space(now, load("placement_space_before.json")), ""]
    headings = [line.removeprefix("## ") for line in body if line.startswith("## ")]
    out += [f"- [{h.split(':')[0]}](#{_slug(h)})" for h in headings] + ["", *body]
    return "\n".join(out).rstrip("\n") + "\n"


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return "".join(c for c in heading.lower() if c.isalnum() or c in " -_").replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the JSON results")
    parser.add_argument("--output", type=Path, default=DOCS, help="the page to write")
    parser.add_argument("--check", action="store_true", help="only compare: exit 1 when the page is stale")
    args = parser.parse_args(argv)
    text = markdown(args.results)
    if args.check:
        stale = not args.output.exists() or args.output.read_text() != text
        if stale:
            print(f"{args.output} is stale: run python -m bench.report", file=sys.stderr)
        return 1 if stale else 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
