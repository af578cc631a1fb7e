"""Pure bin packing: a search of its own where the objective is only the number of nodes.

Owns: recognising a bin-packing problem (`items`: every node the same free capacity and opening cost,
nothing else in the objective, single-replica workloads that may go on every node, none running),
first-fit and best-fit decreasing in several orders, and the bin-emptying search: take the
lightest bin's items out, put them back into the others where they fit, and where they do not,
swap them for smaller items of a bin (one or two for one or two, only if the bin gets fuller), until
the pool is empty (one node fewer) or no swap helps (the pool goes into a node of its own if it
fits one: the same count, the weight moved into fewer bins; else the step is undone). Issue 21:
the general pipeline packed 300 uniform items into ffd's 94 nodes (volume bound 92) at 10 s as at 2 s.

Deterministic: the search counts the (bin subset, pool subset) pairs it checks against a budget
fixed by the limit, and draws its lightest bins from a seeded RNG; the clock is only a safety net.

Must not: read the clock but the deadline it is given.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import numpy as np

from placement.catalog import FloatArray, IntArray
from placement.problem import Problem
from placement.tuning import TUNING as T

Bins = list[list[int]]


@dataclass(frozen=True, slots=True)
class Items:
    """A bin-packing problem: item sizes (items x resources) and the capacity of every bin."""

    sizes: IntArray
    cap: IntArray

    @property
    def measure(self) -> FloatArray:
        """Each item's size as the sum of its shares of a bin, over the resources."""
        out: FloatArray = (self.sizes / self.cap[None, :]).sum(axis=1)
        return out


def items(problem: Problem) -> Items | None:
    """The problem as bin packing, or None if it is not one (see the module docstring)."""
    cat, inst, wt = problem.cat, problem.instance, problem.weights
    n_w, n_n = len(inst.workloads), len(cat.node_names)
    if n_w == 0 or n_n == 0 or wt.balance != 0.0:
        return None
    opening = wt.active_nodes + wt.energy * cat.idle_power
    if not (opening[0] > 0 and np.all(opening == opening[0])):
        return None
    if any(w.replicas != 1 or w.current for w in inst.workloads):
        return None
    if any(len(problem.candidates(wi)) != n_n for wi in range(n_w)):
        return None
    pr = problem.pairs()
    if not bool(np.all(pr.unit == 0.0)):
        return None
    caps = np.stack([cat.free_cpu, cat.free_mem, cat.gpu, cat.free_pods], axis=1)
    if not bool(np.all(caps == caps[0])):
        return None
    sizes = np.array([[w.cpu_m, w.memory_mb, w.gpu, 1] for w in inst.workloads], dtype=np.int64)
    if bool(np.any(sizes > caps[0][None, :])):
        return None
    keep = sizes.sum(axis=0) > caps[0]  # a resource all items fit in together never binds
    if not bool(keep.any()):
        keep = sizes.sum(axis=0) > 0
    return Items(sizes[:, keep], caps[0][keep].astype(np.int64))


def decreasing(it: Items) -> list[list[int]]:
    """Item orders for the decreasing heuristics: by summed share, by largest share, by each resource."""
    share = it.sizes / it.cap[None, :]
    keys = [share.sum(axis=1), share.max(axis=1)] + [share[:, r] for r in range(share.shape[1])]
    orders: list[list[int]] = []
    for key in keys:
        order = np.lexsort((np.arange(len(key)), -key)).tolist()
        if order not in orders:
            orders.append(order)
    return orders


def pack(it: Items, order: list[int], best_fit: bool) -> Bins:
    """First fit (best fit: the bin left fullest) of the items in `order`."""
    loads = np.zeros((0, len(it.cap)), dtype=np.int64)
    bins: Bins = []
    measure = it.measure
    for i in order:
        ok = np.flatnonzero(np.all(loads + it.sizes[i][None, :] <= it.cap[None, :], axis=1))
        if ok.size == 0:
            bins.append([i])
            loads = np.vstack([loads, it.sizes[i][None, :]])
            continue
        if best_fit:
            fill = (loads[ok] / it.cap[None, :]).sum(axis=1) + measure[i]
            b = int(ok[int(np.argmax(fill))])
        else:
            b = int(ok[0])
        bins[b].append(i)
        loads[b] += it.sizes[i]
    return bins


_PAIRS: dict[int, IntArray] = {}


def _subsets(members: list[int]) -> IntArray:
    """Every subset of `members` of 0, 1 or 2 items, as rows of item indices padded with -1."""
    n = len(members)
    if n not in _PAIRS:  # the positions of the subsets of n members (n + 1: the padding)
        a, b = np.triu_indices(n, 1)
        _PAIRS[n] = np.concatenate([[[n, n]], np.stack([np.arange(n), np.full(n, n)], axis=1),
                                    np.stack([a, b], axis=1)]).astype(np.int64)
    m = np.array([*members, -1], dtype=np.int64)
    out: IntArray = m[_PAIRS[n]]
    return out


class Search:
    """The bin-emptying search on one packing, within `budget` checked (bin subset, pool subset) pairs."""

    def __init__(self, it: Items, bins: Bins, budget: int, seed: int, deadline: float) -> None:
        self.it = it
        self.measure = it.measure
        # item -1 (no item) is the last row: size 0
        self.padded = np.vstack([it.sizes, np.zeros((1, len(it.cap)), dtype=np.int64)])
        self.padded_measure = np.append(self.measure, 0.0)
        self.bins = [list(b) for b in bins if b]
        self.budget = budget
        self.used = 0
        self.rng = random.Random(seed)
        self.deadline = deadline
        self.failed = 0  # steps in a row that did not empty a bin

    def spent(self) -> bool:
        return self.used >= self.budget or time.perf_counter() >= self.deadline

    def _fill(self, b: list[int]) -> float:
        return float(self.measure[b].sum())

    def _insert(self, bins: Bins, loads: IntArray, pool: list[int]) -> list[int]:
        """Each pool item (largest first) into the bin it leaves fullest; what does not fit stays."""
        cap, sizes = self.it.cap, self.it.sizes
        left: list[int] = []
        for i in sorted(pool, key=lambda i: (-self.measure[i], i)):
            ok = np.flatnonzero(np.all(loads + sizes[i][None, :] <= cap[None, :], axis=1))
            self.used += len(bins) + T.binpack_bin_ops
            if ok.size == 0:
                left.append(i)
                continue
            fill = (loads[ok] / cap[None, :]).sum(axis=1)
            b = int(ok[int(np.argmax(fill))])
            bins[b].append(i)
            loads[b] += sizes[i]
        return left

    def _swap(self, bins: Bins, loads: IntArray, pool: list[int]) -> tuple[list[int], bool]:
        """One sweep over the bins: in each, the exchange of up to two of its items for up to two pool
        items that leaves it fullest, if it is fuller than before."""
        cap, size, meas = self.it.cap, self.padded, self.padded_measure
        changed = False
        p_subs = _subsets(pool)
        for b in self.rng.sample(range(len(bins)), len(bins)):
            if not pool:
                break
            b_subs = _subsets(bins[b])
            self.used += len(p_subs) * len(b_subs) + T.binpack_bin_ops
            p_size, b_size = size[p_subs].sum(axis=1), size[b_subs].sum(axis=1)
            new = loads[b][None, None, :] - b_size[:, None, :] + p_size[None, :, :]
            ok = np.all(new <= cap[None, None, :], axis=2)
            gain = np.where(ok, meas[p_subs].sum(axis=1)[None, :] - meas[b_subs].sum(axis=1)[:, None], -np.inf)
            gain[:, 0] = -np.inf  # something must come in from the pool
            bi, pi = np.unravel_index(int(np.argmax(gain)), gain.shape)
            if gain[bi, pi] <= 1e-9:
                continue
            out = [int(i) for i in b_subs[bi] if i >= 0]
            into = [int(i) for i in p_subs[pi] if i >= 0]
            bins[b] = [i for i in bins[b] if i not in out] + into
            loads[b] = loads[b] - b_size[bi] + p_size[pi]
            pool = [i for i in pool if i not in into] + out
            p_subs = _subsets(pool) if pool else p_subs
            changed = True
        return pool, changed

    def _refill(self, bins: Bins, loads: IntArray, pool: list[int]) -> tuple[list[int], bool]:
        """One resource: one sweep over the bins, each refilled with the subset of its items and the
        pool's that fills it most (subset sum over bit sets, the larger items kept where it is a tie),
        if that is fuller than before."""
        cap, sizes = int(self.it.cap[0]), self.it.sizes[:, 0]
        mask = (1 << (cap + 1)) - 1
        changed = False
        for b in self.rng.sample(range(len(bins)), len(bins)):
            if not pool:
                break
            cands = sorted(bins[b] + pool, key=lambda i: (-int(sizes[i]), i))
            self.used += len(cands) + T.binpack_bin_ops
            reach = [1]
            for i in cands:
                reach.append((reach[-1] | (reach[-1] << int(sizes[i]))) & mask)
            best = reach[-1].bit_length() - 1
            if best <= int(loads[b][0]):
                continue
            chosen, t = [], best
            for k in range(len(cands) - 1, -1, -1):
                if not (reach[k] >> t) & 1:
                    chosen.append(cands[k])
                    t -= int(sizes[cands[k]])
            keep = set(chosen)
            pool = [i for i in cands if i not in keep]
            bins[b] = sorted(chosen)
            loads[b][0] = best
            changed = True
        return pool, changed

    def step(self) -> None:
        """Try to empty one of the three lightest bins."""
        order = sorted(range(len(self.bins)), key=lambda b: (self._fill(self.bins[b]), b))
        # one of the lightest bins; the more steps failed in a row, the wider the choice
        target = order[self.rng.randrange(min(3 + self.failed // 4, len(order)))]
        bins = [list(b) for k, b in enumerate(self.bins) if k != target]
        pool = list(self.bins[target])
        loads = np.array([self.it.sizes[b].sum(axis=0) for b in bins], dtype=np.int64).reshape(-1, len(self.it.cap))
        while not self.spent():
            pool = self._insert(bins, loads, pool)
            if not pool:
                self.bins = bins  # one bin fewer
                self.failed = 0
                return
            move = self._refill if len(self.it.cap) == 1 else self._swap
            pool, changed = move(bins, loads, pool)
            if not changed:
                break
        if pool and bool(np.all(self.it.sizes[pool].sum(axis=0) <= self.it.cap)):
            self.bins = [*bins, pool]  # the same count, the pool in a bin of its own
        self.failed += 1

    def run(self) -> Bins:
        while not self.spent() and len(self.bins) > 1:
            self.step()
        return self.bins


def solve(it: Items, starts: list[Bins], budget: int, seed: int, deadline: float) -> Bins:
    """The fewest bins of the decreasing heuristics and `starts`, then the bin-emptying search on it."""
    candidates = [pack(it, order, bf) for order in decreasing(it) for bf in (False, True)] + starts
    first = min(candidates, key=len)
    return Search(it, first, budget, seed, deadline).run()


def bins_of(problem: Problem, assignment: dict[str, tuple[str, ...]]) -> Bins | None:
    """The bins of a complete assignment (None if some item is left out)."""
    cat = problem.cat
    by_node: dict[int, list[int]] = {}
    for name, nodes in assignment.items():
        for n in nodes:
            by_node.setdefault(cat.node_index[n], []).append(cat.workload_index[name])
    if sum(len(b) for b in by_node.values()) != len(problem.instance.workloads):
        return None
    return [by_node[n] for n in sorted(by_node)]


def assignment_of(problem: Problem, bins: Bins) -> dict[str, tuple[str, ...]]:
    """Bin k on the k-th node."""
    names, ws = problem.cat.node_names, problem.instance.workloads
    return {ws[i].name: (names[k],) for k, b in enumerate(bins) for i in sorted(b)}
