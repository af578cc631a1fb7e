"""placement.assess says of a placement what the solver would: the predicted latency its result
reports (the objective's evaluation of that assignment) and the bounds the filters enforce (a site
breaks the workload's bounds exactly when LatencyBound or BandwidthBound would drop it)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from placement import Instance, Weights, Workload, evaluate
from placement.assess import assess
from placement.catalog import Catalog
from placement.filters import BandwidthBound, LatencyBound
from tests.placement.instances import instances, small


@given(instances(), st.data())
@settings(max_examples=60, deadline=None)
def test_assessment_agrees_with_the_objective_and_the_filters(inst: Instance, data: st.DataObject) -> None:
    for wi, w in enumerate(inst.workloads):
        nodes = data.draw(st.lists(st.sampled_from(inst.nodes), min_size=w.replicas, max_size=w.replicas))
        sites = [n.site for n in nodes]
        a = assess(inst, w, sites)
        predicted = evaluate(inst, Weights(), {w.name: tuple(n.name for n in nodes)}).predicted_latency_ms[w.name]
        assert a.predicted_latency_ms == pytest.approx(predicted)
        cat = Catalog(inst, Weights())
        candidates = np.array(sorted({cat.site_index[s] for s in sites}), dtype=np.int64)
        keep = LatencyBound().filter(cat, wi, candidates).keep & BandwidthBound().filter(cat, wi, candidates).keep
        filtered_out = {cat.site_names[int(c)] for c, k in zip(candidates, keep, strict=True) if not k}
        assert set(a.breaking) == filtered_out
        assert a.holds == (not filtered_out)


def test_the_worst_cell_and_site_and_the_sentences() -> None:
    w = Workload("cam", 2, 250, 128, cells={"c1": 0.5, "c2": 0.5}, max_latency_ms=6.0, min_bandwidth_mbps=2000)
    inst = small([w])
    a = assess(inst, w, ["fe1", "mec1"])
    assert (a.worst_latency_ms, a.worst_cell, a.worst_site) == (9.0, "c2", "fe1")
    assert a.breaking == ("fe1",)  # 9 ms from c2 > 6 ms, and 1000 Mbps < 2000
    assert a.problems == ("cell c2 -> site fe1 9.0 ms > 6 ms", "site fe1 1000 Mbps < 2000 Mbps")
    assert a.least_bandwidth_mbps == 1000.0
    assert a.predicted_latency_ms == pytest.approx(((1 + 9) / 2 + (5 + 4) / 2) / 2)
    held = assess(inst, dataclasses.replace(w, min_bandwidth_mbps=None), ["mec1", "mec1"])
    assert held.holds and held.problems == () and held.least_bandwidth_mbps is None
    with pytest.raises(ValueError, match="at least one replica"):
        assess(inst, w, [])
