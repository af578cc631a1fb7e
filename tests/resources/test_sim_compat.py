"""The resources agree with the simulated city: its EdgeSites validate, the samples use its cells and sites."""

from __future__ import annotations

import pytest

from orchestrator.resources import EdgeSite, EdgeWorkloadSpec
from sim.nodes import site_manifests
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
