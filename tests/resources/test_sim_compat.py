"""The resources agree with the simulated city: its EdgeSites and RadioCells validate, the samples use its cells and sites."""

from __future__ import annotations

import pytest

from orchestrator.resources import EdgeSite, EdgeWorkloadSpec, RadioCell
from sim.nodes import cell_manifests, site_manifests
from sim.scenario import list_scenarios, load_scenario
from tests.resources.cases import samples


@pytest.mark.parametrize("scenario", list_scenarios())
def test_every_simulated_edgesite_validates(scenario: str) -> None:
    manifests = site_manifests(load_scenario(scenario))
    assert manifests
    for manifest in manifests:
        site = EdgeSite.model_validate(manifest)
        assert site.spec.node_selector is None and site.spec.cordoned is False


def test_sample_workloads_use_cells_of_the_barcelona_city() -> None:
    cells = {c.name for c in load_scenario("barcelona").cells}
    for key, doc in samples().items():
        if key.startswith("EdgeWorkload/"):
            used = {c.cell for c in EdgeWorkloadSpec.model_validate(doc["spec"]).users.cells}
            assert used <= cells, f"{key} uses cells the simulated city lacks: {sorted(used - cells)}"


def test_sample_edgesites_are_the_simulators_own() -> None:
    sim_sites = {m["metadata"]["name"]: m for m in site_manifests(load_scenario("barcelona"))}
    for key, doc in samples().items():
        if key.startswith("EdgeSite/"):
            name = key.split("/", 1)[1]
            assert name in sim_sites, name
            assert EdgeSite.model_validate(doc) == EdgeSite.model_validate(sim_sites[name])


@pytest.mark.parametrize("scenario", list_scenarios())
def test_every_simulated_radiocell_validates(scenario: str) -> None:
    city = load_scenario(scenario)
    manifests = cell_manifests(city)
    assert [m["metadata"]["name"] for m in manifests] == [c.name for c in city.cells]
    for manifest in manifests:
        cell = RadioCell.model_validate(manifest)
        assert cell.status is None and cell.spec.district == city.cell(cell.metadata["name"]).district


def test_sample_radiocells_are_the_simulators_own() -> None:
    sim_cells = {m["metadata"]["name"]: m for m in cell_manifests(load_scenario("barcelona"))}
    keys = [k for k in samples() if k.startswith("RadioCell/")]
    assert keys
    for key in keys:
        name = key.split("/", 1)[1]
        sample = RadioCell.model_validate(samples()[key])
        assert sample.model_copy(update={"spec": sample.spec.model_copy(update={"description": None})}) \
            == RadioCell.model_validate(sim_cells[name])
