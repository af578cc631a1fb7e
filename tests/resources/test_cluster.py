"""Against the real API server (`stack` from tests/conftest.py): CRDs, CEL rules, explain, the kustomization.

Every invalid case of tests/resources/cases.py must be rejected by the API server with an error naming
the same field pydantic names: the operator's validation and the API server's agree.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Protocol

import pytest
import yaml

from orchestrator.resources import (
    CRDS,
    ConditionStatus,
    EdgeWorkloadStatus,
    LedgerRecord,
    ObjectiveState,
    ObjectiveStatus,
    Phase,
    ReplicaPlacement,
    ServiceLevelAgreementSpec,
    ServiceLevelAgreementStatus,
    Severity,
    SolverReport,
    Tier,
    set_condition,
    to_k8s,
)
from tests.conftest import StackHandle
from tests.resources.cases import CRD_DIR, INVALID, REPO, SAMPLES, VALID, Invalid, Valid, samples

pytestmark = pytest.mark.cluster

OPERATOR_SA = "system:serviceaccount:edgeorch-system:edgeorch-operator"


class Kubectl(Protocol):
    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any: ...


@pytest.fixture(scope="module")
def kube(stack: StackHandle) -> Iterator[StackHandle]:
    """The stack with edgeorch's CRDs applied and Established, and no operator running.

    These tests write statuses by hand to check what the API server stores; an operator started by
    an earlier module (the session's `operator` fixture) would race them, so it is paused here and
    started again afterwards.
    """
    stack.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=edgeorch-tests", "-k", str(CRD_DIR))
    names = [f"crd/{info.name}" for info in CRDS]
    stack.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    paused = stack.stack.supervisor.pid("operator") is not None
    if paused:
        stack.stack.stop_operator()
    try:
        yield stack
    finally:
        if paused:
            stack.stack.start_operator()


@pytest.fixture
def namespace(kube: Kubectl) -> Iterator[str]:
    name = f"edgeorch-test-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_crds_are_established_with_names_and_categories(kube: Kubectl) -> None:
    for info in CRDS:
        crd = json.loads(kube.kubectl("get", f"crd/{info.name}", "-o", "json").stdout)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True" and conditions.get("NamesAccepted") == "True", conditions
        assert crd["status"]["acceptedNames"]["shortNames"] == list(info.short_names)
    listed = kube.kubectl("get", "edgeorch", "-A", "-o", "name").returncode
    assert listed == 0  # the `edgeorch` category resolves


@pytest.mark.parametrize("key", sorted(samples()))
def test_valid_samples_are_accepted(kube: Kubectl, key: str) -> None:
    # Apply, not create: the stack's simulator may already have published the sample EdgeSites.
    out = kube.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=edgeorch-tests",
                       "--dry-run=server", "-n", "default", "-o", "json", "-f", "-",
                       input=yaml.safe_dump(samples()[key]))
    assert json.loads(out.stdout)["kind"] == key.split("/")[0]


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.id)
def test_valid_edge_cases_are_accepted(kube: Kubectl, case: Valid) -> None:
    doc = case.doc()
    doc["metadata"]["name"] = f"{doc['metadata']['name']}-{case.id}"[:63]
    kube.kubectl("create", "--dry-run=server", "-n", "default", "-f", "-", input=yaml.safe_dump(doc))


def test_the_simulators_edgesites_are_accepted(kube: Kubectl) -> None:
    from sim.nodes import site_manifests
    from sim.scenario import load_scenario

    manifests = site_manifests(load_scenario("city-500"))
    doc = yaml.safe_dump_all(manifests)
    out = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=doc).stdout
    assert out.count("edgesite.edgeorch.io/") == len(manifests)


def test_the_simulators_radiocells_are_accepted(kube: Kubectl) -> None:
    from sim.nodes import cell_manifests
    from sim.scenario import load_scenario

    manifests = cell_manifests(load_scenario("city-500"))
    out = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(manifests)).stdout
    assert out.count("radiocell.edgeorch.io/") == len(manifests)
    bad = {**manifests[0], "metadata": {"name": "Cell_1"}}
    proc = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(bad), check=False)
    assert proc.returncode != 0 and "metadata.name: must be a DNS label" in proc.stderr, proc.stderr


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_invalid_crs_are_rejected_naming_the_field(kube: Kubectl, case: Invalid) -> None:
    proc = kube.kubectl("create", "--dry-run=server", "-n", "default", "-f", "-",
                        input=yaml.safe_dump(case.doc()), check=False)
    assert proc.returncode != 0, f"{case.id} was accepted"
    assert "is invalid" in proc.stderr and case.field in proc.stderr, proc.stderr


def test_kubectl_explain_reads_the_descriptions(kube: Kubectl) -> None:
    deadline = time.monotonic() + 60
    while True:  # the OpenAPI document is republished a moment after the CRD is established
        proc = kube.kubectl("explain", "edgeworkload.spec.qos", check=False)
        if proc.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert proc.returncode == 0, proc.stderr
    assert "QoS targets" in proc.stdout and "maxLatencyMs" in proc.stdout
    assert "Maximum cell-to-site latency in milliseconds" in proc.stdout
    sla = kube.kubectl("explain", "sla.spec.evaluation.breachAfter").stdout
    assert "Consecutive bad windows before an objective is breached" in sla


def test_defaults_apply_and_operator_status_round_trips(kube: Kubectl, namespace: str) -> None:
    sla = samples()["ServiceLevelAgreement/video-analytics-sla"]
    sla = {**sla, "spec": {k: v for k, v in sla["spec"].items() if k != "evaluation"}}
    kube.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(sla))
    stored = json.loads(kube.kubectl("get", "-n", namespace, "sla/video-analytics-sla", "-o", "json").stdout)
    assert stored["spec"]["evaluation"] == {"intervalSeconds": 5, "breachAfter": 3, "recoverAfter": 3}
    ServiceLevelAgreementSpec.model_validate(stored["spec"])

    status = ServiceLevelAgreementStatus(
        observed_generation=stored["metadata"]["generation"], agreement_id="sla-1",
        contract_address="0x" + "ab" * 20, tx_hash="0x" + "cd" * 32, version=1, breaches=2, compliance=0.75,
        objectives=[ObjectiveStatus(name="latency", state=ObjectiveState.BREACHED, bad_windows=3, last_value=12.5,
                                    severity=Severity.MILD)],
        outbox=[LedgerRecord(kind="Breach", key="video-analytics-sla/2", payload='{"severity": "mild"}')],
        conditions=set_condition([], "Breached", ConditionStatus.TRUE, "LatencyAboveThreshold", "12.5 ms > 10 ms", 1),
    )
    kube.kubectl("patch", "-n", namespace, "sla/video-analytics-sla", "--subresource=status", "--type=merge",
                 "-p", json.dumps({"status": to_k8s(status)}))
    stored = json.loads(kube.kubectl("get", "-n", namespace, "sla/video-analytics-sla", "-o", "json").stdout)
    assert ServiceLevelAgreementStatus.model_validate(stored["status"]) == status
    table = kube.kubectl("get", "-n", namespace, "sla").stdout
    assert table.split()[:6] == ["NAME", "PROVIDER", "WORKLOAD", "COMPLIANCE", "BREACHES", "AGE"], table
    assert "bcn-edge-operator" in table and "0.75" in table


def test_workload_status_and_printer_columns(kube: Kubectl, namespace: str) -> None:
    kube.kubectl("create", "-n", namespace, "-f", str(SAMPLES / "video-analytics.yaml"))
    placements = [ReplicaPlacement(replica=i, node=f"node-{i}", site=s, tier=Tier.EDGE)
                  for i, s in enumerate(["edge-eixample", "edge-gracia", "edge-eixample"])]
    status = EdgeWorkloadStatus(
        observed_generation=1, phase=Phase.PLACED, placements=placements,
        sites=EdgeWorkloadStatus.summarize_sites(placements), predicted_latency_ms=6.5, decision_id="d-42",
        solver=SolverReport(name="cp-sat", status="OPTIMAL", objective=10.0, bound=10.0, gap=0.0, wall_seconds=0.2),
        conditions=set_condition([], "Placed", ConditionStatus.TRUE, "SolverOptimal", observed_generation=1),
    )
    kube.kubectl("patch", "-n", namespace, "ew/video-analytics", "--subresource=status", "--type=merge",
                 "-p", json.dumps({"status": to_k8s(status)}))
    stored = json.loads(kube.kubectl("get", "-n", namespace, "ew/video-analytics", "-o", "json").stdout)
    assert EdgeWorkloadStatus.model_validate(stored["status"]) == status
    header, row = kube.kubectl("get", "-n", namespace, "ew").stdout.splitlines()[:2]
    assert header.split() == ["NAME", "REPLICAS", "PHASE", "SITES", "LATENCY", "AGE"]
    assert row.split()[:5] == ["video-analytics", "3", "Placed", "edge-eixample,edge-gracia", "6.5"]
    # A bad phase written by a buggy operator is rejected too.
    bad = kube.kubectl("patch", "-n", namespace, "ew/video-analytics", "--subresource=status", "--type=merge",
                       "-p", '{"status": {"phase": "Running"}}', check=False)
    assert bad.returncode != 0 and "status.phase" in bad.stderr
    twice = [to_k8s(placements[0])] * 2  # the same replica index twice: a map list rejects it
    dup = kube.kubectl("patch", "-n", namespace, "ew/video-analytics", "--subresource=status", "--type=merge",
                       "-p", json.dumps({"status": {"placements": twice}}), check=False)
    assert dup.returncode != 0 and "status.placements" in dup.stderr, dup.stderr


def test_the_whole_kustomization_passes_a_server_side_dry_run(kube: Kubectl) -> None:
    if kube.kubectl("get", "namespace", "edgeorch-system", check=False).returncode != 0:
        kube.kubectl("create", "namespace", "edgeorch-system")
    out = kube.kubectl("apply", "--dry-run=server", "-k", str(REPO / "deploy")).stdout
    for expected in ("namespace/edgeorch-system", "serviceaccount/edgeorch-operator",
                     "clusterrole.rbac.authorization.k8s.io/edgeorch-operator",
                     "deployment.apps/edgeorch-operator", "service/edgeorch-operator-metrics",
                     "customresourcedefinition.apiextensions.k8s.io/edgeworkloads.edgeorch.io"):
        assert expected in out, out
    kube.kubectl("apply", "--dry-run=server", "-f", str(REPO / "deploy" / "rbac" / "sim.yaml"))


def test_the_operator_service_account_gets_exactly_what_it_needs(kube: Kubectl) -> None:
    if kube.kubectl("get", "namespace", "edgeorch-system", check=False).returncode != 0:
        kube.kubectl("create", "namespace", "edgeorch-system")
    kube.kubectl("apply", "-f", str(REPO / "deploy" / "operator" / "serviceaccount.yaml"))
    kube.kubectl("apply", "-k", str(REPO / "deploy" / "rbac"))

    def can(verb: str, resource: str, *extra: str) -> bool:
        proc = kube.kubectl("auth", "can-i", verb, resource, f"--as={OPERATOR_SA}", *extra, check=False)
        return proc.stdout.strip() == "yes"

    allowed = [("patch", "edgeworkloads.edgeorch.io", "--subresource=status", "-n", "default"),
               ("watch", "servicelevelagreements.edgeorch.io", "-A"), ("list", "edgesites.edgeorch.io"),
               ("create", "pods", "-n", "default"),
               ("delete", "pods", "-n", "default"), ("update", "edgeworkloads.edgeorch.io", "--subresource=finalizers", "-n", "default"), ("watch", "nodes"), ("list", "pods", "-A"),
               ("create", "events", "-n", "default"), ("get", "events", "-n", "default"),
               ("list", "customresourcedefinitions.apiextensions.k8s.io"),
               ("get", "namespaces"), ("patch", "edgeworkloads.edgeorch.io", "-n", "default"),
               ("list", "radiocells.edgeorch.io"), ("patch", "radiocells.edgeorch.io", "--subresource=status"),
               ("watch", "services", "-A"), ("create", "services", "-n", "default"), ("patch", "services", "-n", "default"),
               ("delete", "services", "-n", "default"), ("create", "tokenreviews.authentication.k8s.io"),
               ("create", "subjectaccessreviews.authorization.k8s.io"),
               ("create", "leases.coordination.k8s.io", "-n", "edgeorch-system"),
               ("update", "leases.coordination.k8s.io/edgeorch-operator", "-n", "edgeorch-system")]
    # (kopf.dev peerings are checked statically: can-i cannot resolve a kind whose CRD is not installed.)
    denied = [("delete", "edgeworkloads.edgeorch.io", "-n", "default"), ("create", "edgesites.edgeorch.io"),
              ("get", "secrets", "-n", "default"), ("patch", "nodes"), ("patch", "nodes/status"),
              ("patch", "pods", "-n", "default"), ("create", "clusterroles.rbac.authorization.k8s.io"),
              ("delete", "customresourcedefinitions.apiextensions.k8s.io"), ("*", "*"),
              ("create", "radiocells.edgeorch.io"), ("patch", "radiocells.edgeorch.io"),
              # never used, so not granted (tests/operator/test_least_privilege_e2e.py)
              ("create", "deployments.apps", "-n", "default"), ("create", "events.events.k8s.io", "-n", "default"),
              ("watch", "namespaces"), ("update", "edgeworkloads.edgeorch.io", "-n", "default"),
              ("update", "leases.coordination.k8s.io/someone-else", "-n", "edgeorch-system"),
              ("create", "leases.coordination.k8s.io", "-n", "default")]
    assert [a for a in allowed if not can(*a)] == []
    assert [d for d in denied if can(*d)] == []
