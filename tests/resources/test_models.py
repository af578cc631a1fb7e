"""The pydantic models: samples validate, invalid variants fail naming the field, helpers behave."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.resources import (
    CRDS,
    Comparator,
    ConditionStatus,
    EdgeSiteSpec,
    EdgeWorkloadSpec,
    EdgeWorkloadStatus,
    LedgerRecord,
    Phase,
    ReplicaPlacement,
    ServiceLevelAgreementSpec,
    ServiceLevelAgreementStatus,
    SlaObjective,
    Tier,
    UserDistribution,
    crd_for_kind,
    parse_cpu,
    parse_memory,
    set_condition,
    to_k8s,
)
from orchestrator.vocabulary import NamedMetric
from tests.resources.cases import INVALID, VALID, Invalid, Valid, loc_path, pydantic_names_field, samples


@pytest.mark.parametrize("key", sorted(samples()))
def test_every_sample_validates_and_round_trips(key: str) -> None:
    doc = samples()[key]
    model = crd_for_kind(doc["kind"]).resource.model_validate(doc)
    dumped = to_k8s(model)
    assert all("_" not in k for k in dumped["spec"]), dumped["spec"].keys()
    again = type(model).model_validate(dumped)
    assert again == model


def test_samples_cover_every_kind_and_the_brief() -> None:
    s = samples()
    assert {k.split("/")[0] for k in s} == {info.kind for info in CRDS}
    video = EdgeWorkloadSpec.model_validate(s["EdgeWorkload/video-analytics"]["spec"])
    ar = EdgeWorkloadSpec.model_validate(s["EdgeWorkload/ar-media"]["spec"])
    bus = EdgeWorkloadSpec.model_validate(s["EdgeWorkload/bus-tracking"]["spec"])
    assert video.qos.max_latency_ms == 10 and all(c.cell.startswith("cell-eixample-") for c in video.users.cells)
    assert set(video.placement.allowed_tiers) <= {Tier.FAR_EDGE, Tier.EDGE}
    assert ar.qos.max_latency_ms == 5 and set(ar.placement.allowed_tiers) == {Tier.FAR_EDGE, Tier.EDGE}
    assert Tier.CLOUD in bus.placement.allowed_tiers and bus.qos.max_latency_ms == 50
    sla = ServiceLevelAgreementSpec.model_validate(s["ServiceLevelAgreement/video-analytics-sla"]["spec"])
    assert sla.workload_ref == "video-analytics"
    assert {o.metric for o in sla.objectives} <= set(NamedMetric)  # series the local city publishes


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.id)
def test_valid_edge_cases_validate(case: Valid) -> None:
    doc = case.doc()
    crd_for_kind(doc["kind"]).resource.model_validate(doc)


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_invalid_variants_fail_naming_the_field(case: Invalid) -> None:
    doc = case.doc()
    with pytest.raises(ValidationError) as info:
        crd_for_kind(doc["kind"]).resource.model_validate(doc)
    assert pydantic_names_field(info.value, case.field), (case.field, info.value.errors())


def test_spec_helpers_accept_the_crs_spec_directly() -> None:
    cr = samples()["EdgeWorkload/video-analytics"]
    spec = EdgeWorkloadSpec.model_validate(cr["spec"])
    assert spec.replicas == 3 and spec.resources.cpu == "1500m" and spec.resources.gpu == 0
    assert spec.migration.cooldown_seconds == 60 and spec.placement.max_per_site == 2


def test_defaults_match_the_brief() -> None:
    sla = samples()["ServiceLevelAgreement/video-analytics-sla"]["spec"]
    spec = ServiceLevelAgreementSpec.model_validate({k: v for k, v in sla.items() if k != "evaluation"})
    assert (spec.evaluation.interval_seconds, spec.evaluation.breach_after, spec.evaluation.recover_after) == (5, 3, 3)


def test_the_simulators_edgesite_shape_is_valid() -> None:
    spec = EdgeSiteSpec.model_validate({
        "tier": "edge", "zone": "es-bcn", "district": "gracia", "location": {"lat": 41.40, "lon": 2.15},
        "costPerCpuHour": 0.05, "power": {"idleWatts": 300, "wattsPerCpu": 8.5}, "bandwidthMbps": 10000,
    })
    assert spec.cordoned is False
    assert spec.effective_node_selector("edge-gracia") == {"edgeorch.io/site": "edge-gracia"}
    custom = spec.model_copy(update={"node_selector": {"pool": "mec"}})
    assert custom.effective_node_selector("edge-gracia") == {"pool": "mec"}


def test_python_names_are_accepted_too() -> None:
    spec = UserDistribution.model_validate({"cells": [{"cell": "cell-sants-1", "share": 1.0}]})
    assert to_k8s(spec) == {"cells": [{"cell": "cell-sants-1", "share": 1.0}]}
    placement = ReplicaPlacement(replica=0, node="n1", site="edge-sants", tier=Tier.EDGE)
    assert to_k8s(placement)["tier"] == "edge"


def test_unknown_spec_fields_are_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        UserDistribution.model_validate({"cells": [{"cell": "cell-sants-1", "share": 1}], "cels": []})
    assert loc_path(tuple(info.value.errors()[0]["loc"])) == "cels"


@given(st.lists(st.floats(min_value=0.01, max_value=100), min_size=1, max_size=20))
def test_normalised_shares_always_validate(weights: list[float]) -> None:
    total = sum(weights)
    cells = [{"cell": f"cell-x-{i}", "share": w / total} for i, w in enumerate(weights)]
    cells = [c for c in cells if c["share"] > 0]
    UserDistribution.model_validate({"cells": cells})


@given(
    st.lists(st.integers(min_value=-1000, max_value=1000), min_size=1, max_size=5, unique=True),
    st.sampled_from(list(Comparator)),
)
def test_thresholds_accepted_iff_monotonic_in_the_bad_direction(values: list[int], comparator: Comparator) -> None:
    levels = ["warning", "mild", "serious", "severe", "catastrophic"]
    thresholds = dict(zip(levels, values, strict=False))
    ordered = sorted(values) if comparator.lower_is_better else sorted(values, reverse=True)
    raw = {"name": "x", "metric": "m", "comparator": comparator, "window": "30s", "thresholds": thresholds}
    if values == ordered:
        SlaObjective.model_validate(raw)
    else:
        with pytest.raises(ValidationError, match=r"spec\.objectives\[\]\.thresholds"):
            SlaObjective.model_validate(raw)


def test_quantities() -> None:
    assert parse_cpu("500m") == 0.5 and parse_cpu(2) == 2.0 and parse_cpu("1.5") == 1.5
    assert parse_memory("256Mi") == 256 * 2**20 and parse_memory("1G") == 10**9 and parse_memory("1e3") == 1000
    for bad in ("lots", "-1", "1.2.3", "5 Mi"):
        with pytest.raises(ValueError, match="quantity"):
            parse_cpu(bad)


def test_set_condition_keeps_transition_time_unless_status_changes() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    conds = set_condition([], "Placed", ConditionStatus.TRUE, "SolverOptimal", now=t0, observed_generation=1)
    conds = set_condition(conds, "Placed", ConditionStatus.TRUE, "SolverFeasible", now=t0 + timedelta(1))
    assert len(conds) == 1 and conds[0].last_transition_time == t0 and conds[0].reason == "SolverFeasible"
    conds = set_condition(conds, "Placed", ConditionStatus.FALSE, "NoCapacity", now=t0 + timedelta(2))
    conds = set_condition(conds, "Degraded", ConditionStatus.TRUE, "LatencyAboveTarget", now=t0 + timedelta(3))
    assert [c.type for c in conds] == ["Placed", "Degraded"]
    assert conds[0].last_transition_time == t0 + timedelta(2)
    assert to_k8s(conds[0])["lastTransitionTime"] == "2026-01-03T00:00:00Z"


def test_status_round_trips_and_summarises_sites() -> None:
    placements = [
        ReplicaPlacement(replica=i, node=f"n{i}", site=site, tier=Tier.EDGE)
        for i, site in enumerate(["edge-a", "edge-b", "edge-a"])
    ]
    status = EdgeWorkloadStatus(
        phase=Phase.PLACED, placements=placements, sites=EdgeWorkloadStatus.summarize_sites(placements),
        predicted_latency_ms=4.2, migrations=1,
    )
    dumped = to_k8s(status)
    assert dumped["sites"] == "edge-a,edge-b" and dumped["predictedLatencyMs"] == 4.2
    assert "lastMigrationTime" not in dumped  # unset fields are omitted, not null
    assert EdgeWorkloadStatus.model_validate({**dumped, "kopf": {"progress": {}}}) == status


def test_ledger_payload_must_be_json() -> None:
    LedgerRecord(kind="Breach", key="sla/x/1", payload='{"severity": "mild"}')
    with pytest.raises(ValidationError, match="payload"):
        LedgerRecord(kind="Breach", key="sla/x/1", payload="{not json")


def test_resources_package_imports_no_kubernetes_client_kopf_or_web3() -> None:
    code = (
        "import sys, orchestrator.resources, devstack.crdgen\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'kubernetes', 'kubernetes_asyncio', 'kopf', 'web3', 'eth_tester'}]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_list_types_are_mirrored_duplicates_rejected() -> None:
    with pytest.raises(ValidationError, match="allowedTiers: duplicate"):
        EdgeWorkloadSpec.model_validate({
            **samples()["EdgeWorkload/video-analytics"]["spec"],
            "placement": {"allowedTiers": ["edge", "edge"]},
        })
    placement = ReplicaPlacement(replica=0, node="n", site="s", tier=Tier.EDGE)
    with pytest.raises(ValidationError, match="placements: duplicate"):
        EdgeWorkloadStatus(placements=[placement, placement])
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    cond = set_condition([], "Placed", ConditionStatus.TRUE, "Ok", now=t0)[0]
    with pytest.raises(ValidationError, match="conditions: duplicate"):
        EdgeWorkloadStatus(conditions=[cond, cond])
    with pytest.raises(ValidationError, match="outbox: duplicate"):
        ServiceLevelAgreementStatus(outbox=[LedgerRecord(kind="Breach", key="k", payload="{}")] * 2)
