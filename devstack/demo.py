"""The README's main job: the local stack, the operator, the sample apps, and where they landed;
then a QoS story (devstack.story): a latency fault at the busiest edge site, the SLA breach on
chain, the offload, the recovery and the fail-back.

Prints the story with timestamps.  Pure orchestration of the other packages; no logic of its own
beyond choosing what to show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devstack import story
from devstack.localstack import Stack, StackState
from devstack.localstack.tools import REPO_ROOT
from orchestrator.kube.sync import Applier, list_custom, load_manifests, session
from orchestrator.vocabulary import API_GROUP, API_VERSION, EDGEWORKLOADS

SAMPLES = ("video-analytics.yaml", "ar-media.yaml", "bus-tracking.yaml")
SLA_SAMPLE = "video-analytics-sla.yaml"
Say = Callable[[str], None]


def _stamp(t0: float) -> str:
    return f"[{time.monotonic() - t0:6.1f}s]"


def run(stack: Stack, scenario: str, say: Say, *, timeout: float = 120, qos_story: bool = True) -> StackState:
    t0 = time.monotonic()
    say(f"{_stamp(t0)} bringing up the local stack with the {scenario!r} city")
    state = stack.up(scenario, log=lambda m: say(f"{_stamp(t0)}   {m}"))
    say(f"{_stamp(t0)} starting the operator (kopf run operator/handlers.py)")
    stack.start_operator()
    act(state, say, t0, timeout=timeout, qos_story=qos_story)
    return state


def act(state: StackState, say: Say, t0: float, *, namespace: str = "default", timeout: float = 120,
        qos_story: bool = True) -> story.Told | None:
    """Place the sample apps (and the video-analytics SLA) in `namespace`, show where and why, then tell
    the QoS story; returns what the story saw (None without it)."""
    samples = REPO_ROOT / "deploy" / "samples"
    docs = load_manifests(samples / name for name in SAMPLES)
    for d in docs:
        d["metadata"]["namespace"] = namespace
    sla = story.demo_sla(load_manifests([samples / SLA_SAMPLE])[0], namespace)
    with session(Path(state.kubeconfig)) as api:
        Applier(api).apply_all([*docs, sla], parallel=1)
        say(f"{_stamp(t0)} applied {len(docs)} sample EdgeWorkloads: "
            + ", ".join(d["metadata"]["name"] for d in docs) + f", and the ServiceLevelAgreement {sla['metadata']['name']}"
            f" (latency p95 < {sla['spec']['objectives'][0]['thresholds']['warning']} ms)")
        names = {d["metadata"]["name"] for d in docs}
        deadline = time.monotonic() + timeout
        while True:
            items = [w for w in list_custom(api, API_GROUP, API_VERSION, EDGEWORKLOADS, namespace)
                     if w["metadata"]["name"] in names]
            done = [w for w in items if (w.get("status") or {}).get("phase") in ("Placed", "Unplaceable")]
            if len(done) == len(names) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    say(f"{_stamp(t0)} placement decided:")
    for w in sorted(items, key=lambda w: w["metadata"]["name"]):
        _show(w, say)
    if not qos_story:
        return None
    say(f"{_stamp(t0)} the QoS story:")
    told = story.play(Path(state.kubeconfig), state.chain_url, state.exporter_url, items, say,
                      lambda: _stamp(t0), namespace=namespace)
    say(f"{_stamp(t0)} story " + ("complete: breach on chain, offload, recovery, fail-back" if told.complete
                                  else "incomplete (see the lines above); the operator log is in the stack's logs/"))
    return told


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
