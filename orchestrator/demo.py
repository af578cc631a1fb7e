"""The README's main job: the local stack, the operator, the sample apps, and where they landed.

Prints a short story with timestamps.  Pure orchestration of the other packages; no logic of its own
beyond choosing what to show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.kube.sync import Applier, list_custom, load_manifests, session
from orchestrator.localstack import Stack, StackState
from orchestrator.localstack.tools import REPO_ROOT

SAMPLES = ("video-analytics.yaml", "ar-media.yaml", "bus-tracking.yaml")
Say = Callable[[str], None]


def _stamp(t0: float) -> str:
    return f"[{time.monotonic() - t0:6.1f}s]"


def run(stack: Stack, scenario: str, say: Say, *, timeout: float = 120) -> StackState:
    t0 = time.monotonic()
    say(f"{_stamp(t0)} bringing up the local stack with the {scenario!r} city")
    state = stack.up(scenario, log=lambda m: say(f"{_stamp(t0)}   {m}"))
    say(f"{_stamp(t0)} starting the operator (kopf run operator/handlers.py)")
    stack.start_operator()
    docs = load_manifests(REPO_ROOT / "deploy" / "samples" / name for name in SAMPLES)
    with session(Path(state.kubeconfig)) as api:
        Applier(api).apply_all(docs, parallel=1)
        say(f"{_stamp(t0)} applied {len(docs)} sample EdgeWorkloads: "
            + ", ".join(d["metadata"]["name"] for d in docs))
        names = {d["metadata"]["name"] for d in docs}
        deadline = time.monotonic() + timeout
        while True:
            items = [w for w in list_custom(api, "edgeorch.io", "v1alpha1", "edgeworkloads", "default")
                     if w["metadata"]["name"] in names]
            done = [w for w in items if (w.get("status") or {}).get("phase") in ("Placed", "Unplaceable")]
            if len(done) == len(names) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    say(f"{_stamp(t0)} placement decided:")
    for w in sorted(items, key=lambda w: w["metadata"]["name"]):
        _show(w, say)
    return state


def _show(w: dict[str, Any], say: Say) -> None:
    st = w.get("status") or {}
    spec = w["spec"]
    name = w["metadata"]["name"]
    users = ", ".join(f"{c['cell']} {c['share']:.0%}" for c in spec["users"]["cells"])
    say(f"  {name}: {spec['replicas']} replicas, users in {users}; max {spec['qos']['maxLatencyMs']} ms, "
        f"tiers {spec.get('placement', {}).get('allowedTiers') or 'any'}")
    if st.get("phase") != "Placed":
        reason = {c["type"]: c for c in st.get("conditions", [])}.get("Unplaceable", {}).get("message", "?")
        say(f"    -> {st.get('phase', 'Pending')}: {reason}")
        return
    for p in st["placements"]:
        say(f"    replica {p['replica']} -> {p['node']} ({p['tier']} site {p['site']})")
    solver = st.get("solver", {})
    say(f"    why: worst predicted user latency {st.get('predictedLatencyMs')} ms <= {spec['qos']['maxLatencyMs']} ms; "
        f"{solver.get('name')} {solver.get('status')}, gap {solver.get('gap')}, {solver.get('wallSeconds')} s")
