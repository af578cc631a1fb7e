"""Replica swaps, moves and ejections: a cheap local search after the LP rounding of a cold solve.

A swap exchanges the nodes of two replicas of different workloads (no node opens or closes,
no node's Pod count changes); a move sends one replica to another node with room, a free Pod
slot included (which may open or close a node); an ejection moves a replica to a cheaper node
that is full, once up to three replicas of other workloads there leave for their cheapest nodes
with room (a replica stuck in the cloud comes to the edge when two small ones lose a little by
moving to the MEC: no swap or single move reaches that). Gains
are computed for all pairs at once with numpy, then applied best first, each re-checked on
the current state (capacity, max_per_node, max_per_site), so the result is always feasible
and never worse. No randomness, and no clock but the caller's deadline between passes: the same
input gives the same result unless the deadline cuts it short. Only for
objectives whose change a move's unit costs and migrations give exactly (no balance term,
every workload uses some resource) and models small enough for dense matrices. Migrations
count as the objective counts them (replicas of the current placement not kept on their
node), so a re-placement's swaps keep what runs unless moving pays for the move; the result
is kept only if the exact objective says it is better.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from placement.catalog import BoolArray, FloatArray, IntArray
from placement.objective import evaluate
from placement.problem import Problem
from placement.tuning import TUNING as T


def applicable(problem: Problem) -> bool:
    inst = problem.instance
    n_r = sum(w.replicas for w in inst.workloads)
    return (problem.weights.balance == 0
            and all(w.cpu_m or w.memory_mb or w.gpu for w in inst.workloads)
            and len(inst.workloads) * len(problem.cat.node_names) <= T.swap_max_cells and n_r <= T.swap_max_replicas)


class _State:
    def __init__(self, problem: Problem, assignment: dict[str, tuple[str, ...]]) -> None:
        cat = problem.cat
        inst = problem.instance
        self.problem = problem
        n_w, n_n = len(inst.workloads), len(cat.node_names)
        self.unit: FloatArray = np.full((n_w, n_n), np.inf)
        for wi in range(n_w):
            self.unit[wi, problem.candidates(wi)] = problem.unit_cost[wi]
        names = sorted(assignment, key=lambda n: cat.workload_index[n])
        self.rw: IntArray = np.array([cat.workload_index[n] for n in names for _ in assignment[n]], dtype=np.int64)
        self.rn: IntArray = np.array([cat.node_index[m] for n in names for m in assignment[n]], dtype=np.int64)
        self.cpu = np.array([w.cpu_m for w in inst.workloads], dtype=np.int64)
        self.mem = np.array([w.memory_mb for w in inst.workloads], dtype=np.int64)
        self.gpu = np.array([w.gpu for w in inst.workloads], dtype=np.int64)
        self.free_cpu = cat.free_cpu.astype(np.int64) - np.bincount(self.rn, self.cpu[self.rw], n_n).astype(np.int64)
        self.free_mem = cat.free_mem.astype(np.int64) - np.bincount(self.rn, self.mem[self.rw], n_n).astype(np.int64)
        self.free_gpu = cat.gpu.astype(np.int64) - np.bincount(self.rn, self.gpu[self.rw], n_n).astype(np.int64)
        self.count = np.bincount(self.rn, minlength=n_n).astype(np.int64)  # replicas per node
        self.rw_list: list[int] = self.rw.tolist()
        self.sizes: list[tuple[int, int, int, int]] = [  # per workload: what one replica takes (and one Pod)
            (int(c), int(m), int(g), 1) for c, m, g in zip(self.cpu, self.mem, self.gpu, strict=True)]
        self.members: list[set[int]] = [set() for _ in range(n_n)]  # replica indices per node
        for r, n in enumerate(self.rn.tolist()):
            self.members[n].add(r)
        self.free_pods = cat.free_pods.astype(np.int64) - self.count  # every replica is one Pod
        self.on_node: Counter[tuple[int, int]] = Counter(zip(self.rw.tolist(), self.rn.tolist(), strict=True))
        site = cat.node_site
        self.on_site: Counter[tuple[int, int]] = Counter(
            zip(self.rw.tolist(), site[self.rn].tolist(), strict=True))
        self.opening = problem.weights.active_nodes + problem.weights.energy * cat.idle_power
        self.mig = problem.weights.migration
        self.cur: dict[int, Counter[int]] = {  # current replicas per node, of workloads that run
            wi: Counter(cat.node_index[n] for n in w.current if n in cat.node_index)
            for wi, w in enumerate(inst.workloads) if w.current}
        self.kept: dict[int, int] = {wi: sum(min(k, self.on_node[(wi, n)]) for n, k in c.items())
                                     for wi, c in self.cur.items()}

    def migration_cost(self, wi: int, a: int, b: int) -> float:
        """What moving one replica of `wi` from `a` to `b` adds in migrations (negative: saves)."""
        cur = self.cur.get(wi)
        if not cur or not self.mig:
            return 0.0
        w = self.problem.instance.workloads[wi]
        cap = min(w.replicas, len(w.current))
        kept = self.kept[wi]
        after = kept - (self.on_node[(wi, a)] <= cur[a]) + (self.on_node[(wi, b)] < cur[b])
        return self.mig * float(min(kept, cap) - min(after, cap))

    def arrival(self, rw: IntArray) -> FloatArray:
        """Per replica and node: the migration saved by a replica of its workload arriving there."""
        out = np.zeros((len(rw), len(self.problem.cat.node_names)))
        if not self.mig:
            return out
        for r, wi in enumerate(rw.tolist()):
            for n, k in self.cur.get(wi, Counter()).items():
                if self.on_node[(wi, n)] < k:
                    out[r, n] = self.mig
        return out

    def leaving(self, rw: IntArray, rn: IntArray) -> FloatArray:
        """Per replica: the migration its leaving its node costs (it is one the current placement kept)."""
        return np.array([self.mig if wi in self.cur and self.on_node[(wi, n)] <= self.cur[wi][n] else 0.0
                         for wi, n in zip(rw.tolist(), rn.tolist(), strict=True)])

    def spread_ok(self, wi: int, a: int, b: int) -> bool:
        """Whether one replica of `wi` may go from node `a` to node `b` (spread limits)."""
        w = self.problem.instance.workloads[wi]
        site = self.problem.cat.node_site
        if w.max_per_node is not None and self.on_node[(wi, b)] + 1 > w.max_per_node:
            return False
        sa, sb = int(site[a]), int(site[b])
        return w.max_per_site is None or sa == sb or self.on_site[(wi, sb)] + 1 <= w.max_per_site

    def relocate(self, r: int, b: int) -> None:
        wi, a = int(self.rw[r]), int(self.rn[r])
        site = self.problem.cat.node_site
        for node, sign in ((a, 1), (b, -1)):
            self.free_cpu[node] += sign * self.cpu[wi]
            self.free_mem[node] += sign * self.mem[wi]
            self.free_gpu[node] += sign * self.gpu[wi]
            self.count[node] -= sign
            self.free_pods[node] += sign
        cur = self.cur.get(wi)
        if cur is not None:
            self.kept[wi] += (self.on_node[(wi, b)] < cur[b]) - (self.on_node[(wi, a)] <= cur[a])
        self.on_node[(wi, a)] -= 1
        self.on_node[(wi, b)] += 1
        self.on_site[(wi, int(site[a]))] -= 1
        self.on_site[(wi, int(site[b]))] += 1
        self.rn[r] = b
        self.members[a].discard(r)
        self.members[b].add(r)

    def room(self, wis: IntArray) -> BoolArray:
        """Per workload of `wis` and node: whether one more replica fits there now (a Pod slot too)."""
        return ((self.free_cpu[None, :] >= self.cpu[wis][:, None]) & (self.free_mem[None, :] >= self.mem[wis][:, None])
                & (self.free_gpu[None, :] >= self.gpu[wis][:, None]) & (self.free_pods[None, :] >= 1))

    def closing(self, n: int) -> float:
        """What a replica leaving node `n` saves for closing it (its last replica)."""
        return float(self.opening[n]) if self.count[n] == 1 else 0.0

    def opening_now(self) -> FloatArray:
        """Per node: what a replica arriving there adds for opening it (0 where it already runs one)."""
        out: FloatArray = np.where(self.count > 0, 0.0, self.opening)
        return out

    def fits(self, wi: int, node: int, minus: int = -1) -> bool:
        """Whether a replica of `wi` fits on `node` once a replica of workload `minus` leaves it."""
        c, m, g = int(self.free_cpu[node]), int(self.free_mem[node]), int(self.free_gpu[node])
        if minus >= 0:
            c, m, g = c + int(self.cpu[minus]), m + int(self.mem[minus]), g + int(self.gpu[minus])
        return bool(c >= self.cpu[wi] and m >= self.mem[wi] and g >= self.gpu[wi])


def _swap_pass(st: _State) -> float:
    rw, rn = st.rw, st.rn
    own = st.unit[rw, rn]
    regret = own - st.unit[rw].min(axis=1)  # what a replica could gain at most
    if st.cur and st.mig:  # migrations: leaving a kept node costs one, arriving at a current one saves one
        leave = st.leaving(rw, rn)
        arrive = st.arrival(rw)
        regret = regret - leave + arrive.max(axis=1, initial=0.0)
    top = np.argsort(-regret, kind="stable")[:T.swap_rows]
    top = top[regret[top] > T.swap_eps]
    cross = st.unit[rw[top][:, None], rn[None, :]]  # replica top[i] on the node of replica j
    back = st.unit[rw[None, :], rn[top][:, None]]  # replica j on the node of replica top[i]
    if st.cur and st.mig:
        cross_m = arrive[top][:, rn] - leave[top][:, None]  # replica top[i] onto j's node
        back_m = arrive[:, rn[top]].T - leave[None, :]  # replica j onto top[i]'s node
    else:
        cross_m = back_m = np.zeros((len(top), len(rw)))
    with np.errstate(invalid="ignore"):
        gain = own[top][:, None] + own[None, :] - cross - back + cross_m + back_m
    ok = np.isfinite(gain) & (rw[top][:, None] != rw[None, :]) & (rn[top][:, None] != rn[None, :]) & (gain > T.swap_eps)
    for res, free in ((st.cpu[rw], st.free_cpu[rn]), (st.mem[rw], st.free_mem[rn]), (st.gpu[rw], st.free_gpu[rn])):
        diff = res[top][:, None] - res[None, :]  # i's need minus j's, on j's node
        ok &= (free[None, :] >= diff) & (free[top][:, None] >= -diff)
    flat = np.flatnonzero(ok)
    flat = flat[np.argsort(-gain.ravel()[flat], kind="stable")][:T.swap_max_tries]
    total = 0.0
    for k in flat.tolist():
        ti, j = divmod(k, len(rw))
        i = int(top[ti])
        wi, wj, a, b = int(rw[i]), int(rw[j]), int(rn[i]), int(rn[j])
        if a == b:
            continue
        g = (st.unit[wi, a] + st.unit[wj, b] - st.unit[wi, b] - st.unit[wj, a]
             - st.migration_cost(wi, a, b) - st.migration_cost(wj, b, a))
        if not g > T.swap_eps or not (st.fits(wi, b, wj) and st.fits(wj, a, wi)):
            continue
        if not (st.spread_ok(wi, a, b) and st.spread_ok(wj, b, a)):
            continue
        st.relocate(i, b)
        st.relocate(j, a)
        total += float(g)
    return total


def _move_pass(st: _State) -> float:
    rw, rn = st.rw, st.rn
    total = 0.0
    own = st.unit[rw, rn]
    fit = st.room(rw)
    with np.errstate(invalid="ignore"):
        hope = np.where(fit, own[:, None] - st.unit[rw] + st.opening[rn][:, None], -np.inf).max(axis=1)
    if st.cur and st.mig:  # leaving a kept node costs a migration, a move back saves one
        hope += st.arrival(rw).max(axis=1, initial=0.0) - st.leaving(rw, rn)
    for r in np.flatnonzero(hope > T.swap_eps)[np.argsort(-own[hope > T.swap_eps], kind="stable")].tolist():
        wi, a = int(rw[r]), int(rn[r])
        room = st.room(np.array([wi]))[0]
        room[a] = False
        close = st.closing(a)
        gain = st.unit[wi, a] - st.unit[wi] + close - st.opening_now()
        if wi in st.cur and st.mig:
            gain = gain + st.arrival(np.array([wi]))[0] - st.leaving(np.array([wi]), np.array([a]))[0]
        gain = np.where(room & np.isfinite(gain), gain, -np.inf)
        for b in np.argsort(-gain, kind="stable")[:4].tolist():
            if not gain[b] > T.swap_eps:  # (-inf: no room there)
                break
            g = float(st.unit[wi, a] - st.unit[wi, b]) + close - (0.0 if st.count[b] > 0 else float(st.opening[b]))
            g -= st.migration_cost(wi, a, b)
            if not g > T.swap_eps:
                break
            if st.spread_ok(wi, a, b):
                st.relocate(r, b)
                total += g
                break
    return total


def _best_home(st: _State, js: IntArray) -> tuple[IntArray, FloatArray]:
    """For replicas `js`: the cheapest other node with room for each (an empty one pays its opening),
    and the objective change of moving there (inf: no node has room)."""
    rw, rn = st.rw[js], st.rn[js]
    room = st.room(rw)
    room[np.arange(len(js)), rn] = False
    cost = np.where(room, st.unit[rw] + st.opening_now()[None, :], np.inf)
    home = cost.argmin(axis=1)
    return home, cost[np.arange(len(js)), home] - st.unit[rw, rn]


def _spread_home(st: _State, j: int) -> tuple[int, float]:
    """The cheapest other node with room for replica `j` that its spread limits allow, and the
    change of moving there ((-1, inf): none among the eject_home_tries cheapest)."""
    wj, at = int(st.rw[j]), int(st.rn[j])
    room = st.room(np.array([wj]))[0]
    room[at] = False
    cost = np.where(room, st.unit[wj] + st.opening_now(), np.inf)
    for c in np.argsort(cost, kind="stable")[:T.eject_home_tries].tolist():
        if not np.isfinite(cost[c]):
            break
        if st.spread_ok(wj, at, c):
            return c, float(cost[c] - st.unit[wj, at])
    return -1, float("inf")


def _try_eject(st: _State, r: int, b: int, estimate: list[float]) -> float:
    """Move replica `r` to the full node `b` once up to Tuning.eject_max replicas of other workloads leave
    `b` for their cheapest nodes with room (chosen on `estimate`, each replica's cost of leaving;
    then applied one by one on the current state); kept only if the exact total gains."""
    wi, a = int(st.rw[r]), int(st.rn[r])
    size_i = st.sizes[wi]
    need_l = [size_i[0] - int(st.free_cpu[b]), size_i[1] - int(st.free_mem[b]), size_i[2] - int(st.free_gpu[b]),
              1 - int(st.free_pods[b])]
    if max(need_l) <= 0:
        return 0.0  # it fits: the move pass's business
    upper = float(st.unit[wi, a] - st.unit[wi, b]) + st.closing(a) - st.migration_cost(wi, a, b)
    short = [(k, float(v)) for k, v in enumerate(need_l) if v > 0]
    ranked = []  # (estimated cost per share of the shortfall it frees, replica)
    rw, sizes = st.rw_list, st.sizes
    for j in st.members[b]:
        wj = rw[j]
        est = estimate[j]
        if wj == wi or not est < upper - T.swap_eps:  # (inf: nowhere to go)
            continue
        size = sizes[wj]
        frac = max(size[k] / v for k, v in short)
        ranked.append((max(est, 0.0) / max(frac, 1e-9), j, size))
    ranked.sort()
    freed = [0, 0, 0, 0]  # first on the estimates alone: can it pay at all?
    spent = 0.0
    for k, (_, j, size) in enumerate(ranked):
        spent += estimate[j]
        if spent >= upper - T.swap_eps or k >= T.eject_max:
            return 0.0
        freed = [f + x for f, x in zip(freed, size, strict=True)]
        if all(f >= n for f, n in zip(freed, need_l, strict=True)):
            break
    else:
        return 0.0
    order = [j for _, j, _ in ranked]
    done: list[tuple[int, int]] = []  # (replica, the node it came from), to undo
    total = 0.0  # exact change so far (positive: gained)
    for j in order:  # each, in turn, to where there is room now (spread limits kept)
        if st.fits(wi, b) and st.free_pods[b] >= 1:
            break
        if len(done) >= T.eject_max or -total + estimate[j] >= upper - T.swap_eps:
            break
        wj = int(st.rw[j])
        c, d = _spread_home(st, j)
        if c < 0:
            continue
        total -= d + st.migration_cost(wj, b, c) - st.closing(b)
        st.relocate(j, c)
        done.append((j, b))
    ok = bool(done)
    if ok and st.fits(wi, b) and st.free_pods[b] >= 1 and st.spread_ok(wi, a, b):
        total += (float(st.unit[wi, a] - st.unit[wi, b]) - st.migration_cost(wi, a, b)
                  + st.closing(a)
                  - (float(st.opening[b]) if st.count[b] == 0 else 0.0))
        st.relocate(r, b)
        done.append((r, a))
        if total > T.swap_eps:
            return total
    for j, origin in reversed(done):
        st.relocate(j, origin)
    return 0.0


def _eject_pass(st: _State) -> float:
    """Moves that need room: a replica goes to a cheaper full node once others make way there."""
    own = st.unit[st.rw, st.rn]
    # migrations (a re-placement): leaving a kept node costs one, arriving where the current
    # placement has an unfilled replica saves one; bounds on them prune the rows and the tries
    leave_m = st.leaving(st.rw, st.rn)
    back_m = st.arrival(st.rw)
    regret = own - st.unit[st.rw].min(axis=1) - leave_m + back_m.max(axis=1, initial=0.0)
    _, leave_cost = _best_home(st, np.arange(len(st.rw)))  # (not refreshed: the moves re-check exactly)
    leave_cost = leave_cost + leave_m - back_m.max(axis=1, initial=0.0)  # (at least what leaving costs)
    estimate: list[float] = leave_cost.tolist()
    # per node, on the estimates: the least a replica costs to leave it, and per CPU millicore and
    # per MiB freed (what freeing room costs at least, as in a fractional knapsack)
    n_n = len(st.count)
    leave = np.maximum(leave_cost, 0.0)
    cheapest, per_cpu, per_mem = np.full(n_n, np.inf), np.full(n_n, np.inf), np.full(n_n, np.inf)
    np.minimum.at(cheapest, st.rn, leave)
    np.minimum.at(per_cpu, st.rn, leave / np.maximum(st.cpu[st.rw], 1))
    np.minimum.at(per_mem, st.rn, leave / np.maximum(st.mem[st.rw], 1))
    total = 0.0
    for r in np.argsort(-regret, kind="stable")[:T.eject_rows].tolist():
        if not regret[r] > T.swap_eps:
            break
        wi, a = int(st.rw[r]), int(st.rn[r])
        short_cpu = st.cpu[wi] - st.free_cpu
        short_mem = st.mem[wi] - st.free_mem
        full = (short_cpu > 0) | (short_mem > 0) | (st.gpu[wi] > st.free_gpu) | (st.free_pods < 1)
        with np.errstate(invalid="ignore"):  # (0 x inf where a node holds nothing)
            least = np.maximum(cheapest, np.maximum(np.where(short_cpu > 0, short_cpu * per_cpu, 0.0),
                                                    np.where(short_mem > 0, short_mem * per_mem, 0.0)))
        gain = st.unit[wi, a] - st.unit[wi] + st.closing(a) - leave_m[r] + back_m[r]
        gain[~full | (gain - least <= T.swap_eps)] = -np.inf  # room there already (the move pass's), or cannot pay
        gain[a] = -np.inf
        tried = 0
        for b in np.argsort(-np.where(np.isfinite(gain), gain, -np.inf), kind="stable").tolist():
            if not gain[b] > T.swap_eps or tried >= T.eject_targets:
                break
            if not st.spread_ok(wi, a, b):
                continue
            tried += 1
            g = _try_eject(st, r, b, estimate)
            if g > 0:
                total += g
                break
    return total


def improve_swaps(problem: Problem, assignment: dict[str, tuple[str, ...]],
                  deadline: float | None = None) -> dict[str, tuple[str, ...]]:
    """`assignment` after best-first swap, move and ejection passes (same placed workloads); no pass
    starts after `deadline` (perf_counter; the solver's wall limit, a safety net on a loaded machine)."""
    if not assignment or not applicable(problem):
        return assignment
    st = _State(problem, assignment)
    for _ in range(T.swap_passes):
        if deadline is not None and time.perf_counter() > deadline:
            break
        if _swap_pass(st) + _move_pass(st) + _eject_pass(st) <= T.swap_eps:
            break
    cat = problem.cat
    out: dict[str, list[str]] = {}
    for wi, n in zip(st.rw.tolist(), st.rn.tolist(), strict=True):
        out.setdefault(problem.instance.workloads[wi].name, []).append(cat.node_names[n])
    result = {name: tuple(sorted(nodes)) for name, nodes in out.items()}
    inst, wt, pen = problem.instance, problem.weights, problem.penalty
    if evaluate(inst, wt, result, pen).objective < evaluate(inst, wt, assignment, pen).objective - T.swap_eps:
        return result
    return assignment
