"""The robustness benchmark's families, table and summary (no timing: that is the bench's job)."""

from __future__ import annotations

from bench import placement_space as ps
from placement import SOLVERS, SolverConfig


def test_families_build_valid_instances_and_the_volume_bound_is_below_ffd() -> None:
    for family in ("bins1-uniform", "bins3-exact", "priority-overload"):
        inst, weights = ps.FAMILIES[family](0)
        assert inst.workloads and inst.nodes
        if family.startswith("bins"):
            ffd = SOLVERS["ffd"](inst, weights, SolverConfig(solver="ffd"))
            assert not ffd.unplaced  # the node count leaves room for ffd
            assert ps.volume(inst) <= ffd.objective


def test_rows_table_and_summary() -> None:
    inst, weights = ps.FAMILIES["bins1-exact"](0)
    baselines = {n: SOLVERS[n](inst, weights, SolverConfig(solver=n)).objective for n in ps.BASELINES}
    row = ps.run_row("bins1-exact", 0, 0.3, baselines, inst, weights, twice=False)
    assert row["ratio"] <= 1.0 and row["active_nodes"] <= row["ffd_nodes"] and row["optimum"] == 100
    data = {"machine": {"cpu_model": "x", "cores": 2, "os": "Linux", "python": "3"}, "rows": [row],
            "summary": ps.summary([row])}
    table = ps.markdown(data)
    assert "| bins1-exact | 0 |" in table and "rows with ratio > 1: 0" in table
    assert "bins1-exact" in ps.line(row)
    before = dict(row, ratio=1.02, wall_ok=False)
    compared = "\n".join(ps.compare([before], [row]))
    assert "| bins1-exact | worst ratio 1.0200, 1 of 1 above 1, 1 late" in compared
