"""Scenario loading, validation errors and the latency model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.scenario import TIERS, City, ScenarioError, list_scenarios, load_scenario, parse_scenario


def _mini_data() -> dict[str, Any]:
    path = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "mini.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_builtins_are_listed_and_load() -> None:
    assert {"barcelona", "city-500", "mini"} <= set(list_scenarios())
    for name in list_scenarios():
        city = load_scenario(name)
        assert isinstance(city, City)
        assert city.name == name


def test_default_scenario_is_barcelona() -> None:
    assert load_scenario().name == "barcelona"


def test_barcelona_has_three_sites_per_tier_and_a_city_sized_fleet() -> None:
    city = load_scenario("barcelona")
    for tier in TIERS:
        assert len(city.sites_of_tier(tier)) >= 3, tier
    assert 20 <= len(city.node_names()) <= 40
    assert 12 <= len(city.cells) <= 16
    assert {"mec-22at", "mec-montjuic", "mec-sagrera", "cloud-bcn-dc", "cloud-madrid", "cloud-frankfurt"} <= {
        s.name for s in city.sites}
    assert len({s.zone for s in city.sites_of_tier("cloud")}) >= 3


def test_city_500_has_exactly_500_unique_nodes() -> None:
    city = load_scenario("city-500")
    names = city.node_names()
    assert len(names) == 500
    assert len(set(names)) == 500
    for tier in TIERS:
        assert city.sites_of_tier(tier)


def test_mini_is_tiny() -> None:
    city = load_scenario("mini")
    assert len(city.node_names()) <= 8
    for tier in TIERS:
        assert 1 <= len(city.sites_of_tier(tier)) <= 2


def test_load_from_path(tmp_path: Path) -> None:
    data = _mini_data()
    data["name"] = "my-town"
    path = tmp_path / "town.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_scenario(path).name == "my-town"
    assert load_scenario(str(path)).name == "my-town"


def test_unknown_scenario_names_the_builtins() -> None:
    with pytest.raises(ScenarioError, match="barcelona"):
        load_scenario("atlantis")


def test_invalid_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="invalid YAML"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["sites"][0].update(tier="fog"), r"sites\[0\]\.tier"),
        (lambda d: d["sites"][1].update(nodes=-2), r"sites\[1\]\.nodes"),
        (lambda d: d["sites"][2].update(node_cpu_m=0), r"sites\[2\]\.node_cpu_m"),
        (lambda d: d["sites"].append(dict(d["sites"][0])), r"sites: duplicate site name\(s\): fe-eixample"),
        (lambda d: d["cells"].append(dict(d["cells"][0])), r"cells: duplicate cell name"),
        (lambda d: d["sites"][0].update(zone="mars"), r"sites\[0\]\.zone: 'mars'"),
        (lambda d: d["sites"][0].update(colour="red"), r"sites\[0\]\.colour: Extra inputs"),
        (lambda d: d["sites"][0].update(name="Bad_Name"), r"sites\[0\]\.name"),
        (lambda d: d["cells"][0].update(lat=123), r"cells\[0\]\.lat"),
        (lambda d: d.update(latency={"overrides": {"cell-nowhere": {"mec-22at": 3}}}),
         r"latency\.overrides: unknown cell 'cell-nowhere'"),
        (lambda d: d.update(latency={"overrides": {"cell-eixample-1": {"mec-nowhere": 3}}}),
         r"latency\.overrides\.cell-eixample-1: unknown site 'mec-nowhere'"),
        (lambda d: d.update(latency={"tiers": {"edge": {"base_ms": 3, "per_km_ms": 0, "min_ms": 9, "max_ms": 2}}}),
         r"latency\.tiers\.edge: min_ms"),
        (lambda d: d.pop("sites"), r"sites: Field required"),
        (lambda d: d.update(routes=[{"name": "v1", "stops": [{"cell": "cell-nowhere", "dwell_s": 5}]}]),
         r"routes\[0\]\.stops\[0\]\.cell: unknown cell 'cell-nowhere'"),
        (lambda d: d.update(routes=[{"name": "v1", "stops": [{"cell": "cell-gracia-1", "dwell_s": 0}]}]),
         r"routes\[0\]\.stops\[0\]\.dwell_s"),
        (lambda d: d.update(routes=[{"name": "v1", "stops": []}]), r"routes\[0\]\.stops"),
        (lambda d: d.update(routes=[{"name": "v1", "stops": [{"cell": "cell-gracia-1", "dwell_s": 5}]}] * 2),
         r"duplicate route name\(s\): v1"),
    ],
)
def test_validation_errors_name_the_field(mutate: Any, field: str) -> None:
    data = _mini_data()
    mutate(data)
    with pytest.raises(ScenarioError, match=field):
        parse_scenario(data, "test")


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ScenarioError, match="mapping"):
        parse_scenario(["a"], "test")


def test_models_are_frozen() -> None:
    city = load_scenario("mini")
    with pytest.raises(ValueError, match="frozen"):
        setattr(city.sites[0], "nodes", 3)  # noqa: B010


@pytest.mark.parametrize("name", ["barcelona", "city-500"])
def test_latency_ordering_far_edge_edge_cloud_in_the_same_district(name: str) -> None:
    city = load_scenario(name)
    lat = city.latency_ms()
    checked = 0
    for cell in city.cells:
        local = [s for s in city.sites_of_tier("far-edge") if s.district == cell.district]
        if not local:
            continue
        worst_far_edge = max(lat[cell.name][s.name] for s in local)
        edges = [lat[cell.name][s.name] for s in city.sites_of_tier("edge")]
        clouds = [lat[cell.name][s.name] for s in city.sites_of_tier("cloud")]
        assert worst_far_edge < min(edges) <= max(edges) < min(clouds), cell.name
        assert 1.0 <= worst_far_edge <= 3.0
        assert all(3.0 <= ms <= 8.0 for ms in edges)
        assert all(20.0 <= ms <= 40.0 for ms in clouds)
        checked += 1
    assert checked >= 8


def test_far_edge_is_worse_from_another_district() -> None:
    city = load_scenario("barcelona")
    lat = city.latency_ms()
    assert lat["cell-eixample-1"]["fe-eixample"] + 2 < lat["cell-poblenou-1"]["fe-eixample"]


def test_latency_is_deterministic_and_seeded() -> None:
    data = _mini_data()
    a, b = parse_scenario(data), parse_scenario(data)
    assert a.latency_ms() == b.latency_ms()
    data["latency"] = {"seed": 12345}
    assert parse_scenario(data).latency_ms() != a.latency_ms()


def test_latency_and_bandwidth_overrides() -> None:
    data = _mini_data()
    data["latency"] = {"overrides": {"cell-gracia-1": {"cloud-frankfurt": 99.5}}}
    data["bandwidth_overrides"] = {"cell-gracia-1": {"mec-22at": 123}}
    city = parse_scenario(data)
    assert city.latency_ms()["cell-gracia-1"]["cloud-frankfurt"] == 99.5
    assert city.bandwidth_mbps()["cell-gracia-1"]["mec-22at"] == 123
    assert city.bandwidth_mbps()["cell-gracia-1"]["fe-eixample"] == 1000  # min(cell 2000, site 1000)


def test_tier_parameters_can_be_replaced() -> None:
    data = _mini_data()
    data["latency"] = {"tiers": {"cloud": {"base_ms": 50, "per_km_ms": 0, "min_ms": 50, "max_ms": 50}}}
    city = parse_scenario(data)
    assert {row["cloud-bcn-dc"] for row in city.latency_ms().values()} == {50.0}


def test_matrices_cover_every_cell_and_site() -> None:
    city = load_scenario("barcelona")
    for matrix in (city.latency_ms(), city.bandwidth_mbps()):
        assert set(matrix) == {c.name for c in city.cells}
        for row in matrix.values():
            assert set(row) == {s.name for s in city.sites}
            assert all(v > 0 for v in row.values())


@settings(max_examples=60, deadline=None)
@given(
    lat=st.floats(min_value=41.30, max_value=41.47),
    lon=st.floats(min_value=2.05, max_value=2.25),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_latency_stays_in_the_tier_bands_anywhere_in_the_city(lat: float, lon: float, seed: int) -> None:
    data = _mini_data()
    data["cells"].append({"name": "cell-probe-1", "district": "eixample", "lat": lat, "lon": lon})
    data["latency"] = {"seed": seed}
    city = parse_scenario(data)
    row = city.latency_ms()["cell-probe-1"]
    bands = {"far-edge": (1.0, 12.0), "edge": (3.0, 8.0), "cloud": (20.0, 40.0)}
    for site in city.sites:
        low, high = bands[site.tier]
        assert low <= row[site.name] <= high, site.name
    assert row == parse_scenario(data).latency_ms()["cell-probe-1"]
