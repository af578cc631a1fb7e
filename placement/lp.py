"""LP relaxation (CLP via OR-Tools) over node groups, with pricing: a proven bound, LP values.

Sites before nodes: nodes of one site with the same price, power, taints and opening cost
are interchangeable for every term but capacity, so they form a group and the LP has one
count variable y[w, g] per workload and group (replicas are identical), with the group's
summed capacity. Active nodes A[g] are linked to the group's load and, on small groups of
small LPs, per pair (y[w, g] <= u[w, g] * A[g], u = the most replicas of w one node of g
can hold), which is what makes the opening cost of a lone replica count in the relaxation.

Only each workload's cheapest groups enter the LP (column generation). The bound does not
trust the restricted LP: it is the Lagrangian value of the FULL relaxation at the LP's dual
prices, min over the box of every column (omitted ones priced out), which is a valid lower
bound for any prices, whatever the LP solver's status.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from ortools.linear_solver import linear_solver_pb2, pywraplp

from placement.catalog import FloatArray, IntArray
from placement.model import Prices
from placement.problem import Problem
from placement.tuning import TUNING as T


@dataclass
class Groups:
    """Node groups and dense (workload x group) views: unit cost (inf: no candidate node),
    most replicas in the group (U), on one node (per_node), and current replicas there."""

    nodes: list[IntArray]
    site: IntArray
    node_group: IntArray
    cap_cpu: FloatArray
    cap_mem: FloatArray
    cap_gpu: FloatArray
    max_cpu: FloatArray
    max_mem: FloatArray
    opening: FloatArray
    used: FloatArray
    full_cap: FloatArray
    cost: FloatArray
    upper: FloatArray
    per_node: FloatArray
    current: FloatArray
    keys: list[tuple[object, ...]] = field(default_factory=list)  # per group, its name across instances


def build_groups(problem: Problem) -> Groups:
    cat = problem.cat
    inst = problem.instance
    wt = problem.weights
    per_cpu = wt.cost * cat.cost_per_cpu + wt.energy * cat.power_per_cpu
    opening_n = wt.active_nodes + wt.energy * cat.idle_power
    keys: dict[tuple[object, ...], int] = {}
    node_group = np.zeros(len(cat.node_names), dtype=np.int64)
    for n in range(len(cat.node_names)):
        key = (int(cat.node_site[n]), float(per_cpu[n]), float(opening_n[n]), cat.node_taints[n])
        node_group[n] = keys.setdefault(key, len(keys))
    n_g = len(keys)
    nodes = [np.flatnonzero(node_group == g).astype(np.int64) for g in range(n_g)]
    site = np.array([int(cat.node_site[ns[0]]) for ns in nodes], dtype=np.int64)

    def summed(values: FloatArray) -> FloatArray:
        out = np.zeros(n_g)
        np.add.at(out, node_group, values)
        return out

    def maxed(values: FloatArray) -> FloatArray:
        out = np.zeros(n_g)
        np.maximum.at(out, node_group, values)
        return out

    n_w = len(inst.workloads)
    pr = problem.pairs()
    flat = pr.w * n_g + node_group[pr.node]
    slots = pr.slots.astype(np.float64)
    cost_f, upper_f, per_node_f = np.full(n_w * n_g, np.inf), np.zeros(n_w * n_g), np.zeros(n_w * n_g)
    np.minimum.at(cost_f, flat, pr.unit)
    np.add.at(upper_f, flat, slots)
    np.maximum.at(per_node_f, flat, slots)
    cost, upper, per_node = cost_f.reshape(n_w, n_g), upper_f.reshape(n_w, n_g), per_node_f.reshape(n_w, n_g)
    cap = np.array([min(w.replicas, w.max_per_site if w.max_per_site is not None else w.replicas)
                    for w in inst.workloads], dtype=np.float64)
    np.minimum(upper, cap[:, None], out=upper)
    cw, cn, pos = problem.current_replicas()
    on = pos >= 0  # current replicas on nodes still feasible
    current_f = np.zeros(n_w * n_g)
    np.add.at(current_f, cw[on] * n_g + node_group[cn[on]], 1.0)
    current = current_f.reshape(n_w, n_g)
    cost[upper <= 0] = np.inf
    free_cpu = cat.free_cpu.astype(np.float64)
    free_mem = cat.free_mem.astype(np.float64)
    return Groups(
        nodes, site, node_group, summed(free_cpu), summed(free_mem), summed(cat.gpu.astype(np.float64)),
        maxed(free_cpu), maxed(free_mem), maxed(opening_n), summed(cat.used_cpu.astype(np.float64)),
        summed(cat.cap_cpu.astype(np.float64)), cost, upper, np.minimum(per_node, upper),
        np.minimum(current, upper),
        keys=[(cat.site_names[int(cat.node_site[ns[0]])], *k[1:]) for k, ns in zip(keys, nodes, strict=True)],
    )


@dataclass
class LpResult:
    """LP values of the columns (workload, group) -> count, and the proven bound."""

    values: dict[tuple[int, int], float]
    bound: float
    lp_value: float
    optimal: bool
    groups: Groups
    columns: int = 0
    priced: list[int] = field(default_factory=list)
    prices: Prices | None = None  # the capacity duals at the best bound


class _Rows:
    """Triplets of the constraint matrix, with row bounds, built with numpy."""

    def __init__(self) -> None:
        self.rows: list[IntArray] = []
        self.cols: list[IntArray] = []
        self.vals: list[FloatArray] = []
        self.lo: list[FloatArray] = []
        self.hi: list[FloatArray] = []
        self.count = 0

    def block(self, n: int, lo: FloatArray | float, hi: FloatArray | float) -> int:
        first = self.count
        self.count += n
        self.lo.append(np.broadcast_to(np.asarray(lo, dtype=np.float64), (n,)).copy())
        self.hi.append(np.broadcast_to(np.asarray(hi, dtype=np.float64), (n,)).copy())
        return first

    def terms(self, rows: IntArray, cols: IntArray, vals: FloatArray | float) -> None:
        self.rows.append(np.asarray(rows, dtype=np.int64))
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=np.float64), (len(rows),)).copy())


class GroupedLp:
    """The restricted LP over columns `yw, yg` (all other variables always present)."""

    def __init__(self, problem: Problem, gr: Groups, yw: IntArray, yg: IntArray) -> None:
        inst = problem.instance
        wt = problem.weights
        self.problem, self.gr, self.yw, self.yg = problem, gr, yw, yg
        n_w, n_g = gr.cost.shape
        self.cpu = np.array([w.cpu_m for w in inst.workloads], dtype=np.float64)
        self.mem = np.array([w.memory_mb for w in inst.workloads], dtype=np.float64)
        self.gpu = np.array([w.gpu for w in inst.workloads], dtype=np.float64)
        self.reps = np.array([w.replicas for w in inst.workloads], dtype=np.float64)
        self.pen = np.array([problem.penalty[w.name] for w in inst.workloads])
        self.base = np.array([min(w.replicas, len(w.current)) for w in inst.workloads], dtype=np.float64)
        self.spread_cap = np.array([float(w.max_per_site) if w.max_per_site is not None else np.inf
                                    for w in inst.workloads])
        ny = len(yw)
        self.act = np.flatnonzero(gr.opening > 0)
        act_of = np.full(n_g, -1, dtype=np.int64)
        act_of[self.act] = np.arange(len(self.act))
        self.kept = np.flatnonzero(gr.current[yw, yg] > 0)  # y columns with current replicas
        self.balance = wt.balance > 0
        # columns: y | p | A | k | u
        self.c_p = ny
        self.c_a = self.c_p + n_w
        self.c_k = self.c_a + len(self.act)
        self.c_u = self.c_k + len(self.kept)
        n_cols = self.c_u + (1 if self.balance else 0)
        lo = np.zeros(n_cols)
        hi = np.concatenate([gr.upper[yw, yg], np.ones(n_w), np.array([len(gr.nodes[g]) for g in self.act], float),
                             gr.current[yw[self.kept], yg[self.kept]], np.ones(1 if self.balance else 0)])
        obj = np.concatenate([gr.cost[yw, yg], -self.pen + wt.migration * self.base, gr.opening[self.act],
                              np.full(len(self.kept), -wt.migration), np.full(1 if self.balance else 0, wt.balance)])
        used = problem.cat.used_cpu.astype(np.float64)
        caps = problem.cat.cap_cpu.astype(np.float64)
        self.u_lo = float(np.max(np.divide(used, caps, out=np.zeros_like(used), where=caps > 0), initial=0.0))
        self.u_hi = max(1.0, self.u_lo)
        if self.balance:
            lo[-1], hi[-1] = self.u_lo, self.u_hi
        self.lo_col, self.hi_col, self.obj = lo, hi, obj
        r = _Rows()
        cols = np.arange(ny)
        self.r_dem = r.block(n_w, 0.0, 0.0)
        r.terms(self.r_dem + yw, cols, 1.0)
        r.terms(self.r_dem + np.arange(n_w), self.c_p + np.arange(n_w), -self.reps)
        self.r_cpu = r.block(n_g, -np.inf, gr.cap_cpu)
        r.terms(self.r_cpu + yg, cols, self.cpu[yw])
        self.r_mem = r.block(n_g, -np.inf, gr.cap_mem)
        r.terms(self.r_mem + yg, cols, self.mem[yw])
        self.r_gpu = r.block(n_g, -np.inf, gr.cap_gpu)
        g_cols = np.flatnonzero(self.gpu[yw] > 0)
        r.terms(self.r_gpu + yg[g_cols], g_cols, self.gpu[yw[g_cols]])
        n_a = len(self.act)
        self.r_acpu = r.block(n_a, -np.inf, 0.0)
        self.r_amem = r.block(n_a, -np.inf, 0.0)
        with_a = np.flatnonzero(act_of[yg] >= 0)
        ai = act_of[yg[with_a]]
        r.terms(self.r_acpu + ai, with_a, self.cpu[yw[with_a]])
        r.terms(self.r_amem + ai, with_a, self.mem[yw[with_a]])
        r.terms(self.r_acpu + np.arange(n_a), self.c_a + np.arange(n_a), -gr.max_cpu[self.act])
        r.terms(self.r_amem + np.arange(n_a), self.c_a + np.arange(n_a), -gr.max_mem[self.act])
        small = np.array([len(ns) <= T.lp_link_nodes for ns in gr.nodes], dtype=np.bool_)
        if ny > T.lp_link_columns:  # large LPs: the links cost more solve time than they tighten
            small[:] = False
        self.linked = with_a[small[yg[with_a]]]
        ai_link = act_of[yg[self.linked]]
        n_l = len(self.linked)
        self.r_link = r.block(n_l, -np.inf, 0.0)
        r.terms(self.r_link + np.arange(n_l), self.linked, 1.0)
        r.terms(self.r_link + np.arange(n_l), self.c_a + ai_link, -gr.per_node[yw[self.linked], yg[self.linked]])
        self.r_keep = r.block(len(self.kept), -np.inf, 0.0)
        r.terms(self.r_keep + np.arange(len(self.kept)), self.c_k + np.arange(len(self.kept)), 1.0)
        r.terms(self.r_keep + np.arange(len(self.kept)), self.kept, -1.0)
        # max_per_site over the several groups of one site (rare: the site's nodes differ)
        site_w = yw * (int(gr.site.max(initial=0)) + 1) + gr.site[yg]
        keys, inverse, counts = np.unique(site_w, return_inverse=True, return_counts=True)
        multi = (counts > 1) & np.isfinite(self.spread_cap[keys // (int(gr.site.max(initial=0)) + 1)])
        self.spread_keys = keys[multi]
        spread_of = np.full(len(keys), -1, dtype=np.int64)
        spread_of[multi] = np.arange(int(multi.sum()))
        in_spread = np.flatnonzero(spread_of[inverse] >= 0)
        self.spread_w = self.spread_keys // (int(gr.site.max(initial=0)) + 1)
        self.r_spread = r.block(len(self.spread_keys), -np.inf, self.spread_cap[self.spread_w])
        self.spread_col = in_spread
        self.spread_row = spread_of[inverse[in_spread]]
        r.terms(self.r_spread + self.spread_row, in_spread, 1.0)
        self.r_bal = r.block(n_g if self.balance else 0, -np.inf, -gr.used if self.balance else 0.0)
        if self.balance:
            r.terms(self.r_bal + yg, cols, self.cpu[yw])
            r.terms(self.r_bal + np.arange(n_g), np.full(n_g, self.c_u), -gr.full_cap)
        self.rows = r
        self.n_cols = n_cols

    def solve(self, time_limit_s: float) -> tuple[bool, float, FloatArray, FloatArray]:
        """(optimal, LP value, column values, row duals); duals are zero if nothing was solved."""
        req = linear_solver_pb2.MPModelRequest()
        req.solver_type = linear_solver_pb2.MPModelRequest.CLP_LINEAR_PROGRAMMING
        req.solver_time_limit_seconds = max(0.05, time_limit_s)
        model = req.model
        model.objective_offset = float(self.pen.sum())
        for lo, hi, c in zip(self.lo_col.tolist(), self.hi_col.tolist(), self.obj.tolist(), strict=True):
            v = model.variable.add()
            v.lower_bound, v.upper_bound, v.objective_coefficient = lo, hi, c
        r = self.rows
        rows = np.concatenate(r.rows)
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        cols = np.concatenate(r.cols)[order].tolist()
        vals = np.concatenate(r.vals)[order].tolist()
        starts = np.searchsorted(rows, np.arange(r.count + 1)).tolist()
        lo_r, hi_r = np.concatenate(r.lo).tolist(), np.concatenate(r.hi).tolist()
        for i in range(r.count):
            ct = model.constraint.add()
            ct.lower_bound, ct.upper_bound = lo_r[i], hi_r[i]
            a, b = starts[i], starts[i + 1]
            ct.var_index.extend(cols[a:b])
            ct.coefficient.extend(vals[a:b])
        resp = linear_solver_pb2.MPSolutionResponse()
        pywraplp.Solver.SolveWithProto(req, resp)
        ok = resp.status in (linear_solver_pb2.MPSOLVER_OPTIMAL, linear_solver_pb2.MPSOLVER_FEASIBLE)
        if not ok or len(resp.dual_value) != r.count:
            return False, -np.inf, np.zeros(self.n_cols), np.zeros(r.count)
        return (resp.status == linear_solver_pb2.MPSOLVER_OPTIMAL, resp.objective_value,
                np.array(resp.variable_value), np.array(resp.dual_value))

    def _price_blocks(self) -> list[tuple[int, int, IntArray]]:
        """The capacity rows as (column of a Prices entry, first row, the groups of its rows):
        CPU, memory, GPU, active CPU, active memory, balance."""
        every = np.arange(len(self.gr.nodes))
        blocks = [(0, self.r_cpu, every), (1, self.r_mem, every), (2, self.r_gpu, every),
                  (3, self.r_acpu, self.act), (4, self.r_amem, self.act)]
        return blocks + ([(5, self.r_bal, every)] if self.balance else [])

    def prices(self, duals: FloatArray) -> Prices:
        """The capacity rows' duals per group (see `_price_blocks`)."""
        table = np.zeros((len(self.gr.nodes), 6))
        for k, first, groups in self._price_blocks():
            table[groups, k] = duals[first:first + len(groups)]
        return Prices(tuple(zip(self.gr.keys, map(tuple, table.tolist()), strict=True)))

    def with_prices(self, prices: Prices) -> FloatArray:
        """A dual vector with `prices` on the capacity rows of the groups they name (others 0)."""
        known = dict(prices.groups)
        table = np.array([known.get(k, (0.0,) * 6) for k in self.gr.keys], dtype=np.float64).reshape(-1, 6)
        duals = np.zeros(self.rows.count)
        for k, first, groups in self._price_blocks():
            duals[first:first + len(groups)] = table[groups, k]
        return duals

    def lagrangian(self, duals: FloatArray) -> tuple[float, FloatArray]:
        """A valid bound of the FULL relaxation at `duals`, and the reduced cost of every
        (workload, group) column (inf where infeasible; the LP's own columns with their link,
        keep and spread prices)."""
        gr, n_w, n_g = self.gr, self.gr.cost.shape[0], self.gr.cost.shape[1]
        r = self.rows
        pi = duals.copy()
        eq = np.zeros(r.count, dtype=np.bool_)
        eq[self.r_dem:self.r_dem + n_w] = True
        pi[~eq] = np.minimum(pi[~eq], 0.0)  # <= rows of a minimisation: price <= 0
        hi_r = np.concatenate(r.hi)
        value = float(pi[~eq] @ hi_r[~eq]) + float(self.pen.sum())

        def seg(first: int, n: int) -> FloatArray:
            out: FloatArray = pi[first:first + n]
            return out

        mu, pc, pm, pg = seg(self.r_dem, n_w), seg(self.r_cpu, n_g), seg(self.r_mem, n_g), seg(self.r_gpu, n_g)
        ac, am = np.zeros(n_g), np.zeros(n_g)
        ac[self.act], am[self.act] = seg(self.r_acpu, len(self.act)), seg(self.r_amem, len(self.act))
        pb = seg(self.r_bal, n_g) if self.balance else np.zeros(n_g)
        with np.errstate(invalid="ignore"):
            rc = (gr.cost - mu[:, None] - self.cpu[:, None] * (pc + ac + pb)[None, :]
                  - self.mem[:, None] * (pm + am)[None, :] - self.gpu[:, None] * pg[None, :])
        rc_y = rc.copy()
        link = seg(self.r_link, len(self.linked))
        np.add.at(rc_y, (self.yw[self.linked], self.yg[self.linked]), -link)
        keep = seg(self.r_keep, len(self.kept))
        np.add.at(rc_y, (self.yw[self.kept], self.yg[self.kept]), keep)
        spread = seg(self.r_spread, len(self.spread_keys))
        if len(spread):  # the spread row holds every group of (w, site); all are columns
            np.add.at(rc_y, (self.yw[self.spread_col], self.yg[self.spread_col]), -spread[self.spread_row])
        finite = np.isfinite(rc_y)
        value += float((np.where(finite, np.minimum(rc_y, 0.0), 0.0) * gr.upper).sum())
        wt = self.problem.weights
        value += float(np.minimum(-self.pen + wt.migration * self.base + mu * self.reps, 0.0).sum())
        value += float((np.minimum(-wt.migration - keep, 0.0) * gr.current[self.yw[self.kept], self.yg[self.kept]]).sum())
        link_price = np.zeros(n_g)
        np.add.at(link_price, self.yg[self.linked], link * gr.per_node[self.yw[self.linked], self.yg[self.linked]])
        rc_a = gr.opening + ac * gr.max_cpu + am * gr.max_mem + link_price
        sizes = np.array([len(ns) for ns in gr.nodes], dtype=np.float64)
        value += float((np.minimum(rc_a, 0.0) * sizes)[self.act].sum())
        if self.balance:
            rc_u = wt.balance + float(pb @ gr.full_cap)
            value += rc_u * (self.u_lo if rc_u >= 0 else self.u_hi)
        return value - T.bound_safety * (abs(value) + 1.0) - 1e-12 * float(self.pen.sum()), rc_y


def solve_lp(problem: Problem, hint: dict[str, tuple[str, ...]], time_limit_s: float,
             start_columns: int = T.lp_start_columns) -> LpResult:
    """Solve the restricted LP, price the omitted columns, add the best ones, repeat."""
    deadline = time.perf_counter() + time_limit_s
    gr = build_groups(problem)
    n_w, n_g = gr.cost.shape
    finite = np.isfinite(gr.cost)
    if int(finite.sum()) <= T.lp_all_columns:
        start_columns = n_g
    else:
        start_columns = min(start_columns, max(T.lp_min_columns, T.lp_all_columns // max(1, n_w)))
    include = np.zeros((n_w, n_g), dtype=np.bool_)
    cheapest = np.argsort(gr.cost, axis=1, kind="stable")[:, :start_columns]
    np.put_along_axis(include, cheapest, True, axis=1)
    include |= gr.current > 0
    cat = problem.cat
    for name, nodes in hint.items():
        wi = cat.workload_index[name]
        include[wi, gr.node_group[[cat.node_index[n] for n in nodes]]] = True
    multi_site = np.zeros_like(include)  # every group of a (workload, site) with a spread row
    include &= finite
    best, lp_value, optimal = -np.inf, -np.inf, False
    prices: Prices | None = None
    values: dict[tuple[int, int], float] = {}
    priced: list[int] = []
    last = 0.0  # wall seconds of the last pricing round: none starts that would end past the deadline
    for _ in range(T.lp_pricing_rounds):
        started = time.perf_counter()
        left = deadline - started
        if left <= 0.02 or (values and left < last):
            break
        include |= multi_site
        yw, yg = np.nonzero(include)
        lp = GroupedLp(problem, gr, yw.astype(np.int64), yg.astype(np.int64))
        if len(lp.spread_keys):
            for key in lp.spread_keys.tolist():
                wi, s = divmod(key, int(gr.site.max(initial=0)) + 1)
                multi_site[wi] |= (gr.site == s) & finite[wi]
            if (multi_site & ~include).any():
                continue
        ok, value, x, duals = lp.solve(left)
        if not ok:
            break
        optimal, lp_value = ok, value
        values = {(int(w), int(g)): float(v) for w, g, v in zip(yw, yg, x[: len(yw)], strict=True) if v > 1e-9}
        bound, rc = lp.lagrangian(duals)
        if bound > best:
            best, prices = bound, lp.prices(duals)
        negative = (rc < -1e-7) & finite & ~include
        priced.append(int(negative.sum()))
        last = time.perf_counter() - started
        if not negative.any():
            break
        ranked = np.argsort(np.where(negative, rc, np.inf), axis=1, kind="stable")[:, :T.lp_price_columns]
        add = np.zeros_like(include)
        np.put_along_axis(add, ranked, True, axis=1)
        include |= add & negative
    complete = bool(optimal and priced and priced[-1] == 0)
    return LpResult(values, float(best), float(lp_value), complete, gr, int(include.sum()), priced, prices)
