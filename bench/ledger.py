"""Benchmark of the SLA ledger: gas per operation and records per second, embedded and anvil.

    python -m bench.ledger [--n 64] [--batches 16] [--backend embedded|anvil|both]

Prints a table and writes bench/results/ledger.json: a list of rows (op, backend, gas, gas_per_record,
per_s, n, and the machine: cpu, cores, python, web3, anvil). Gas is the median gasUsed of the receipts (a breach in steady state: the agreement's counters and
the window bitmap already exist; `gas_first` is the first breach of an agreement). Rates are pipelined
writes (concurrent callers of one writer, each awaiting its receipt), wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.machine import describe, machine
from sla_contracts.anvil import AnvilProcess, find_anvil, free_port
from sla_contracts.ids import agreement_id, metric_id, name_ref, terms_hash
from sla_contracts.ledger import Ledger, open_ledger
from sla_contracts.model import AgreementTerms, Breach, Comparator, Migration, Objective, Severity

RESULTS = Path(__file__).resolve().parent / "results" / "ledger.json"
BATCH = 32


def ledger_machine() -> dict[str, Any]:
    """The shared machine description plus the chain software versions."""
    info = machine(packages=("web3", "eth-tester", "py-evm", "vyper"))
    try:
        info["anvil"] = subprocess.run([str(find_anvil()), "--version"], capture_output=True, text=True,
                                       timeout=10).stdout.splitlines()[0]
    except Exception as exc:  # informative only
        info["anvil"] = f"unavailable ({type(exc).__name__}: {exc})"
    return info


def terms(now: int, n_objectives: int = 3) -> AgreementTerms:
    uid = f"bench-{uuid.uuid4()}"
    objs = [Objective(metric_id("latency_ms"), Comparator.LT, 50.0, 30),
            Objective(metric_id("throughput_mbps"), Comparator.GT, 10.0, 30),
            Objective(metric_id("availability"), Comparator.GE, 0.999, 300)][:n_objectives]
    return AgreementTerms(agreement_id(uid), terms_hash({"uid": uid}), now - 3600, now + 86400 * 30, objs,
                          name_ref("bench-provider"), name_ref("tenant-bench"), revision=1)  # as the operator


def breaches(aid: bytes, now: int, n: int, offset: int = 0) -> list[Breach]:
    """n breaches of the latency objective in consecutive 5 s windows (as the evaluator writes them)."""
    base = now - 3000 + offset * 5
    return [Breach(aid, 0, Severity(i % 5), 75.0 + i % 7, base + 5 * i, base + 5 * i + 30, b"\xab" * 32)
            for i in range(n)]


async def timed(calls: list[Callable[[], Awaitable[Any]]]) -> tuple[list[Any], float]:
    t0 = time.perf_counter()
    out = await asyncio.gather(*(c() for c in calls))
    return list(out), time.perf_counter() - t0


async def run_backend(name: str, ledger: Ledger, n: int, batches: int) -> list[dict[str, Any]]:
    now = int((await ledger.w3.eth.get_block("latest"))["timestamp"])
    rows: list[dict[str, Any]] = []

    def row(op: str, gases: list[int], records: int, seconds: float, **extra: Any) -> None:
        gas = int(statistics.median(gases))
        per_record = extra.pop("per_record", 1)
        rows.append({"op": op, "backend": name, "gas": gas, "gas_per_record": round(gas / per_record),
                     "per_s": round(records / seconds, 1), "n": records, **extra})

    many = [terms(now) for _ in range(n)]
    receipts, dt = await timed([lambda t=t: ledger.create_agreement(t) for t in many])  # type: ignore[misc]
    row("create_agreement", [r.gas_used for r in receipts], n, dt, objectives=3)

    # single breaches: the first one of each agreement, then n in steady state on one agreement, pipelined
    firsts, _ = await timed([lambda t=t: ledger.record_breach(breaches(t.agreement_id, now, 1)[0])  # type: ignore[misc]
                             for t in many[:8]])
    target = many[0].agreement_id
    singles = breaches(target, now, n, offset=1)
    results, dt = await timed([lambda b=b: ledger.record_breach(b) for b in singles])  # type: ignore[misc]
    row("record_breach", [r.receipt.gas_used for r in results if r.receipt], n, dt,
        gas_first=int(statistics.median(r.receipt.gas_used for r in firsts if r.receipt)),
        gas_max=max(r.receipt.gas_used for r in results if r.receipt))

    # batches of 32 on other agreements, pipelined
    batch_sets = [breaches(many[1 + i % (n - 1)].agreement_id, now, BATCH, offset=1 + (i // (n - 1)) * BATCH)
                  for i in range(batches)]
    results, dt = await timed([lambda bs=bs: ledger.record_breaches(bs) for bs in batch_sets])  # type: ignore[misc]
    assert all(len(r.written) == BATCH for r in results), "a benchmark batch was not fully written"
    row("record_breach_batch", [r.receipt.gas_used for r in results if r.receipt], batches * BATCH, dt,
        per_record=BATCH, batch=BATCH)

    amended = [AgreementTerms(t.agreement_id, terms_hash({"amended": t.agreement_id.hex()}), t.valid_from,
                              t.valid_until, t.objectives, revision=2) for t in many]
    receipts, dt = await timed([lambda t=t: ledger.amend_agreement(t) for t in amended])  # type: ignore[misc]
    row("amend_agreement", [r.gas_used for r in receipts], n, dt, objectives=3)

    moves = [Migration(target, 0, b.window_start, name_ref("ns/video"), "bcn-edge-1", "bcn-cloud-1")
             for b in singles]
    results, dt = await timed([lambda m=m: ledger.record_migration(m) for m in moves])  # type: ignore[misc]
    row("record_migration", [r.receipt.gas_used for r in results if r.receipt], n, dt)
    return rows


async def bench(backends: list[str], n: int, batches: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if "embedded" in backends:
        ledger = await open_ledger()
        try:
            rows += await run_backend("embedded", ledger, n, batches)
        finally:
            await ledger.close()
    if "anvil" in backends:
        with tempfile.TemporaryDirectory(prefix="edgeorch-bench-") as tmp:
            node = AnvilProcess(free_port(), state_file=Path(tmp) / "state.json", log_file=Path(tmp) / "anvil.log")
            node.start()
            try:
                ledger = await open_ledger(node.url, state_dir=Path(tmp))
                try:
                    rows += await run_backend("anvil", ledger, n, batches)
                finally:
                    await ledger.close()
            finally:
                node.stop()
    return rows


TARGETS = {"create_agreement": ("gas", 120_000), "record_breach": ("gas", 45_000),
           "record_breach_batch": ("gas_per_record", 15_000)}


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'op':<22}{'backend':<10}{'gas':>9}{'gas/record':>12}{'per_s':>9}  notes"]
    for r in rows:
        notes = []
        if r["op"] in TARGETS:
            key, limit = TARGETS[r["op"]]
            notes.append(f"{key} <= {limit}: {'ok' if r[key] <= limit else 'MISSED'}")
        if "gas_first" in r:
            notes.append(f"first of an agreement {r['gas_first']}, max {r['gas_max']}")
        if r["op"] == "record_breach_batch" and r["backend"] == "anvil":
            notes.append(f">= 200 records/s: {'ok' if r['per_s'] >= 200 else 'MISSED'}")
        lines.append(f"{r['op']:<22}{r['backend']:<10}{r['gas']:>9}{r['gas_per_record']:>12}{r['per_s']:>9}  "
                     + "; ".join(notes))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=64, help="agreements / single writes per operation")
    parser.add_argument("--batches", type=int, default=16, help="batches of 32 breaches")
    parser.add_argument("--backend", choices=["embedded", "anvil", "both"], default="both")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    backends = ["embedded", "anvil"] if args.backend == "both" else [args.backend]
    info = ledger_machine()
    rows = asyncio.run(bench(backends, max(args.n, 2), args.batches))
    print(f"machine: {describe(info)}; {info['anvil']}")
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([{**r, "machine": info} for r in rows], indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
