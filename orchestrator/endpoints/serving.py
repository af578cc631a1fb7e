"""The serving map: which replica serves the users of each radio cell (EdgeWorkload `status.serving`).

Each cell of `spec.users` is served by the Ready replica Pod with the lowest predicted latency from
the cell to the Pod's site, by the placement's own latency model (`placement.objective.cell_latency`:
the measured cell -> site round trip plus the site's penalty, what the solver bounds and weighs).
A Pod of an earlier placement serves while it is Ready and not being deleted: moves are make before
break, so a cell changes replica (a relocation) once the new replica is Ready and nearer, or the old
one goes.  The Pod that served a cell before keeps it while it is within STICKY_MS (or STICKY_SHARE)
of the best, so measurement noise between two near sites makes no relocations, and its `latencyMs`
moves only by more than that too (no status write for noise); other ties take the lowest replica
index.  With no Ready Pod, a cell maps to the nearest replica of the placement (its Pod and IP when it
has one, `ready: false`).

`serving_map` is pure; `for_status` gathers its inputs for the workload controller, the one writer
of the status (orchestrator.workloads writes what it returns with the rest of the status).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.engine import PlacementEngine
from orchestrator.resources import CellEndpoint, EdgeWorkloadSpec, ReplicaPlacement
from orchestrator.rollout import PodState
from orchestrator.vocabulary import SITE_LABEL
from placement.objective import cell_latency

Latency = Mapping[str, Mapping[str, float]]
STICKY_MS = 0.5  # a cell stays with its Pod unless another is nearer by more than this,
STICKY_SHARE = 0.05  # or by more than this share of its latency


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= max(STICKY_MS, STICKY_SHARE * min(a, b))


@dataclass(frozen=True)
class Candidate:
    """A replica that can serve: its Pod (None: not made yet), where it runs, and whether it is Ready."""

    pod: str | None
    node: str
    site: str
    replica: int | None = None  # index in status.placements (None: a Pod of an earlier placement)
    ip: str = ""
    ready: bool = False


def candidates(placements: Sequence[ReplicaPlacement], pods: Mapping[str, PodState], version: str,
               site_of_node: Mapping[str, str]) -> list[Candidate]:
    """The workload's Pods (current version on a placed node: with their replica index), and the
    placed replicas no Pod stands for yet."""
    by_node: dict[str, list[ReplicaPlacement]] = {}
    for p in sorted(placements, key=lambda p: p.replica):
        by_node.setdefault(p.node, []).append(p)
    out: list[Candidate] = []
    for name, pod in sorted(pods.items(), key=lambda kv: (not kv[1].ready, kv[0])):
        placed = by_node.get(pod.node) if pod.version == version else None
        replica = placed.pop(0) if placed else None
        site = replica.site if replica else site_of_node.get(pod.node, "")
        if site:
            out.append(Candidate(name, pod.node, site, replica.replica if replica else None, pod.ip, pod.ready))
    out.extend(Candidate(None, p.node, p.site, p.replica) for left in by_node.values() for p in left)
    return out


def serving_map(cells: Sequence[str], pool: Sequence[Candidate], latency: Latency,
                penalty_ms: Mapping[str, float] | None = None,
                previous: Sequence[CellEndpoint] = ()) -> list[CellEndpoint]:
    """Each cell's serving replica (see the module docstring), in the order of `cells`; empty when
    nothing can serve."""
    ready = [c for c in pool if c.ready and c.pod]
    choices = ready or list(pool)
    if not choices:
        return []
    penalty = penalty_ms or {}
    before = {e.cell: e for e in previous}
    out: list[CellEndpoint] = []
    for cell in cells:
        def ms(c: Candidate, cell: str = cell) -> float:
            return cell_latency(latency, penalty, cell, c.site)

        best = min(choices, key=lambda c: (ms(c), c.replica is None, c.replica or 0, c.pod or ""))
        was = before.get(cell)
        kept = next((c for c in choices if was is not None and c.pod is not None and c.pod == was.pod), None)
        if kept is not None and ms(kept) != math.inf and _close(ms(kept), ms(best)):
            best = kept
        fresh = ms(best)
        shown = None if fresh == math.inf else round(fresh, 3)
        if was is not None and shown is not None and was.latency_ms is not None and best.pod == was.pod \
                and best.site == was.site and _close(was.latency_ms, shown):
            shown = was.latency_ms
        out.append(CellEndpoint(cell=cell, replica=best.replica, site=best.site, node=best.node, pod=best.pod,
                                podIP=best.ip or None, ready=best.ready, latency_ms=shown))
    return out


async def for_status(engine: PlacementEngine, spec: EdgeWorkloadSpec, placements: Sequence[ReplicaPlacement],
                     pods: Mapping[str, PodState], version: str,
                     previous: Sequence[CellEndpoint]) -> list[CellEndpoint] | None:
    """The serving map for the status the controller is about to write (`pods`: those that stay
    after this rollout step); None when no latency is known yet (the status keeps its map)."""
    latency = await engine.latency_ms()
    if latency is None:
        return None
    placed = {p.node for p in placements}
    site_of_node = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(SITE_LABEL, "")
                    for n in engine.view.nodes()} if any(p.node not in placed for p in pods.values()) else {}
    pool = candidates(placements, pods, version, site_of_node)
    return serving_map([c.cell for c in spec.users.cells], pool, latency, engine.site_penalty_ms, previous)
