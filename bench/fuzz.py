"""Fuzzed custom resources against the real API server and the running operator: what happens to each.

    python -m bench.fuzz                 # 300 objects (100 of each kind)
    python -m bench.fuzz --objects 60    # a smaller run

Objects come from bench.fuzzgen (hypothesis strategies derived from the pydantic models: valid, or
broken by one mutation), reproducible by `--seed`.  Each is created as kubectl would (one POST,
`fieldValidation=Strict`) in batches; a valid "control" EdgeWorkload goes in the middle of every
batch, and half the agreements govern one valid workload of the run (so their agreements reach the
ledger).  Every fuzzed EdgeSite gets one kwok Node labelled for it, so its numbers reach the solver.
Each object ends in one class:

  rejected          the API server refused it (4xx) with a message naming the broken field
  rejected-unnamed  refused, but the message names none of the fields at fault
  server-error      the API server answered 5xx (or no answer)
  too-large         the object is larger than etcd or the API server take (a 500 "etcdserver: request
                    is too large", a 413): Kubernetes' answer for any custom resource, reachable only
                    through the core/v1 Pod fields the model passes through unchecked (its own
                    strings are bounded); counted, not a failure
  answered          accepted, then the operator gave it a status: a phase (EdgeWorkloads) and
                    conditions, for its generation, within the answer time
  silent            accepted, and no such status within the answer time

and the run fails unless every object is rejected or answered, every control workload is Placed,
the operator process is the one that started (no crash) and logged no traceback, and the API server
accepted nothing the operator's own model (pydantic) rejects.  Writes bench/results/fuzz.json
(summary and every object's outcome).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.fuzzgen import CRASH, Case, default_overrides, draw_cases, model_errors, render
from bench.kubeload import GROUP, VERSION, create_namespace, local_stack_only, log, request, status_of
from orchestrator.vocabulary import EDGESITE, EDGEWORKLOAD, SITE_LABEL, SLA, TIER_LABEL

RESULTS = Path(__file__).resolve().parent / "results" / "fuzz.json"
KINDS = (EDGEWORKLOAD, SLA, EDGESITE)
PLURAL = {EDGEWORKLOAD: "edgeworkloads", SLA: "servicelevelagreements", EDGESITE: "edgesites"}
CLASSES = ("rejected", "rejected-unnamed", "server-error", "too-large", "answered", "silent")
FINE = ("rejected", "answered", "too-large")
TOO_LARGE = ("request is too large", "Request entity too large")
MESSAGE_CHARS = 600  # of the API server's answer, kept per object


@dataclass
class Outcome:
    """What became of one object."""

    kind: str
    name: str
    mutation: str
    field: str
    detail: str
    model_ok: bool
    http: int = 0
    klass: str = ""
    message: str = ""
    answer_s: float | None = None
    answer: str = ""  # the phase / first condition it got
    model_crash: str = ""  # the model raised something else than a validation error
    doc: dict[str, Any] = dataclasses.field(default_factory=dict)  # kept only for the failures (strings truncated)


@dataclass
class Run:
    outcomes: list[Outcome]
    controls: dict[str, str]  # control workload -> its phase
    operator_alive: bool
    tracebacks: int
    seconds: float

    def failures(self) -> list[str]:
        out = [f"{o.kind}/{o.name} ({o.mutation} {o.field}): {o.klass} {o.message[:200]}"
               for o in self.outcomes if o.klass not in FINE]
        out += [f"{o.kind}/{o.name} ({o.mutation} {o.field}): accepted although the model rejects it"
                for o in self.outcomes if o.http and o.http < 300 and not o.model_ok]
        out += [f"{o.kind}/{o.name}: the operator's model {o.model_crash}" for o in self.outcomes if o.model_crash]
        out += [f"control {n}: {p or 'no phase'}" for n, p in self.controls.items() if p != "Placed"]
        if not self.operator_alive:
            out.append("the operator process died or was restarted")
        if self.tracebacks:
            out.append(f"the operator logged {self.tracebacks} traceback(s)")
        return out

    def summary(self) -> dict[str, Any]:
        by_kind = {k: dict(Counter(o.klass for o in self.outcomes if o.kind == k)) for k in KINDS}
        by_mutation = {m: dict(Counter(o.klass for o in self.outcomes if o.mutation == m))
                       for m in sorted({o.mutation for o in self.outcomes})}
        return {"objects": len(self.outcomes), "classes": dict(Counter(o.klass for o in self.outcomes)),
                "by_kind": by_kind, "by_mutation": by_mutation, "controls": self.controls,
                "operator_alive": self.operator_alive, "tracebacks": self.tracebacks,
                "model_rejects_but_accepted": sum(1 for o in self.outcomes if o.http and o.http < 300 and not o.model_ok),
                "seconds": round(self.seconds, 1), "failures": self.failures()}


def table(run: Run) -> str:
    """Objects per kind (and per mutation) and class, as text."""
    rows = [(k, [o for o in run.outcomes if o.kind == k]) for k in KINDS]
    rows += [(f"  {m}", [o for o in run.outcomes if o.mutation == m])
             for m in sorted({o.mutation for o in run.outcomes})]
    rows.append(("all", run.outcomes))
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'':{width}}" + "".join(f"{c:>17}" for c in (*CLASSES, "total"))]
    for label, items in rows:
        counts = Counter(o.klass for o in items)
        lines.append(f"{label:{width}}" + "".join(f"{counts.get(c, 0):>17}" for c in CLASSES) + f"{len(items):>17}")
    return "\n".join(lines)


# -- naming, sending, classifying ----------------------------------------------------------------------
def _norm(text: str) -> str:
    return re.sub(r"\[\d*\]", "", text)


def names_the_field(message: str, case: Case, model_fields: tuple[str, ...]) -> bool:
    """The API server's message names the mutated field or one of its parents (at least spec.<x>), or
    a field the operator's model names for the same document."""
    msg = _norm(message)
    candidates = [render(case.path[:i]) for i in range(len(case.path), 1, -1)] + list(model_fields)
    candidates = [c for c in candidates if "." in c]
    if not candidates:
        return re.search(r"(spec|metadata)\.\w", msg) is not None
    return any(_norm(c) in msg for c in candidates)


def _path(kind: str, namespace: str, name: str = "") -> str:
    base = f"/apis/{GROUP}/{VERSION}"
    where = f"{base}/{PLURAL[kind]}" if kind == EDGESITE else f"{base}/namespaces/{namespace}/{PLURAL[kind]}"
    return f"{where}/{name}" if name else where


def _send(api: Any, kind: str, namespace: str, doc: dict[str, Any]) -> tuple[int, str]:
    try:
        resp = request(api, "POST", _path(kind, namespace), body=doc, query=[("fieldValidation", "Strict")],
                       timeout=60)
    except Exception as exc:  # the client raises on 4xx/5xx: the status and body are on the exception
        status, body = int(getattr(exc, "status", 0) or 0), getattr(exc, "body", None) or str(exc)
    else:
        status, body = status_of(resp), resp.data
    try:
        message = str(json.loads(body).get("message", body))
    except (ValueError, AttributeError, TypeError):
        message = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    return status, "" if 200 <= status < 300 else message[:MESSAGE_CHARS]


def answer_of(kind: str, obj: dict[str, Any]) -> str | None:
    """What the operator answered for the object's current generation (None: nothing yet)."""
    st = obj.get("status") or {}
    conds = st.get("conditions") or []
    if not conds:
        return None
    if kind == EDGEWORKLOAD and not st.get("phase"):
        return None
    if kind != SLA and st.get("observedGeneration") != obj["metadata"].get("generation"):
        return None
    first = next((c for c in conds if c.get("status") != "True"), conds[0])
    said = f"{first.get('type')}={first.get('status')} ({first.get('reason')}: {str(first.get('message'))[:160]})"
    return f"{st['phase']}: {said}" if st.get("phase") else said


def _list(api: Any, kind: str, namespace: str) -> dict[str, dict[str, Any]]:
    resp = request(api, "GET", _path(kind, namespace), timeout=60)
    return {o["metadata"]["name"]: o for o in json.loads(resp.data).get("items", [])}


def _shrunk(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= 80 else f"{value[:40]}...({len(value)} chars)"
    if isinstance(value, dict):
        return {k: _shrunk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shrunk(v) for v in value]
    return value


def fuzz_node(site: str, tier: str) -> dict[str, Any]:
    """A kwok Node of a fuzzed site (4 CPUs, 8 GiB): the site's numbers reach the solver."""
    resources = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"{site}-n0", "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"type": "kwok", SITE_LABEL: site, TIER_LABEL: tier}},
            "status": {"allocatable": resources, "capacity": resources, "phase": "Running"}}


def control_workload(name: str, namespace: str, cell: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": EDGEWORKLOAD, "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "resources": {"cpu": "50m", "memory": "32Mi"},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "registry.example/control:1"}]}},
                     "users": {"cells": [{"cell": cell, "share": 1}]}, "qos": {"maxLatencyMs": 500}}}


# -- the run ---------------------------------------------------------------------------------------------
def run(api: Any, cases: list[Case], *, namespace: str, cells: list[str], answer_s: float = 30.0,
        batch: int = 30, operator_pid: Callable[[], int | None] = lambda: None,
        operator_log: Callable[[], str] = lambda: "") -> Run:
    """Send `cases` to the API server behind `api` and classify each (see the module docstring).
    Creates `namespace`, and EdgeSites and Nodes named fuzz-<run id>-*; deletes them all afterwards."""
    t0 = time.monotonic()
    run_id = uuid.uuid4().hex[:6]
    pid = operator_pid()
    create_namespace(api, namespace)
    target = f"fuzz-sla-target-{run_id}"
    request(api, "POST", _path(EDGEWORKLOAD, namespace), body=control_workload(target, namespace, cells[0]))
    outcomes: list[Outcome] = []
    named: list[tuple[Case, Outcome]] = []
    for i, case in enumerate(cases):
        name = f"fuzz-{run_id}-{i:03d}"
        doc = json.loads(json.dumps(case.doc))
        doc["metadata"] = {"name": name + (".x" if case.mutation == "bad_site_name" else "")}
        if case.kind != EDGESITE:
            doc["metadata"]["namespace"] = namespace
        if case.kind == SLA and i % 2 == 0 and isinstance(doc.get("spec"), dict) and "workloadRef" in doc["spec"]:
            doc["spec"]["workloadRef"] = target
        errors = model_errors(case.kind, doc)
        o = Outcome(case.kind, doc["metadata"]["name"], case.mutation, case.field, case.detail, not errors,
                    model_crash=next((e for e in errors if e.startswith(CRASH)), ""))
        named.append((Case(case.kind, doc, case.mutation, case.path, case.detail), o))
        outcomes.append(o)
    nodes = [fuzz_node(o.name, str((c.doc.get("spec") or {}).get("tier", "edge"))[:63])
             for c, o in named if c.kind == EDGESITE and "." not in o.name]
    controls: dict[str, str] = {}
    try:
        for node in nodes:
            request(api, "POST", "/api/v1/nodes", body=node)
        for start in range(0, len(named), batch):
            chunk = named[start:start + batch]
            control = f"fuzz-control-{run_id}-{start // batch}"
            created: dict[str, float] = {}
            for j, (case, o) in enumerate(chunk):
                if j == len(chunk) // 2:
                    request(api, "POST", _path(EDGEWORKLOAD, namespace), body=control_workload(control, namespace, cells[0]))
                o.http, o.message = _send(api, case.kind, namespace, case.doc)
                if 200 <= o.http < 300:
                    created[o.name] = time.monotonic()
                elif any(t in o.message for t in TOO_LARGE):
                    o.klass = "too-large"
                elif 400 <= o.http < 500:
                    fields = model_errors(case.kind, case.doc)
                    o.klass = "rejected" if names_the_field(o.message, case, fields) else "rejected-unnamed"
                else:
                    o.klass = "server-error"
            _wait(api, namespace, [o for _, o in chunk if o.name in created], created, answer_s)
            phase = _wait_placed(api, namespace, control, answer_s)
            controls[control] = phase
            log(f"batch {start // batch}: " + ", ".join(f"{k} {v}" for k, v in
                                                      sorted(Counter(o.klass for _, o in chunk).items()))
                + f"; control {phase or 'no phase'}")
        controls[target] = _wait_placed(api, namespace, target, answer_s)
    finally:
        _clean(api, namespace, [o.name for c, o in named if c.kind == EDGESITE], [n["metadata"]["name"] for n in nodes])
    for case, o in named:
        if o.klass not in FINE or (o.http and o.http < 300 and not o.model_ok) or o.model_crash:
            o.doc = _shrunk(case.doc)
    log_text = operator_log()
    return Run(outcomes, controls, operator_alive=pid is None or operator_pid() == pid,
               tracebacks=log_text.count("Traceback"), seconds=time.monotonic() - t0)


def _wait(api: Any, namespace: str, pending: list[Outcome], created: dict[str, float], answer_s: float) -> None:
    deadline = time.monotonic() + answer_s
    left = {o.name: o for o in pending}
    while left and time.monotonic() < deadline:
        for kind in {o.kind for o in left.values()}:
            objects = _list(api, kind, namespace)
            for name, o in list(left.items()):
                if o.kind != kind or name not in objects:
                    continue
                answer = answer_of(kind, objects[name])
                if answer is not None:
                    o.klass, o.answer = "answered", answer
                    o.answer_s = round(time.monotonic() - created[name], 2)
                    del left[name]
        time.sleep(0.5)
    for o in left.values():
        o.klass = "silent"


def _wait_placed(api: Any, namespace: str, name: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    phase = ""
    while time.monotonic() < deadline:
        obj = _list(api, EDGEWORKLOAD, namespace).get(name) or {}
        phase = (obj.get("status") or {}).get("phase") or ""
        if phase == "Placed":
            break
        time.sleep(0.5)
    return phase


def _clean(api: Any, namespace: str, sites: list[str], nodes: list[str]) -> None:
    for site in sites:
        request(api, "DELETE", _path(EDGESITE, namespace, site))
    for node in nodes:
        request(api, "DELETE", f"/api/v1/nodes/{node}")
    request(api, "DELETE", f"/api/v1/namespaces/{namespace}")


def scenario_cells(scenario: str) -> list[str]:
    from sim.scenario import load_scenario

    return sorted(load_scenario(scenario).latency_ms())


def fuzz_cases(objects: int, seed: int, scenario: str) -> list[Case]:
    """`objects` cases (a third of each kind, interleaved), drawn with the scenario's cells and zones."""
    from sim.scenario import load_scenario

    city = load_scenario(scenario)
    per_kind = {k: objects // len(KINDS) + (1 if i < objects % len(KINDS) else 0) for i, k in enumerate(KINDS)}
    overrides = default_overrides(sorted(city.latency_ms()), sorted({s.zone for s in city.sites}))
    cases = draw_cases(per_kind, seed_value=seed, overrides=overrides)
    by_kind = [[c for c in cases if c.kind == k] for k in KINDS]
    out: list[Case] = []
    for i in range(max(len(b) for b in by_kind)):  # the kinds interleaved: every batch has some of each
        out += [b[i] for b in by_kind if i < len(b)]
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.machine import machine
    from devstack.localstack import Stack
    from orchestrator.kube.sync import api_client

    ap = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=30)
    ap.add_argument("--answer-s", type=float, default=30.0, help="seconds an accepted object may take to get a status")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    scenario = "barcelona"
    cells = scenario_cells(scenario)
    cases = fuzz_cases(args.objects, args.seed, scenario)
    state = Path(tempfile.mkdtemp(prefix="edgeorch-bench-fuzz-"))
    stack = Stack(state / "stack")
    try:
        with local_stack_only():
            st = stack.up(scenario, log=log)
        stack.start_operator()
        api = api_client(Path(st.kubeconfig))
        info = machine(api, packages=("kopf", "hypothesis", "kubernetes"))
        logfile = stack.dir / "logs" / "operator.log"
        result = run(api, cases, namespace="bench-fuzz", cells=cells, answer_s=args.answer_s, batch=args.batch,
                     operator_pid=lambda: stack.supervisor.pid("operator"),
                     operator_log=lambda: logfile.read_text(errors="replace") if logfile.exists() else "")
        api.close()
    finally:
        stack.down(log=log)
    print(table(result))
    out = {"seed": args.seed, "answer_s": args.answer_s, **result.summary(), "machine": info, "outcomes": [asdict(o) for o in result.outcomes]}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.output}")
    for line in result.failures():
        print(f"FAIL {line}")
    return 1 if result.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
