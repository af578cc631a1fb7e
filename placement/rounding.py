"""Rounding of the grouped LP to a feasible node assignment.

Most LP counts are integral (placement of identical replicas is close to a transportation
problem). Workload by workload (priority, then the hardest to place first), the integral
part of its LP counts goes group by group to the best-fitting node of the group; the
remaining replicas go, one at a time, to the node with the lowest marginal objective, with
a bonus for the groups the LP used. A
workload that cannot be completed gives its replicas back and is left unplaced (the
neighbourhood search may still fit it).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from placement.catalog import FloatArray, IntArray
from placement.lp import LpResult
from placement.problem import Packing, Problem

EPS = 1e-6
LP_BONUS = 1e3  # per unit of LP count still unused in the node's group


class _State:
    def __init__(self, problem: Problem, pack: Packing, wi: int) -> None:
        self.w = problem.instance.workloads[wi]
        self.cands = problem.candidates(wi)
        self.sites = problem.cat.node_site[self.cands]
        self.per_node: Counter[int] = Counter()
        self.per_site: Counter[int] = Counter()
        self.pack = pack

    def room(self) -> FloatArray:
        """Free CPU per candidate, -1 where one more replica does not fit (capacity, spread)."""
        w, p, c = self.w, self.pack, self.cands
        ok = (p.free_cpu[c] >= w.cpu_m) & (p.free_mem[c] >= w.memory_mb) & (p.free_gpu[c] >= w.gpu)
        if w.max_per_node is not None and self.per_node:
            ok &= np.array([self.per_node[int(n)] < w.max_per_node for n in c.tolist()], dtype=np.bool_)
        if w.max_per_site is not None and self.per_site:
            ok &= np.array([self.per_site[int(s)] < w.max_per_site for s in self.sites.tolist()], dtype=np.bool_)
        out: FloatArray = np.where(ok, p.free_cpu[c].astype(np.float64), -1.0)
        return out

    def take(self, k: int) -> int:
        n = int(self.cands[k])
        self.pack.take(self.w, n)
        self.per_node[n] += 1
        self.per_site[int(self.sites[k])] += 1
        return n

    def undo(self) -> None:
        for n, c in self.per_node.items():
            self.pack.give_back(self.w, n, c)
        self.per_node.clear()
        self.per_site.clear()


def round_lp(problem: Problem, lp: LpResult, order: list[int]) -> dict[str, tuple[str, ...]]:
    """A feasible assignment following the LP counts; workloads in `order` (priority first)."""
    inst = problem.instance
    cat = problem.cat
    gr = lp.groups
    pack = Packing(problem)
    opening = problem.weights.active_nodes + problem.weights.energy * cat.idle_power
    by_w: dict[int, dict[int, float]] = {}
    for (wi, g), v in lp.values.items():
        by_w.setdefault(wi, {})[g] = v
    placed: dict[str, tuple[str, ...]] = {}
    for wi in order:
        st = _State(problem, pack, wi)
        if len(st.cands) == 0:
            continue
        chosen: list[int] = []
        want = dict(by_w.get(wi, {}))
        groups = gr.node_group[st.cands]
        for g, v in sorted(want.items(), key=lambda gv: (-gv[1], gv[0])):  # integral parts, best fit
            for _ in range(int(np.floor(v + EPS))):
                if len(chosen) >= st.w.replicas:
                    break
                room = np.where(groups == g, st.room(), -1.0)
                if room.max() < 0:
                    break
                chosen.append(st.take(int(np.argmin(np.where(room >= 0, room, np.inf)))))
                want[g] -= 1.0
        unit = problem.unit_cost[wi]
        while len(chosen) < st.w.replicas:  # the rest: marginal objective, bonus for LP groups
            room = st.room()
            if room.max() < 0:
                break
            bonus = np.array([max(0.0, want.get(int(g), 0.0)) for g in groups.tolist()])
            score: FloatArray = (unit + np.where(pack.active[st.cands], 0.0, opening[st.cands])
                                 - LP_BONUS * bonus + 1e-9 * room)
            k = int(np.argmin(np.where(room >= 0, score, np.inf)))
            chosen.append(st.take(k))
            want[int(groups[k])] = want.get(int(groups[k]), 0.0) - 1.0
        if len(chosen) < st.w.replicas:
            st.undo()
            continue
        placed[inst.workloads[wi].name] = tuple(cat.node_names[n] for n in chosen)
    return placed


def lp_order(problem: Problem, lp: LpResult) -> list[int]:
    """Priority first, then the workloads with the fewest candidate groups (hardest to place)."""
    inst = problem.instance
    n_groups: IntArray = np.isfinite(lp.groups.cost).sum(axis=1).astype(np.int64)
    return sorted(range(len(inst.workloads)), key=lambda i: (-inst.workloads[i].priority, int(n_groups[i]), i))
