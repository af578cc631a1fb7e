"""SLA-driven elasticity, the decisions: what size an agreement asks of its workload, and when.

Scale up on a breach of an `act` objective while the workload's CPU use is high: a vertical step
(+stepPercent of the request, up to maxCpu) when the policy has one and it is not at its bound, else
one more replica (up to maxReplicas, never while a HorizontalPodAutoscaler owns the replica count).
Step down after a quiet period (every `act` objective met for quietSeconds, and as long since the
last resize) with low use: one replica less first (the last step up is undone first), else a
vertical step down (to minCpu).  Vertical steps follow a ladder, spec cpu x (1 + step)^k, so a step
down after a step up lands exactly where it started.  A breach of a `suspend` objective freezes the
workload (no resize, no move) until it ends; an `ignore` breach changes nothing.

Pure: no I/O (orchestrator.scaler reads the metrics and records the intents; the controller carries
them out: orchestrator.resize).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestrator.resources.common import parse_quantity
from orchestrator.resources.elasticity import BreachType, Elasticity, ResizeDirection, ResizeIntent
from orchestrator.resources.sla import ServiceLevelAgreementSpec
from orchestrator.vocabulary import ObjectiveState


def millicores(value: str | int) -> int:
    return math.ceil(parse_quantity(value) * 1000)


@dataclass(frozen=True)
class Size:
    """A workload's size: CPU request per replica (millicores) and replicas."""

    cpu_m: int
    replicas: int


def current(spec: Mapping[str, Any], intent: ResizeIntent | None) -> Size:
    """The size the agreement holds its workload at: its intent's where the intent was decided on
    the workload's present spec (per dimension), else the spec's."""
    cpu, replicas = millicores(spec["resources"]["cpu"]), int(spec["replicas"])
    if intent is None:
        return Size(cpu, replicas)
    return Size(intent.cpu_millis if intent.cpu_millis is not None and intent.spec_cpu_millis == cpu else cpu,
                intent.replicas if intent.replicas is not None and intent.spec_replicas == replicas else replicas)


def _ladder(base: int, step: int, k: int) -> int:
    return max(1, round(base * (1 + step / 100) ** k))


def cpu_up(base: int, cur: int, step: int, top: int) -> int | None:
    """The next rung above `cur` on the ladder from `base` (at most `top`), or None."""
    k = math.floor(math.log(cur / base, 1 + step / 100) + 1e-9) + 1
    new = min(top, _ladder(base, step, k))
    return new if new > cur else None


def cpu_down(base: int, cur: int, step: int, bottom: int) -> int | None:
    """The next rung below `cur` (at least `bottom`), or None."""
    k = math.ceil(math.log(cur / base, 1 + step / 100) - 1e-9) - 1
    new = max(bottom, _ladder(base, step, k))
    return new if new < cur else None


@dataclass(frozen=True)
class Observed:
    """What the scaler saw of the agreement and its workload at one evaluation."""

    breach: tuple[int, int] | None  # the newest open `act` breach: (objective, first bad window)
    quiet_s: float  # how long every `act` objective has been met (0 while one is breached or has no data)
    use_cores: float | None  # CPU one replica uses (None: no data)
    hpa: str | None  # the HorizontalPodAutoscaler that owns the replica count, if any
    now: float
    since_last_s: float  # since the last resize of this agreement (inf: none yet)


@dataclass(frozen=True)
class Decision:
    """A resize to record (`size` set), or why none (`held`: said as an Event once)."""

    size: Size | None = None
    direction: ResizeDirection | None = None
    reason: str = ""
    held: str = ""


def decide(policy: Elasticity, spec: Mapping[str, Any], size: Size, seen: Observed) -> Decision:
    """The resize the agreement asks for now (see the module docstring), or none."""
    use = None if seen.use_cores is None else seen.use_cores / (size.cpu_m / 1000)
    base = millicores(spec["resources"]["cpu"])
    v, h = policy.vertical, policy.horizontal
    if seen.hpa is not None and size.replicas != int(spec["replicas"]):  # an HPA came: its count rules
        return Decision(Size(size.cpu_m, int(spec["replicas"])), ResizeDirection.DOWN if size.replicas > int(
            spec["replicas"]) else ResizeDirection.UP, f"HorizontalPodAutoscaler {seen.hpa} owns the replica count: "
            f"replicas {size.replicas} -> {spec['replicas']} (spec.replicas)")
    if seen.breach is not None:
        if use is None or use < policy.cpu_use.high or seen.since_last_s < policy.step_seconds:
            return Decision()
        why = f"CPU use {use:.0%} of the request (high: {policy.cpu_use.high:.0%}) during a breach"
        if v is not None and (new := cpu_up(base, size.cpu_m, v.step_percent, millicores(v.max_cpu))) is not None:
            return Decision(Size(new, size.replicas), ResizeDirection.UP, f"{why}: cpu {size.cpu_m}m -> {new}m")
        if h is not None and seen.hpa is None and size.replicas < h.max_replicas:
            return Decision(Size(size.cpu_m, size.replicas + 1), ResizeDirection.UP,
                            f"{why}: replicas {size.replicas} -> {size.replicas + 1}")
        bounds = [f"cpu at {size.cpu_m}m (max {v.max_cpu})" for _ in [v] if v is not None]
        if h is not None:
            bounds.append(f"replicas owned by HorizontalPodAutoscaler {seen.hpa}" if seen.hpa
                          else f"replicas at {size.replicas} (max {h.max_replicas})")
        return Decision(held=f"{why}, but {' and '.join(bounds) or 'no scaling is configured'}")
    if use is None or use > policy.cpu_use.low or min(seen.quiet_s, seen.since_last_s) < policy.quiet_seconds:
        return Decision()
    why = f"quiet for {policy.quiet_seconds} s with CPU use {use:.0%} of the request (low: {policy.cpu_use.low:.0%})"
    if h is not None and seen.hpa is None and size.replicas > h.min_replicas:
        return Decision(Size(size.cpu_m, size.replicas - 1), ResizeDirection.DOWN,
                        f"{why}: replicas {size.replicas} -> {size.replicas - 1}")
    if v is not None and (new := cpu_down(base, size.cpu_m, v.step_percent, millicores(v.min_cpu))) is not None:
        return Decision(Size(new, size.replicas), ResizeDirection.DOWN, f"{why}: cpu {size.cpu_m}m -> {new}m")
    return Decision()


def intent(decision: Decision, spec: Mapping[str, Any], seq: int, seen: Observed) -> ResizeIntent:
    """The agreement's status.resizeIntent for a decision with a size."""
    assert decision.size is not None and decision.direction is not None
    base_cpu, base_replicas = millicores(spec["resources"]["cpu"]), int(spec["replicas"])
    return ResizeIntent(
        seq=seq, direction=decision.direction,
        cpu_millis=None if decision.size.cpu_m == base_cpu else decision.size.cpu_m,
        replicas=None if decision.size.replicas == base_replicas else decision.size.replicas,
        spec_cpu_millis=base_cpu, spec_replicas=base_replicas,
        objective=seen.breach[0] if seen.breach and decision.direction == ResizeDirection.UP else None,
        window_start=seen.breach[1] if seen.breach and decision.direction == ResizeDirection.UP else None,
        reason=decision.reason[:1000], time=datetime.fromtimestamp(int(seen.now), UTC))


# -- what the agreement's objectives say ------------------------------------------------------------
def breach_types(spec: ServiceLevelAgreementSpec) -> list[BreachType]:
    return [o.meaning for o in spec.objectives]


def open_breaches(objectives: Sequence[Mapping[str, Any]], types: Sequence[BreachType],
                  kind: BreachType) -> list[tuple[int, int, str]]:
    """(first bad window, objective index, name) of the objectives of breach type `kind` breached now."""
    return [(int(o["breachWindowStart"]), i, str(o.get("name"))) for i, o in enumerate(objectives)
            if i < len(types) and types[i] == kind and o.get("state") == ObjectiveState.BREACHED
            and o.get("breachWindowStart") is not None]


def quiet_seconds(objectives: Sequence[Mapping[str, Any]], types: Sequence[BreachType], interval_s: int) -> float:
    """How long every `act` objective has been met: its good windows in a row x the interval (0 while
    one is breached or has no data yet)."""
    acting = [o for i, o in enumerate(objectives) if i < len(types) and types[i] == BreachType.ACT]
    if not acting:
        return math.inf
    if any(o.get("state") != ObjectiveState.OK for o in acting):
        return 0.0
    return float(min(int(o.get("goodWindows") or 0) for o in acting) * interval_s)
