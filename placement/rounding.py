"""Rounding of the grouped LP to a feasible node assignment.

Most LP counts are integral (placement of identical replicas is close to a transportation
problem). First, for every workload (priority, then the hardest to place first), the
integral part of its LP counts goes group by group to the best-fitting node of the group;
then the remaining replicas go, one at a time, to the node with the lowest marginal
objective, with a bonus for the groups the LP used. A
workload that cannot be completed gives its replicas back and is left unplaced (the
neighbourhood search may still fit it).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from placement.catalog import FloatArray, IntArray
from placement.lp import LpResult
from placement.objective import evaluate, migrations_of
from placement.problem import Packing, Problem, Saved
from placement.tuning import TUNING as T


class _State:
    """One workload being placed: its candidates and replica counts per candidate and site."""

    def __init__(self, problem: Problem, pack: Packing, wi: int) -> None:
        self.w = problem.instance.workloads[wi]
        self.cands = problem.candidates(wi)
        self.sites = problem.cat.node_site[self.cands]
        self.per_node = np.zeros(len(self.cands), dtype=np.int64)  # by candidate position
        self.per_site: Counter[int] = Counter()
        self.pack = pack

    def room(self) -> FloatArray:
        """Free CPU per candidate, -1 where one more replica does not fit (capacity, spread)."""
        w, p, c = self.w, self.pack, self.cands
        ok = (p.free_cpu[c] >= w.cpu_m) & (p.free_mem[c] >= w.memory_mb) & (p.free_gpu[c] >= w.gpu)
        if p.problem.cat.pod_limited:
            ok &= p.free_pods[c] >= 1
        if w.max_per_node is not None:
            ok &= self.per_node < w.max_per_node
        if w.max_per_site is not None:
            for s, k in self.per_site.items():
                if k >= w.max_per_site:
                    ok &= self.sites != s
        out: FloatArray = np.where(ok, p.free_cpu[c].astype(np.float64), -1.0)
        return out

    def take(self, k: int) -> int:
        n = int(self.cands[k])
        self.pack.take(self.w, n)
        self.per_node[k] += 1
        self.per_site[int(self.sites[k])] += 1
        return n

    def undo(self) -> None:
        for k in np.flatnonzero(self.per_node).tolist():
            self.pack.give_back(self.w, int(self.cands[k]), int(self.per_node[k]))
        self.per_node[:] = 0
        self.per_site.clear()


def round_lp(problem: Problem, lp: LpResult, order: list[int], near_only: bool = True) -> dict[str, tuple[str, ...]]:
    """A feasible assignment following the LP counts, workloads in `order`; big workloads are
    completed at once, the others take their integral parts first and the rest afterwards."""
    inst = problem.instance
    cat = problem.cat
    gr = lp.groups
    pack = Packing(problem)
    opening = problem.weights.active_nodes + problem.weights.energy * cat.idle_power
    by_w: dict[int, dict[int, float]] = {}
    for (wi, g), v in lp.values.items():
        by_w.setdefault(wi, {})[g] = v
    states: dict[int, _State] = {}
    chosen: dict[int, list[int]] = {}
    wants: dict[int, dict[int, float]] = {}
    placed: dict[str, tuple[str, ...]] = {}
    current: dict[int, IntArray | None] = {}  # current replicas per candidate position (None: none)

    def integral(wi: int) -> None:  # current nodes first, else best fit, inside each group the LP filled
        st, want = states[wi], wants[wi]
        groups = gr.node_group[st.cands]
        here = current[wi]
        for g, v in sorted(want.items(), key=lambda gv: (-gv[1], gv[0])):
            for _ in range(int(np.floor(v + T.rounding_eps))):
                if len(chosen[wi]) >= st.w.replicas:
                    break
                room = np.where(groups == g, st.room(), -1.0)
                if room.max() < 0:
                    break
                fit = np.where(room >= 0, room, np.inf)
                if here is not None:
                    fit = np.where((room >= 0) & (here > st.per_node), -1.0, fit)
                chosen[wi].append(st.take(int(np.argmin(fit))))
                want[g] -= 1.0

    def finish(wi: int) -> None:  # marginal objective, with a bonus for the LP's groups
        st, want = states[wi], wants[wi]
        groups = gr.node_group[st.cands]
        unit = problem.unit_cost[wi]
        left = np.zeros(len(gr.nodes))
        for g, v in want.items():
            left[g] = v
        while len(chosen[wi]) < st.w.replicas:
            room = st.room()
            if room.max() < 0:
                break
            score: FloatArray = (unit + np.where(pack.active[st.cands], 0.0, opening[st.cands])
                                 - T.rounding_lp_bonus * np.maximum(left[groups], 0.0) + 1e-9 * room)
            here = current[wi]
            if here is not None:  # a replica kept on its node saves a migration
                score = score - problem.weights.migration * (here > st.per_node)
            k = int(np.argmin(np.where(room >= 0, score, np.inf)))
            chosen[wi].append(st.take(k))
            left[int(groups[k])] -= 1.0
        if len(chosen[wi]) < st.w.replicas:
            st.undo()
        else:
            placed[inst.workloads[wi].name] = tuple(cat.node_names[n] for n in chosen[wi])

    big = _big_shares(problem, near_only)
    live = [wi for wi in order if len(problem.candidates(wi))]
    for wi in live:
        states[wi], chosen[wi], wants[wi] = _State(problem, pack, wi), [], dict(by_w.get(wi, {}))
        current[wi] = _current_counts(problem, wi)
        integral(wi)
        if big[wi] > 0:
            finish(wi)
    for wi in live:
        if big[wi] == 0:
            finish(wi)
    pack.assignment = placed
    return _repair(problem, pack, order)


def _current_counts(problem: Problem, wi: int) -> IntArray | None:
    """Current replicas of `wi` per candidate position, None if it runs nowhere."""
    if not problem.instance.workloads[wi].current:
        return None
    counts = problem.current_counts(wi)
    out: IntArray = np.array([counts.get(n, 0) for n in problem.candidates(wi).tolist()], dtype=np.int64)
    return out


def repair(problem: Problem, assignment: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """`assignment` with left-out workloads fitted in where moving others makes it better."""
    inst = problem.instance
    if all(w.name in assignment or not len(problem.candidates(wi)) for wi, w in enumerate(inst.workloads)):
        return assignment
    pack = Packing(problem)
    cat = problem.cat
    for name, nodes in assignment.items():
        pack.commit(inst.workloads[cat.workload_index[name]], [cat.node_index[n] for n in nodes])
    order = sorted(range(len(inst.workloads)), key=lambda i: (-inst.workloads[i].priority, i))
    return _repair(problem, pack, order)


def _repair(problem: Problem, pack: Packing, order: list[int]) -> dict[str, tuple[str, ...]]:
    """Fit each left-out workload on its cheapest nodes that could hold it, moving off them the
    workloads of no higher priority in the way, which are then placed again elsewhere; kept
    only if everything fits and the objective improves."""
    inst = problem.instance
    cat = problem.cat
    opening = problem.weights.active_nodes + problem.weights.energy * cat.idle_power

    def score(p: Packing, wi: int, nodes: IntArray, idx: IntArray) -> FloatArray:
        s: FloatArray = problem.unit_cost[wi][idx] + np.where(p.active[nodes], 0.0, opening[nodes])
        return s

    attempts = 0
    regrets: dict[int, float] = {}  # per workload, memoised for _make_room
    before = evaluate(inst, problem.weights, pack.assignment, problem.penalty).objective
    exact_delta = delta_is_exact(problem)
    for wi in order:
        u = inst.workloads[wi]
        if u.name in pack.assignment or len(problem.candidates(wi)) == 0 or attempts >= T.repair_attempts:
            continue
        attempts += 1
        saved = pack.save()
        moved = _make_room(problem, pack, wi, regrets)
        ok = moved is not None and pack.complete(wi, Counter(), score)
        if ok and moved is not None:
            for vi in sorted(moved, key=lambda v: (-inst.workloads[v].priority, -inst.workloads[v].memory_mb, v)):
                if not pack.complete(vi, Counter(), score):
                    ok = False
                    break
        if ok and moved is not None:
            if exact_delta:
                gain = delta(problem, saved, pack, [wi, *moved])
            else:
                gain = evaluate(inst, problem.weights, pack.assignment, problem.penalty).objective - before
            if gain < -1e-9:
                before += gain
                continue
        pack.restore(saved)
    return pack.assignment


def delta_is_exact(problem: Problem) -> bool:
    """Whether `delta` is the exact objective change: without a balance term (node activity comes
    from Pod slots, so even a workload that requests nothing counts)."""
    return problem.weights.balance == 0


def delta(problem: Problem, saved: Saved, pack: Packing, changed: list[int]) -> float:
    """Objective change from `saved` to `pack` when only `changed` workloads moved (no balance
    term; a node is active iff it runs a replica, i.e. its free Pod slots dropped)."""
    inst = problem.instance
    cat = problem.cat
    wt = problem.weights

    def cost(wi: int, nodes: tuple[str, ...] | None) -> float:
        w = inst.workloads[wi]
        if not nodes:
            return problem.penalty[w.name]
        unit: dict[int, float] = dict(zip(problem.candidates(wi).tolist(), problem.unit_cost[wi].tolist(), strict=True))
        return float(sum(unit[cat.node_index[n]] for n in nodes)) + wt.migration * migrations_of(w, nodes)

    old = saved[4]
    names = [inst.workloads[wi].name for wi in changed]
    value = sum(cost(wi, pack.assignment.get(n)) - cost(wi, old.get(n)) for wi, n in zip(changed, names, strict=True))
    opening = wt.active_nodes + wt.energy * cat.idle_power
    was = saved[5] < cat.free_pods
    now = pack.used()
    return float(value) + float(opening @ (now.astype(np.float64) - was.astype(np.float64)))


def _make_room(problem: Problem, pack: Packing, wi: int, regrets: dict[int, float]) -> list[int] | None:
    """Lift workloads of no higher priority off the nodes `wi` needs (one replica per node,
    spread limits kept) until one replica fits on each, choosing the nodes where that costs
    least (replica cost plus the regret of what is lifted); the lifted ones, or None."""
    inst = problem.instance
    cat = problem.cat
    u = inst.workloads[wi]
    cands = problem.candidates(wi)
    on_node: dict[int, list[int]] = {}
    for name, nodes in pack.assignment.items():
        for node in set(nodes):
            on_node.setdefault(cat.node_index[node], []).append(cat.workload_index[name])
    plans: list[tuple[float, int, list[int]]] = []
    for n, unit in zip(cands.tolist(), problem.unit_cost[wi].tolist(), strict=True):
        movable = sorted((v for v in on_node.get(n, []) if inst.workloads[v].priority <= u.priority
                          and _room_elsewhere(problem, pack, v, n)),
                         key=lambda v: (-inst.workloads[v].memory_mb, -inst.workloads[v].cpu_m, v))
        cpu, mem, gpu = int(pack.free_cpu[n]), int(pack.free_mem[n]), int(pack.free_gpu[n])
        pods = int(pack.free_pods[n])
        lift: list[int] = []
        burden = unit
        while (cpu < u.cpu_m or mem < u.memory_mb or gpu < u.gpu or pods < 1) and movable:
            v = movable.pop(0)
            w = inst.workloads[v]
            k = pack.assignment[w.name].count(cat.node_names[n])
            cpu, mem, gpu = cpu + k * w.cpu_m, mem + k * w.memory_mb, gpu + k * w.gpu
            pods += k
            lift.append(v)
            if v not in regrets:
                regrets[v] = _regret(problem, v)
            burden += w.replicas * min(regrets[v], problem.penalty[w.name])
        if cpu >= u.cpu_m and mem >= u.memory_mb and gpu >= u.gpu and pods >= 1:
            plans.append((burden, n, lift))
    per_site: Counter[int] = Counter()
    lifted: list[int] = []
    needed = u.replicas
    for _burden, n, lift in sorted(plans):
        if needed == 0:
            break
        site = int(cat.node_site[n])
        if u.max_per_site is not None and per_site[site] >= u.max_per_site:
            continue
        for v in lift:
            w = inst.workloads[v]
            if w.name in pack.assignment:
                for m in pack.assignment.pop(w.name):
                    pack.give_back(w, cat.node_index[m])
                lifted.append(v)
        if not pack.fits(u, n):
            continue
        per_site[site] += 1
        needed -= 1
    return lifted if needed == 0 else None


def _room_elsewhere(problem: Problem, pack: Packing, wi: int, node: int) -> bool:
    """Whether other candidate nodes have room for a replica of `wi` (as many as it has)."""
    w = problem.instance.workloads[wi]
    c = problem.candidates(wi)
    ok = ((pack.free_cpu[c] >= w.cpu_m) & (pack.free_mem[c] >= w.memory_mb) & (pack.free_gpu[c] >= w.gpu)
          & (pack.free_pods[c] >= 1) & (c != node))
    return int(ok.sum()) >= w.replicas


def _regret(problem: Problem, wi: int) -> float:
    """Per-replica loss if the workload had to leave its cheapest site (inf: one site only)."""
    nodes = problem.candidates(wi)
    sites = problem.cat.node_site[nodes]
    best: dict[int, float] = {}
    for s, c in zip(sites.tolist(), problem.unit_cost[wi].tolist(), strict=True):
        best[s] = min(c, best.get(s, np.inf))
    ranked = sorted(best.values())
    return ranked[1] - ranked[0] if len(ranked) > 1 else 1e6


def _big_shares(problem: Problem, near_only: bool = True) -> list[float]:
    """Per workload, its largest CPU or memory share of a typical node among the ones it wants
    most (median of its 2 x replicas cheapest candidates) or, with `near_only` False, of the
    mean candidate; rounded to 0.1, 0 below Tuning.rounding_big_share."""
    cat = problem.cat
    inst = problem.instance
    pr = problem.pairs()
    n_w = len(inst.workloads)
    sizes = np.diff(pr.start)
    if near_only:
        order = np.lexsort((pr.unit, pr.w))  # by workload, then cost (stable: candidate order)
        rank = np.arange(len(order)) - pr.start[pr.w[order]]
        want = np.array([max(3, 2 * w.replicas) for w in inst.workloads], dtype=np.int64)
        near = order[rank < want[pr.w[order]]]
        cpu, mem = _median_by(pr.w[near], cat.free_cpu[pr.node[near]], n_w), _median_by(
            pr.w[near], cat.free_mem[pr.node[near]], n_w)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            cpu = np.bincount(pr.w, weights=cat.free_cpu[pr.node].astype(np.float64), minlength=n_w) / sizes
            mem = np.bincount(pr.w, weights=cat.free_mem[pr.node].astype(np.float64), minlength=n_w) / sizes
    out: list[float] = []
    for wi, w in enumerate(inst.workloads):
        if sizes[wi] == 0:
            out.append(0.0)
            continue
        c, m = float(cpu[wi]), float(mem[wi])
        share = max(w.cpu_m / c if c > 0 else 1.0, w.memory_mb / m if m > 0 else 1.0)
        out.append(round(share, 1) if share >= T.rounding_big_share else 0.0)
    return out


def _median_by(group: IntArray, values: IntArray, n: int) -> FloatArray:
    """Median of `values` per group id (0..n-1; nan for an empty group)."""
    order = np.lexsort((values, group))
    v = values[order].astype(np.float64)
    counts = np.bincount(group, minlength=n)
    first = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(counts)[:-1]])
    out = np.full(n, np.nan)
    has = counts > 0
    lo, hi = first[has] + (counts[has] - 1) // 2, first[has] + counts[has] // 2
    out[has] = (v[lo] + v[hi]) / 2.0
    return out


def lp_order(problem: Problem, lp: LpResult, near_only: bool = True) -> list[int]:
    """Big workloads first (packing them late fragments the nodes they need), then priority,
    then the fewest candidate groups."""
    inst = problem.instance
    n_groups: IntArray = np.isfinite(lp.groups.cost).sum(axis=1).astype(np.int64)
    big = _big_shares(problem, near_only)
    return sorted(range(len(inst.workloads)),
                  key=lambda i: (-big[i], -inst.workloads[i].priority, int(n_groups[i]), i))
