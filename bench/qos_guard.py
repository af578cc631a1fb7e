"""QoS-bound benchmark: from a latency fault to the new placement of a workload without an SLA.

    python -m bench.qos_guard            # 10 trials
    python -m bench.qos_guard --quick    # 5 trials

One local stack (as bench.qos: real Kubernetes with kwok nodes of the barcelona city, Prometheus with
its 1 s scrape, the city's QoS exporter, anvil) and the operator as its own process.  Each trial uses a
fresh EdgeWorkload with no ServiceLevelAgreement (2 replicas, users in one radio cell, far-edge or
edge, `qos.maxLatencyMs` 8, migration budget 10 per hour, cool-down 2 s, failBack); the cells rotate,
so the home sites do too.  Only the operator's QoS guard (orchestrator.qos_guard) can move it.  Once it
is placed and its Pods are bound:

  t0            a monotonic clock on the client, just before +40 ms is injected at the workload's site
                (the site hosting most of its replicas) through the exporter's API
  degraded_s    the workload's status says QoSDegraded True, or already names the guard's offload
                (status.offload: qos-bound:...), polled every 0.1 s
  replace_s     every replica Pod (not terminating) has spec.nodeName on a node of another site within
                the bound (scenario latency, allowed tier), polled every 0.1 s
  failback_s    from healing the fault until the Pods are bound at the original sites again (the
                guard's hysteresis: the better placement must hold 10 s first)

Target (issue 20): replace p95 <= 10 s.  Writes bench/results/qos_guard.json: a JSON list of one row
(trials, completed, p50/p95/max per step, settings, target, references, per-trial raw values, machine).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import trials
from bench.machine import describe
from bench.qos import (
    CELLS,
    DESCHEDULER_S,
    POLL_S,
    SCENARIO,
    Cluster,
    _fmt,
    _r,
    bound_sites,
    fault_cycle,
    log,
    manifests,
    run,
)
from bench.qos import Settings as QosSettings
from orchestrator.kube.sync import Applier
from sim.control import ExporterControl
from sla_contracts import Ledger

RESULTS = Path(__file__).resolve().parent / "results" / "qos_guard.json"
STEPS = {"degraded": "QoSDegraded (or the offload) said", "replace": "re-placement bound",
         "failback": "fail-back bound (from heal)"}


@dataclass(frozen=True)
class Settings:
    add_ms: float = 40.0
    replicas: int = 2
    max_latency_ms: float = 8.0
    timeout_s: float = 60.0

    def as_dict(self) -> dict[str, Any]:
        return {"fault_add_ms": self.add_ms, "replicas": self.replicas, "max_latency_ms": self.max_latency_ms,
                "sla": "none", "migration": "budgetPerHour 10, cooldownSeconds 2, failBack", "prometheus_scrape_s": 1,
                "qos_check_s": 2, "poll_s": POLL_S, "scenario": SCENARIO}


def manifest(name: str, cell: str, s: Settings) -> dict[str, Any]:
    """bench.qos's EdgeWorkload with this bound, without its agreement."""
    ew: dict[str, Any] = manifests(name, cell, QosSettings(replicas=s.replicas, max_latency_ms=s.max_latency_ms))[0]
    return ew


async def trial(i: int, cl: Cluster, control: ExporterControl, _chain_url: str, _ledgers: dict[str, Ledger],
                s: Settings) -> dict[str, Any]:
    cell = CELLS[i % len(CELLS)]
    name = f"bound-{i}-{int(time.time()) % 100000}"
    await asyncio.to_thread(Applier(cl.api).apply_all, [manifest(name, cell, s)], 1)
    try:
        home_sites = await bound_sites(cl, name, s.timeout_s)

        async def degraded() -> bool:
            st = (await asyncio.to_thread(cl.get, "edgeworkloads", name)).get("status") or {}
            said = any(c.get("type") == "QoSDegraded" and c.get("status") == "True" for c in st.get("conditions") or [])
            return said or str((st.get("offload") or {}).get("id", "")).startswith("qos-bound:")

        c = await fault_cycle(cl, control, name, cell, home_sites, s.replicas, s.max_latency_ms, s.add_ms, s.timeout_s,
                              degraded)
        site, new_sites, degraded_s, replace_s, failback_s = c.site, c.to_sites, c.first_s, c.replace_s, c.failback_s
        row = {"trial": i, "workload": name, "cell": cell, "site": site, "from_sites": home_sites,
               "to_sites": new_sites, "degraded_s": _r(degraded_s), "replace_s": _r(replace_s),
               "failback_s": _r(failback_s)}
        log(f"trial {i:>2}: {cell:<19} {site:<13} -> {','.join(sorted(set(new_sites) - {site})) or '-':<13} "
            f"degraded {_fmt(_r(degraded_s))} s, re-placed {_fmt(_r(replace_s))} s, "
            f"failed back {_fmt(_r(failback_s))} s after the heal")
        return row
    finally:
        await asyncio.to_thread(cl.delete, "edgeworkloads", name)


def report(row: dict[str, Any]) -> str:
    head = f"{'measure':<36} {'trials':>6} {'done':>5} {'p50 s':>7} {'p95 s':>7} {'max s':>7}  {'target p95<=10 s':<17} " \
           f"{'vs descheduler 120 s (p95)'}"
    lines = [head, "-" * len(head)]
    lines += trials.step_rows(row, STEPS, 36, lambda key, p95: f"{DESCHEDULER_S / p95:.0f}x faster"
                              if p95 and key == "replace" else "-")
    lines.append(f"{'reference: descheduler':<36} {'':>6} {'':>5} {'':>7} {DESCHEDULER_S:>7.0f}  "
                 "(default period 2 min; it has no QoS input at all)")
    st = row["settings"]
    lines.append(f"settings: no SLA, maxLatencyMs {st['max_latency_ms']:g}, +{st['fault_add_ms']:g} ms at the workload's "
                 f"site, {st['replicas']} replicas, {st['migration']}, Prometheus scrape {st['prometheus_scrape_s']} s, "
                 f"QoS check every {st['qos_check_s']} s, client poll {POLL_S} s")
    lines.append(f"machine: {describe(row['machine'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = trials.parser("python -m bench.qos_guard", __doc__, RESULTS).parse_args(argv)
    row = run(trials.count(args), Settings(), state_dir=args.state_dir, keep=args.keep, one=trial, steps=tuple(STEPS),
              targeted=("replace",))
    print(report(row))
    return trials.write(row, args.output, log, "replace")


if __name__ == "__main__":
    raise SystemExit(main())
