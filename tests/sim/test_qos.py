"""Fault state and the QoS model, in process (no HTTP, no clock)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sim.exporter import Exporter
from sim.faults import CityState, FaultError, WorkloadPlacement, parse_fault
from sim.qos import MIB, QoSModel
from sim.scenario import load_scenario


@pytest.fixture
def model() -> QoSModel:
    return QoSModel(CityState(load_scenario("mini")), seed=3)


def _samples(exporter: Exporter, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in text_string_to_metric_families(exporter.metrics_text().decode()):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_latency_faults_add_up_and_heal(model: QoSModel) -> None:
    base = model.link_latency_ms("cell-eixample-1", "mec-22at")
    assert base == model.base_latency_ms("cell-eixample-1", "mec-22at")
    a = model.state.add_fault({"kind": "latency", "site": "mec-22at", "add_ms": 40})
    model.state.add_fault({"kind": "latency", "site": "mec-22at", "add_ms": 5, "cell": "cell-gracia-1"})
    assert model.link_latency_ms("cell-eixample-1", "mec-22at") == pytest.approx(base + 40)
    assert model.link_latency_ms("cell-gracia-1", "mec-22at") == pytest.approx(
        model.base_latency_ms("cell-gracia-1", "mec-22at") + 45)
    assert model.link_latency_ms("cell-eixample-1", "fe-eixample") == model.base_latency_ms(
        "cell-eixample-1", "fe-eixample")
    assert model.state.heal(a.id) == [a.id]
    assert model.link_latency_ms("cell-eixample-1", "mec-22at") == pytest.approx(base)
    assert len(model.state.heal()) == 1
    assert model.state.faults == {}
    with pytest.raises(KeyError):
        model.state.heal("f999")


def test_fault_ids_are_unique(model: QoSModel) -> None:
    ids = {model.state.add_fault({"kind": "offline", "site": "mec-22at"}).id for _ in range(5)}
    assert len(ids) == 5


def test_cpu_fault_latest_wins_and_raises_load(model: QoSModel) -> None:
    assert model.node_cpu_cores("mec-22at-n01") == pytest.approx(1.6)
    assert model.node_memory_bytes("mec-22at-n01") == pytest.approx(0.1 * 65536 * MIB)
    idle = model.load_factor("mec-22at")
    model.state.add_fault({"kind": "cpu", "node": "mec-22at-n01", "usage_cores": 7.5})
    model.state.add_fault({"kind": "cpu", "node": "mec-22at-n01", "usage_cores": 16})
    assert model.node_cpu_cores("mec-22at-n01") == 16
    assert model.site_utilisation("mec-22at") == pytest.approx((16 + 1.6) / 32)
    assert model.load_factor("mec-22at") > idle


def test_offline_site(model: QoSModel) -> None:
    placement = WorkloadPlacement(site="fe-eixample")
    assert model.request_latency_s(placement) is not None
    model.state.add_fault({"kind": "offline", "site": "fe-eixample"})
    assert not model.site_up("fe-eixample")
    assert model.site_up("mec-22at")
    assert model.request_latency_s(placement) is None
    assert model.expected_latency_ms(placement) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "latency", "site": "atlantis", "add_ms": 1}, "site: unknown site 'atlantis'"),
        ({"kind": "latency", "site": "mec-22at", "add_ms": -1}, "add_ms: Input should be greater than or equal"),
        ({"kind": "latency", "site": "mec-22at"}, "add_ms: Field required"),
        ({"kind": "latency", "site": "mec-22at", "add_ms": 1, "cell": "cell-x"}, "cell: unknown cell 'cell-x'"),
        ({"kind": "cpu", "node": "mec-22at-n99", "usage_cores": 1}, "node: unknown node 'mec-22at-n99'"),
        ({"kind": "cpu", "node": "mec-22at-n01", "usage_cores": "lots"}, "usage_cores: Input should be a valid"),
        ({"kind": "offline", "site": "mec-22at", "when": "now"}, "when: Extra inputs are not permitted"),
        ({"kind": "flood", "site": "mec-22at"}, "kind: must be one of latency, cpu, offline, load, got 'flood'"),
        ({"site": "mec-22at"}, "kind: must be one of"),
        (["latency"], "body: expected a JSON object"),
    ],
)
def test_bad_faults_name_the_field(model: QoSModel, body: object, message: str) -> None:
    with pytest.raises(FaultError) as err:
        model.state.add_fault(body)
    assert str(err.value).startswith(message)
    assert model.state.faults == {}


def test_parse_fault_accepts_each_kind() -> None:
    assert parse_fault({"kind": "offline", "site": "x"}).kind == "offline"
    assert parse_fault({"kind": "cpu", "node": "n", "usage_cores": 2}).kind == "cpu"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"site": "atlantis"}, "site: unknown site"),
        ({"site": "mec-22at", "cells": {"cell-x": 1}}, "cells.cell-x: unknown cell"),
        ({"site": "mec-22at", "cells": {"cell-eixample-1": 0}}, "cells.cell-eixample-1: Input should be greater"),
        ({"cells": {}}, "site: Field required"),
    ],
)
def test_bad_placements_name_the_field(model: QoSModel, body: object, message: str) -> None:
    with pytest.raises(FaultError, match=f"^{message}"):
        model.state.set_workload("ns/w", body)


def test_default_cell_mix_is_the_site_district(model: QoSModel) -> None:
    state = model.state
    assert state.cell_mix(WorkloadPlacement(site="mec-22at")) == {"cell-poblenou-1": 1.0}
    # no cell in the cloud DC's district: every cell
    assert set(state.cell_mix(WorkloadPlacement(site="cloud-bcn-dc"))) == {c.name for c in state.city.cells}


def test_request_latency_follows_link_latency(model: QoSModel) -> None:
    placement = WorkloadPlacement(site="mec-22at", cells={"cell-eixample-1": 1})
    link = model.base_latency_ms("cell-eixample-1", "mec-22at")
    samples = [model.request_latency_s(placement) for _ in range(50)]
    assert all(s is not None and 0.95 * (link + 1) / 1000 <= s <= 1.05 * (link + 1.2) / 1000 for s in samples)
    model.state.add_fault({"kind": "latency", "site": "mec-22at", "add_ms": 40})
    slow = [model.request_latency_s(placement) for _ in range(50)]
    assert min(s for s in slow if s is not None) > 0.04


@pytest.mark.parametrize("jitter_ms", [0.0, 2.0])
def test_batched_requests_draw_exactly_what_single_requests_draw(jitter_ms: float) -> None:
    city = load_scenario("mini")
    single, batched = (QoSModel(CityState(city), jitter_ms=jitter_ms, seed=5) for _ in range(2))
    mix = {"cell-eixample-1": 0.7, "cell-gracia-1": 0.3}
    for m in (single, batched):
        m.state.add_fault({"kind": "latency", "site": "mec-22at", "add_ms": 7, "cell": "cell-gracia-1"})
        m.state.add_fault({"kind": "cpu", "node": city.site("mec-22at").node_names()[0], "usage_cores": 3})
    placement = WorkloadPlacement(site="mec-22at", cells=mix)
    one_by_one = [single.request_latency_s(placement) for _ in range(40)]
    assert batched.request_latencies_s(placement, 40) == one_by_one
    assert len(set(one_by_one)) > 1  # really drawn, not a constant
    for m in (single, batched):
        m.state.add_fault({"kind": "offline", "site": "mec-22at"})
    assert batched.request_latencies_s(placement, 5) is None
    assert single.request_latency_s(placement) is None


def test_jitter_is_seeded_and_bounded() -> None:
    city = load_scenario("mini")
    a = QoSModel(CityState(city), jitter_ms=2.0, seed=9)
    b = QoSModel(CityState(city), jitter_ms=2.0, seed=9)
    xs = [a.link_latency_ms("cell-gracia-1", "fe-eixample") for _ in range(20)]
    assert xs == [b.link_latency_ms("cell-gracia-1", "fe-eixample") for _ in range(20)]
    base = a.base_latency_ms("cell-gracia-1", "fe-eixample")
    assert all(base <= x < base + 2.0 for x in xs)
    assert len(set(xs)) > 1


def test_model_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="baseline_cpu"):
        QoSModel(CityState(load_scenario("mini")), baseline_cpu=1.5)
    with pytest.raises(ValueError, match="jitter_ms"):
        QoSModel(CityState(load_scenario("mini")), jitter_ms=-1)


def test_exporter_tick_observes_samples_and_failures(model: QoSModel) -> None:
    exporter = Exporter(model, samples_per_second=10)
    model.state.set_workload("shop/cart", {"site": "mec-22at"})
    exporter.tick(0.25)  # 2.5 samples: 2 now, the half is owed
    exporter.tick(0.25)
    counts = _samples(exporter, "edgeorch_app_request_latency_seconds_count")
    assert counts == {(("site", "mec-22at"), ("workload", "shop/cart")): 5.0}
    model.state.add_fault({"kind": "offline", "site": "mec-22at"})
    exporter.tick(1.0)
    failed = _samples(exporter, "edgeorch_app_requests_failed_total")
    assert failed == {(("site", "mec-22at"), ("workload", "shop/cart")): 10.0}
    total = _samples(exporter, "edgeorch_app_request_latency_seconds_sum")
    assert total[(("site", "mec-22at"), ("workload", "shop/cart"))] >= 10 * model.timeout_s


def test_collector_gauges(model: QoSModel) -> None:
    exporter = Exporter(model)
    latency = _samples(exporter, "edgeorch_link_latency_seconds")
    city = model.state.city
    assert len(latency) == len(city.cells) * len(city.sites)
    key = (("cell", "cell-eixample-1"), ("site", "fe-eixample"))
    assert latency[key] == pytest.approx(city.latency_ms()["cell-eixample-1"]["fe-eixample"] / 1000)
    bw = _samples(exporter, "edgeorch_link_bandwidth_bytes")
    assert bw[key] == 1000e6 / 8
    assert set(_samples(exporter, "edgeorch_site_up").values()) == {1.0}
    assert len(_samples(exporter, "edgeorch_node_cpu_usage_cores")) == len(city.node_names())
    model.state.add_fault({"kind": "offline", "site": "mec-22at"})
    assert _samples(exporter, "edgeorch_site_up")[(("site", "mec-22at"),)] == 0.0
    cpu = _samples(exporter, "edgeorch_node_cpu_usage_cores")
    assert len(cpu) == len(city.node_names()) - 2
    assert not any(dict(k)["site"] == "mec-22at" for k in cpu)
