"""A prepared problem (catalog + filtered candidates) and the packing state heuristics share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from placement.catalog import BoolArray, Catalog, FloatArray, IntArray
from placement.model import TIERS, Instance, Weights, Workload
from placement.objective import unplaced_penalties
from placement.prefilter import Feasibility, feasible_all, site_latency


class Problem:
    """An instance after filtering: feasible nodes per workload, unit costs, penalties."""

    def __init__(self, inst: Instance, weights: Weights) -> None:
        self.instance = inst
        self.weights = weights
        self.cat = Catalog(inst, weights)
        cat = self.cat
        mean, worst = site_latency(cat)
        self.feasibility: list[Feasibility] = feasible_all(cat, worst)
        per_cpu = weights.cost * cat.cost_per_cpu + weights.energy * cat.power_per_cpu
        self.unit_cost: list[FloatArray] = [
            weights.latency * mean[wi, cat.node_site[f.nodes]] + (w.cpu_m / 1000.0) * per_cpu[f.nodes]
            + (weights.preference * (cat.site_tier[cat.node_site[f.nodes]] != TIERS.index(w.prefer_tier))
               if w.prefer_tier is not None else 0.0)
            for wi, (w, f) in enumerate(zip(inst.workloads, self.feasibility, strict=True))
        ]
        self.penalty = unplaced_penalties(inst, weights)
        self._pairs: Pairs | None = None
        self._current: tuple[IntArray, IntArray, IntArray] | None = None
        self._alone: IntArray | None = None

    def pairs(self) -> Pairs:
        """Every feasible (workload, node) pair as flat arrays (built once)."""
        if self._pairs is None:
            self._pairs = Pairs(self)
        return self._pairs

    def alone_replicas(self) -> IntArray:
        """Per workload, the most of its replicas that fit on its candidate nodes with no other
        workload there (max_per_node and max_per_site included); below `replicas`, it cannot run."""
        if self._alone is None:
            pr, cat, ws = self.pairs(), self.cat, self.instance.workloads
            n_s = len(cat.site_names)
            per_site = np.bincount(pr.w * n_s + cat.node_site[pr.node], weights=pr.slots.astype(np.float64),
                                   minlength=len(ws) * n_s).reshape(len(ws), n_s)
            cap = np.array([w.max_per_site if w.max_per_site is not None else w.replicas for w in ws], dtype=np.float64)
            self._alone = np.minimum(per_site, cap[:, None]).sum(axis=1).astype(np.int64)
        return self._alone

    def unavoidable_penalty(self) -> float:
        """The penalties of the workloads that cannot run even alone (`alone_replicas` below their
        replicas): every solution pays them, and no objective term is negative, so this is a bound."""
        alone = self.alone_replicas()
        return float(sum(self.penalty[w.name] for wi, w in enumerate(self.instance.workloads)
                         if alone[wi] < w.replicas))

    def current_replicas(self) -> tuple[IntArray, IntArray, IntArray]:
        """Every current replica as flat arrays: workload, node, and its pair position (-1 where
        the node is no longer a candidate of the workload)."""
        if self._current is None:
            cat = self.cat
            ws = self.instance.workloads
            cw = np.array([wi for wi, w in enumerate(ws) for _ in w.current], dtype=np.int64)
            cn = np.array([cat.node_index[n] for w in ws for n in w.current], dtype=np.int64)
            self._current = (cw, cn, self.pairs().find(cw, cn, len(cat.node_names)))
        return self._current

    def candidates(self, wi: int) -> IntArray:
        return self.feasibility[wi].nodes

    def current_counts(self, wi: int) -> Counter[int]:
        w = self.instance.workloads[wi]
        return Counter(self.cat.node_index[n] for n in w.current)


class Pairs:
    """Feasible (workload, node) pairs, workload-major in candidate order: `w`, `node`, `unit`
    (per-replica cost), `slots` (replicas that fit on the node alone, max_per_node included),
    `start` (first pair of each workload; start[W] = number of pairs), and sorted lookup keys
    with `order` mapping them back to pair positions (see `find`)."""

    def __init__(self, problem: Problem) -> None:
        cat = problem.cat
        inst = problem.instance
        n_w, n_n = len(inst.workloads), len(cat.node_names)
        sizes = np.array([len(f.nodes) for f in problem.feasibility], dtype=np.int64)
        self.start: IntArray = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(sizes)])
        self.w: IntArray = np.repeat(np.arange(n_w, dtype=np.int64), sizes)
        self.node: IntArray = (np.concatenate([f.nodes for f in problem.feasibility]).astype(np.int64)
                               if n_w else np.zeros(0, dtype=np.int64))
        self.unit: FloatArray = np.concatenate(problem.unit_cost) if n_w else np.zeros(0)
        cpu = np.array([w.cpu_m for w in inst.workloads], dtype=np.int64)[self.w]
        mem = np.array([w.memory_mb for w in inst.workloads], dtype=np.int64)[self.w]
        gpu = np.array([w.gpu for w in inst.workloads], dtype=np.int64)[self.w]
        reps = np.array([w.replicas for w in inst.workloads], dtype=np.int64)
        per_node = np.array([w.max_per_node if w.max_per_node is not None else w.replicas
                             for w in inst.workloads], dtype=np.int64)
        big = np.minimum(reps, per_node)[self.w]
        fit = big.copy()
        for res, free in ((cpu, cat.free_cpu), (mem, cat.free_mem), (gpu, cat.gpu)):
            has = res > 0
            fit[has] = np.minimum(fit[has], free[self.node[has]].astype(np.int64) // res[has])
        fit = np.minimum(fit, cat.free_pods[self.node])
        self.slots: IntArray = fit
        # lookup keys: workload-major, nodes in the filters' order (sites before nodes), which
        # makes them sorted already; argsort only if some filter listed nodes otherwise
        self.rank: IntArray = np.zeros(n_n, dtype=np.int64)
        if cat.site_nodes:
            self.rank[np.concatenate(cat.site_nodes).astype(np.int64)] = np.arange(n_n, dtype=np.int64)
        key = self.w * n_n + self.rank[self.node]
        if bool(np.all(key[1:] > key[:-1])):
            self.order: IntArray = np.arange(len(key), dtype=np.int64)
            self.sorted_key: IntArray = key
        else:
            self.order = np.argsort(key, kind="stable").astype(np.int64)
            self.sorted_key = key[self.order]

    def find(self, w: IntArray, node: IntArray, n_nodes: int) -> IntArray:
        """Pair positions of (w, node), -1 where the node is not a candidate of w."""
        k = w * n_nodes + self.rank[node]
        if not len(self.sorted_key):
            return np.full(len(k), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.sorted_key, k), len(self.sorted_key) - 1)
        out: IntArray = np.where(self.sorted_key[pos] == k, self.order[pos], -1).astype(np.int64)
        return out


class Packing:
    """Free capacity as replicas are placed one workload at a time (greedy heuristics)."""

    def __init__(self, problem: Problem) -> None:
        cat = problem.cat
        self.problem = problem
        self.free_cpu = cat.free_cpu.copy()
        self.free_mem = cat.free_mem.copy()
        self.free_gpu = cat.gpu.copy()
        self.free_pods = cat.free_pods.copy()
        self.active = np.zeros(len(cat.node_names), dtype=np.bool_)
        self.assignment: dict[str, tuple[str, ...]] = {}

    def save(self) -> Saved:
        """A copy of the free capacity, active nodes and assignment (see `restore`)."""
        return (self.free_cpu.copy(), self.free_mem.copy(), self.free_gpu.copy(), self.active.copy(),
                dict(self.assignment), self.free_pods.copy())

    def restore(self, saved: Saved) -> None:
        (self.free_cpu, self.free_mem, self.free_gpu, self.active, self.assignment,
         self.free_pods) = saved

    def used(self) -> BoolArray:
        """Nodes running at least one replica placed here."""
        out: BoolArray = self.free_pods < self.problem.cat.free_pods
        return out

    def fits(self, w: Workload, node: int) -> bool:
        return bool(
            self.free_cpu[node] >= w.cpu_m and self.free_mem[node] >= w.memory_mb
            and self.free_gpu[node] >= w.gpu and self.free_pods[node] >= 1
        )

    def take(self, w: Workload, node: int, count: int = 1) -> None:
        self.free_cpu[node] -= w.cpu_m * count
        self.free_mem[node] -= w.memory_mb * count
        self.free_gpu[node] -= w.gpu * count
        self.free_pods[node] -= count
        self.active[node] = True

    def commit(self, w: Workload, nodes: list[int]) -> None:
        for n in nodes:
            self.take(w, n)
        names = self.problem.cat.node_names
        self.assignment[w.name] = tuple(names[n] for n in nodes)

    def place_in_order(self, wi: int, order: Iterable[int]) -> bool:
        """Place all replicas of workload `wi`, trying nodes in `order` (first fit, fill a node
        before moving on); nothing is taken if not all replicas fit."""
        w = self.problem.instance.workloads[wi]
        site_of = self.problem.cat.node_site
        chosen: list[int] = []
        per_site: Counter[int] = Counter()
        cpu, mem, gpu, pods = self.free_cpu, self.free_mem, self.free_gpu, self.free_pods
        for n in order:
            here = 0
            while len(chosen) < w.replicas:
                if w.max_per_node is not None and here >= w.max_per_node:
                    break
                if w.max_per_site is not None and per_site[int(site_of[n])] >= w.max_per_site:
                    break
                if not (cpu[n] >= w.cpu_m * (here + 1) and mem[n] >= w.memory_mb * (here + 1)
                        and gpu[n] >= w.gpu * (here + 1) and pods[n] >= here + 1):
                    break
                chosen.append(int(n))
                here += 1
                per_site[int(site_of[n])] += 1
            if len(chosen) == w.replicas:
                self.commit(w, chosen)
                return True
        return False

    def fits_many(self, w: Workload, node: int, count: int) -> bool:
        return bool(
            self.free_cpu[node] >= w.cpu_m * count and self.free_mem[node] >= w.memory_mb * count
            and self.free_gpu[node] >= w.gpu * count and self.free_pods[node] >= count
        )

    def give_back(self, w: Workload, node: int, count: int = 1) -> None:
        self.free_cpu[node] += w.cpu_m * count
        self.free_mem[node] += w.memory_mb * count
        self.free_gpu[node] += w.gpu * count
        self.free_pods[node] += count

    def place_one_by_one(self, wi: int, score: ScoreFn) -> bool:
        """Place replicas one at a time on the feasible node with the lowest `score`."""
        return self.complete(wi, Counter(), score)

    def complete(self, wi: int, base: Counter[int], score: ScoreFn) -> bool:
        """Add replicas to `base` (already taken) one at a time on the lowest-`score` node until
        the workload is complete; on failure, undo what was added here and return False."""
        w = self.problem.instance.workloads[wi]
        cands = self.problem.candidates(wi)
        site_of = self.problem.cat.node_site
        chosen: list[int] = []
        per_node: Counter[int] = Counter(base)
        per_site: Counter[int] = Counter()
        for n, k in base.items():
            per_site[int(site_of[n])] += k
        for _ in range(w.replicas - sum(base.values())):
            ok = (self.free_cpu[cands] >= w.cpu_m) & (self.free_mem[cands] >= w.memory_mb) & (
                self.free_gpu[cands] >= w.gpu) & (self.free_pods[cands] >= 1)
            if w.max_per_node is not None and per_node:
                ok &= np.array([per_node[int(n)] < w.max_per_node for n in cands], dtype=np.bool_)
            if w.max_per_site is not None and per_site:
                ok &= np.array([per_site[int(site_of[n])] < w.max_per_site for n in cands], dtype=np.bool_)
            if not ok.any():
                for n in chosen:  # undo
                    self.give_back(w, n)
                return False
            idx = np.flatnonzero(ok)
            scores = score(self, wi, cands[idx], idx)
            pick = int(cands[idx[int(np.argmin(scores))]])
            chosen.append(pick)
            per_node[pick] += 1
            per_site[int(site_of[pick])] += 1
            self.free_cpu[pick] -= w.cpu_m
            self.free_mem[pick] -= w.memory_mb
            self.free_gpu[pick] -= w.gpu
            self.free_pods[pick] -= 1
        nodes = sorted(base.elements()) + chosen
        for n in nodes:
            self.active[n] = True
        names = self.problem.cat.node_names
        self.assignment[w.name] = tuple(names[n] for n in nodes)
        return True

    def keep_current(self, order: Iterable[int]) -> set[int]:
        """Keep every workload whose current placement is complete and still feasible (running
        pods stay where they are). Returns the indices kept."""
        kept: set[int] = set()
        for wi in order:
            w = self.problem.instance.workloads[wi]
            if len(w.current) != w.replicas:
                continue
            counts = self.problem.current_counts(wi)
            feas = set(self.problem.candidates(wi).tolist())
            site_of = self.problem.cat.node_site
            per_site: Counter[int] = Counter()
            ok = True
            for n, c in counts.items():
                per_site[int(site_of[n])] += c
                if n not in feas or (w.max_per_node is not None and c > w.max_per_node) or not (self.free_cpu[n] >= w.cpu_m * c and self.free_mem[n] >= w.memory_mb * c
                          and self.free_gpu[n] >= w.gpu * c and self.free_pods[n] >= c):
                    ok = False
            if w.max_per_site is not None and any(c > w.max_per_site for c in per_site.values()):
                ok = False
            if ok:
                self.commit(w, [self.problem.cat.node_index[n] for n in w.current])
                kept.add(wi)
        return kept


Saved = tuple[IntArray, IntArray, IntArray, BoolArray, dict[str, tuple[str, ...]], IntArray]
"""Packing.save(): free CPU, memory, GPU, active nodes, assignment, free Pods."""
ScoreFn = Callable[[Packing, int, IntArray, IntArray], FloatArray]
"""Score of candidate `nodes` (positions `idx` in the workload's candidate list); lower is better."""


def left_out(problem: Problem, assignment: Mapping[str, tuple[str, ...]]) -> list[int]:
    """Workloads that `assignment` leaves out although they could run (they fit on their feasible
    nodes when nothing else is there: `Problem.alone_replicas`)."""
    alone = problem.alone_replicas()
    return [wi for wi, w in enumerate(problem.instance.workloads)
            if w.name not in assignment and alone[wi] >= w.replicas]


def priority_order(inst: Instance, key_extra: list[float] | None = None) -> list[int]:
    """Workload indices by priority (high first), then by `key_extra` ascending, then input order."""
    extra = key_extra or [0.0] * len(inst.workloads)
    return sorted(range(len(inst.workloads)), key=lambda i: (-inst.workloads[i].priority, extra[i], i))
