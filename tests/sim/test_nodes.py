"""kwok Node and EdgeSite builders."""

from __future__ import annotations

import pytest

from sim.nodes import (
    cell_manifests,
    cell_to_site_table,
    node_manifests,
    node_not_ready_patch,
    node_offline_patch,
    node_online_patch,
    node_ready_patch,
    site_manifests,
    site_node_names,
)
from sim.scenario import load_scenario


def _by_name(city_name: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {n["metadata"]["name"]: n for n in node_manifests(load_scenario(city_name))}


def test_one_node_per_scenario_node_with_site_prefixed_names() -> None:
    city = load_scenario("barcelona")
    nodes = node_manifests(city)
    assert [n["metadata"]["name"] for n in nodes] == city.node_names()
    assert "mec-22at-n01" in city.node_names()
    assert "mec-22at-n04" in city.node_names()


def test_three_digit_suffix_for_large_sites() -> None:
    names = load_scenario("city-500").node_names()
    assert len(node_manifests(load_scenario("city-500"))) == 500
    assert all(n.rsplit("-n", 1)[1].isdigit() for n in names)


def test_node_labels_annotations_and_taints() -> None:
    nodes = _by_name("barcelona")
    far = nodes["fe-gracia-n02"]
    meta = far["metadata"]
    assert meta["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert meta["labels"] == {
        **meta["labels"],
        "type": "kwok",
        "kubernetes.io/hostname": "fe-gracia-n02",
        "kubernetes.io/role": "agent",
        "edgeorch.io/site": "fe-gracia",
        "edgeorch.io/tier": "far-edge",
        "edgeorch.io/district": "gracia",
        "topology.kubernetes.io/region": "es-bcn",
        "topology.kubernetes.io/zone": "es-bcn-gracia",
    }
    assert meta["labels"]["node.kubernetes.io/instance-type"] == "far-edge-4c-8g"
    taints = {(t["key"], t["value"], t["effect"]) for t in far["spec"]["taints"]}
    assert taints == {("edgeorch.io/far-edge", "true", "NoSchedule")}
    cloud = nodes["cloud-frankfurt-n01"]
    assert cloud["metadata"]["labels"]["topology.kubernetes.io/region"] == "eu-central"
    assert cloud["spec"]["taints"] == []


def test_allocatable_and_capacity() -> None:
    nodes = _by_name("barcelona")
    mec = nodes["mec-22at-n03"]["status"]
    assert mec["allocatable"] == {"cpu": "16", "memory": "64Gi", "pods": "110", "nvidia.com/gpu": "1"}
    assert mec["capacity"] == mec["allocatable"]
    plain = nodes["mec-sagrera-n01"]["status"]["allocatable"]
    assert "nvidia.com/gpu" not in plain
    assert nodes["mec-22at-n01"]["metadata"]["labels"]["edgeorch.io/gpu"] == "true"
    assert nodes["mec-sagrera-n01"]["status"]["nodeInfo"]["kubeletVersion"]


def test_odd_sizes_use_milli_and_mebi_quantities() -> None:
    from sim.nodes import cpu_quantity, memory_quantity

    assert cpu_quantity(1500) == "1500m"
    assert cpu_quantity(2000) == "2"
    assert memory_quantity(1500) == "1500Mi"
    assert memory_quantity(2048) == "2Gi"


def test_site_manifests_shape() -> None:
    city = load_scenario("barcelona")
    sites = {s["metadata"]["name"]: s for s in site_manifests(city)}
    assert set(sites) == {s.name for s in city.sites}
    mec = sites["mec-22at"]
    assert mec["apiVersion"] == "edgeorch.io/v1alpha1"
    assert mec["kind"] == "EdgeSite"
    assert "namespace" not in mec["metadata"]
    assert mec["spec"] == {
        "tier": "edge",
        "zone": "es-bcn",
        "district": "poblenou",
        "location": {"lat": 41.4035, "lon": 2.1925},
        "costPerCpuHour": 0.06,
        "power": {"idleWatts": 250.0, "wattsPerCpu": 9.0},
        "bandwidthMbps": 10000.0,
    }


def test_cell_manifests_shape() -> None:
    city = load_scenario("barcelona")
    cells = {c["metadata"]["name"]: c for c in cell_manifests(city)}
    assert set(cells) == {c.name for c in city.cells}
    cell = cells["cell-eixample-1"]
    assert (cell["apiVersion"], cell["kind"]) == ("edgeorch.io/v1alpha1", "RadioCell")
    assert cell["metadata"] == {"name": "cell-eixample-1", "labels": {"edgeorch.io/district": "eixample"}}
    assert cell["spec"] == {"district": "eixample", "location": {"lat": 41.389, "lon": 2.16}}


def test_offline_and_ready_patches() -> None:
    down = node_not_ready_patch()["status"]["conditions"]
    up = node_ready_patch()["status"]["conditions"]
    assert [(c["type"], c["status"]) for c in down] == [("Ready", "False")]
    assert [(c["type"], c["status"]) for c in up] == [("Ready", "True")]
    assert down[0]["lastTransitionTime"].endswith("Z")
    assert node_offline_patch() == {"metadata": {"annotations": {"edgeorch.io/offline": "true"}}}
    assert node_online_patch() == {"metadata": {"annotations": {"edgeorch.io/offline": None}}}


def test_site_node_names_and_unknown_site() -> None:
    city = load_scenario("mini")
    assert site_node_names(city, "mec-22at") == ["mec-22at-n01", "mec-22at-n02"]
    with pytest.raises(KeyError, match="atlantis"):
        site_node_names(city, "atlantis")


def test_cell_to_site_table() -> None:
    city = load_scenario("mini")
    table = cell_to_site_table(city)
    assert table["cell-eixample-1"]["mec-22at"]["latency_ms"] == city.latency_ms()["cell-eixample-1"]["mec-22at"]
    assert table["cell-eixample-1"]["mec-22at"]["bandwidth_mbps"] == 2000


def test_site_offline_and_online_patches_cover_every_node_of_the_site() -> None:
    from datetime import UTC, datetime

    from sim.nodes import site_offline_patches, site_online_patches

    city = load_scenario("barcelona")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    down = site_offline_patches(city, "mec-montjuic", now=when)
    assert [n for n, _, _ in down] == [f"mec-montjuic-n0{i}" for i in range(1, 5)]
    assert all(meta == node_offline_patch() for _, meta, _ in down)
    assert all(status == node_not_ready_patch(when) for _, _, status in down)
    assert down[0][2]["status"]["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    up = site_online_patches(city, "mec-montjuic", now=when)
    assert [(n, meta) for n, meta, _ in up] == [(n, node_online_patch()) for n, _, _ in down]
    assert all(status["status"]["conditions"][0]["status"] == "True" for _, _, status in up)
    with pytest.raises(KeyError):
        site_offline_patches(city, "mec-nowhere")
