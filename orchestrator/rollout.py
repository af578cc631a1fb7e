"""Rolling replacement of replica Pods, as a Deployment's RollingUpdate: make before break.

The placement decides where the replicas of the current version go (`target`, one node per
replica); `step()` says what to do now to get there from the Pods that run, within the strategy:
at most `replicas + maxSurge` Pods, and at least `replicas - maxUnavailable` Ready ones.  A Pod of
the current version on a wanted node is kept; every other Pod (an older version, or a node no
longer wanted: a move, a scale-down) is stale.  New Pods are created first; a stale Pod is deleted
only while enough Ready ones remain, so a move waits until its new replica is Ready.  Stale Pods
that are not Ready cost no availability and go at once, and so do those on a node that is gone
(they cannot wait).  A Pod on a NotReady node serves nobody: it counts as not Ready whatever its own
condition still says (the node controller marks it so only when it gets to it, and a restarted
control plane may never), so a move off a dead node never waits for it.  The controller calls `step()` again until it is done.

Also the Deployment-style conditions (Available, Progressing) that report a step.  Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from orchestrator.resources import EdgeWorkloadSpec, EdgeWorkloadStatus
from orchestrator.resources.common import Condition, ConditionStatus, scaled, set_condition
from orchestrator.vocabulary import NODE_LABEL, TEMPLATE_HASH_LABEL, EventType, Reason
from orchestrator.vocabulary import WorkloadCondition as Cond


@dataclass(frozen=True)
class PodState:
    """One replica Pod as far as a rollout cares: where, which version, and whether it is Ready (and
    its IP, for the serving map: orchestrator.endpoints.serving)."""

    node: str
    version: str = ""
    ready: bool = False
    ip: str = ""
    uid: str = ""  # metadata.uid (names are reused across versions: a delete is for this Pod only)


def pod_state(pod: Mapping[str, Any]) -> PodState:
    """A replica Pod's state from its manifest: the node it is pinned to, its version, Ready."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    labels = meta.get("labels") or {}
    node = labels.get(NODE_LABEL) or (pod.get("spec") or {}).get("nodeName") or ""
    return PodState(node, labels.get(TEMPLATE_HASH_LABEL, ""), pod_ready(status), status.get("podIP") or "",
                    str(meta.get("uid") or ""))


def pod_ready(status: Mapping[str, Any]) -> bool:
    """Whether a Pod's status says Ready (its Ready condition is True)."""
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def version_of(spec: EdgeWorkloadSpec) -> str:
    """The hash of what a replica Pod is made of (template, resources, priority): a change rolls."""
    made_of = {"template": spec.template.model_dump(mode="json", by_alias=True, exclude_none=True),
               "resources": spec.resources.model_dump(mode="json", by_alias=True, exclude_none=True),
               "priority": spec.priority}
    return hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()[:10]


def limits(spec: EdgeWorkloadSpec, replicas: int | None = None) -> tuple[int, int]:
    """(max surge, max unavailable) as counts for `replicas` (default: the spec's)."""
    n = spec.replicas if replicas is None else replicas
    surge = scaled(spec.strategy.max_surge, n, round_up=True)
    unavailable = scaled(spec.strategy.max_unavailable, n, round_up=False)
    if surge == 0 and unavailable == 0:  # a percentage of a few replicas rounds to 0: keep moving
        surge = 1
    return surge, unavailable


@dataclass(frozen=True)
class Step:
    """What to do now: Pods to create (node, index on that node) and to delete, and the counts the
    status reports once that is done."""

    create: tuple[tuple[str, int], ...]
    delete: tuple[str, ...]
    updated: int  # Pods of the current version, the created ones included
    ready: int  # Ready Pods that remain
    ready_updated: int  # Ready Pods of the current version on wanted nodes
    done: bool  # every replica of the current version runs where wanted and is Ready; nothing stale

    @property
    def empty(self) -> bool:
        return not self.create and not self.delete


def step(pods: Mapping[str, PodState], target: Sequence[str], version: str, max_surge: int, max_unavailable: int,
         gone: frozenset[str] = frozenset(), down: frozenset[str] = frozenset()) -> Step:
    """The next step from `pods` (name -> state) towards `target` (see the module docstring); `gone`:
    nodes that no longer exist, `down`: nodes that are NotReady (their Pods count as not Ready)."""
    if down:
        pods = {n: replace(p, ready=False) if p.node in down else p for n, p in pods.items()}
    want = Counter(target)
    keep: list[str] = []
    for name, pod in sorted(pods.items(), key=lambda kv: (not kv[1].ready, kv[0])):  # Ready ones first
        if pod.version == version and want[pod.node] > 0 and pod.node not in gone:
            want[pod.node] -= 1
            keep.append(name)
    kept = set(keep)
    stale = sorted((n for n in pods if n not in kept), key=lambda n: (pods[n].ready, n))
    delete = [n for n in stale if not pods[n].ready or pods[n].node in gone]
    ready = sum(1 for n, p in pods.items() if p.ready and n not in delete)
    room = max(0, len(target) + max_surge - (len(pods) - len(delete)))
    missing = sorted(node for node, k in want.items() for _ in range(k))
    create = _indexed(missing[:room], pods)
    floor = len(target) - max_unavailable
    for name in stale:
        if name not in delete and ready - 1 >= floor:
            delete.append(name)
            ready -= 1
    ready_updated = sum(1 for n in keep if pods[n].ready)
    left = set(pods) - set(delete)
    updated = sum(1 for n in left if pods[n].version == version) + len(create)
    done = not create and not delete and len(missing) == 0 and left == kept and ready_updated == len(target)
    return Step(tuple(create), tuple(delete), updated, ready, ready_updated, done)


def _indexed(nodes: Sequence[str], pods: Mapping[str, PodState]) -> list[tuple[str, int]]:
    """(node, index) for new Pods: the lowest index on that node no Pod there has (names are
    `<workload>-<node hash>-<index>`, so a Pod made twice is one Pod)."""
    taken: dict[str, set[int]] = {}
    for name, pod in pods.items():
        taken.setdefault(pod.node, set()).add(_index(name))
    out: list[tuple[str, int]] = []
    for node in nodes:
        used = taken.setdefault(node, set())
        i = 0
        while i in used:
            i += 1
        used.add(i)
        out.append((node, i))
    return out


def _index(name: str) -> int:
    try:
        return int(name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def moves(before: Sequence[str], after: Sequence[str]) -> int:
    """Replicas a new placement moves: those that leave a node for another (a scale is no move)."""
    return min(sum((Counter(after) - Counter(before)).values()), sum((Counter(before) - Counter(after)).values()))


def conditions(st: EdgeWorkloadStatus, plan: Step, replicas: int, unavailable: int, stalled: bool,
                       gen: int | None, events: list[tuple[str, str, str]], *, rolling: bool,
                       crowded: Sequence[str] = ()) -> list[Any]:
    """Available and Progressing, as a Deployment's; a rollout (`rolling`: Pods of an older version
    remain) that finishes or stalls says so once, in an Event.  `crowded`: nodes where a new replica
    waits for room (said in the Progressing message)."""
    floor = replicas - unavailable
    conds = set_condition(st.conditions, Cond.AVAILABLE,
                          ConditionStatus.TRUE if plan.ready >= floor else ConditionStatus.FALSE,
                          Reason.MINIMUM_REPLICAS_AVAILABLE if plan.ready >= floor else Reason.MINIMUM_REPLICAS_UNAVAILABLE,
                          f"{plan.ready} of {replicas} replicas Ready (at least {floor} wanted)", gen)
    before = next((c for c in st.conditions if c.type == Cond.PROGRESSING), None)
    if plan.done:
        why, state, message = Reason.ROLLOUT_COMPLETE, ConditionStatus.TRUE, f"all {replicas} replicas updated and Ready"
        if before is not None and before.reason in (Reason.ROLLING_UPDATE, Reason.PROGRESS_DEADLINE_EXCEEDED):
            events.append((EventType.NORMAL, Reason.ROLLOUT_COMPLETE, message))
    elif stalled:
        why, state = Reason.PROGRESS_DEADLINE_EXCEEDED, ConditionStatus.FALSE
        message = (f"no new replica became Ready within the progress deadline; {plan.ready_updated} of {replicas} "
                   f"updated and Ready, the others keep running")
        if crowded:
            message += f"; no room for a new replica on node(s) {', '.join(crowded)}"
        if before is None or before.reason != Reason.PROGRESS_DEADLINE_EXCEEDED:
            events.append((EventType.WARNING, Reason.PROGRESS_DEADLINE_EXCEEDED, message))
    else:
        why, state = (Reason.ROLLING_UPDATE if rolling else Reason.REPLICAS_UPDATED), ConditionStatus.TRUE
        message = f"{plan.ready_updated} of {replicas} replicas updated and Ready"
        if crowded:
            message += f"; waiting for room on node(s) {', '.join(crowded)}"
    return set_condition(conds, Cond.PROGRESSING, state, why, message, gen)


def same_conditions(old: Sequence[Condition], new: Sequence[Condition]) -> bool:
    """Whether two condition lists say the same (times aside)."""
    return {(c.type, c.status, c.reason, c.message) for c in old} == {(c.type, c.status, c.reason, c.message) for c in new}
