"""bench.seeds on a tiny family: one row per solver, ours the reference of the ratios, no violations."""

from __future__ import annotations

from bench.seeds import ORDER, run_family


def test_run_family_tallies_every_solver() -> None:
    rows = run_family("12x6", 12, 6, 0.3, (0.55, 0.9), 2)
    assert [r["solver"] for r in rows] == list(ORDER)
    assert all(r["instances"] == 4 for r in rows)
    ours = rows[0]
    assert ours["objective_vs_cpsat"] == 1.0 and ours["violations"] == 0
    assert all(r["objective_vs_cpsat"] >= 1.0 - 1e-9 for r in rows[1:])  # no baseline beats ours in sum
    assert 0.0 < ours["wall_share_mean"] <= ours["wall_share_max"]
