"""Least privilege, measured: the local stack runs the operator with the token of the ServiceAccount
deploy/ binds its roles to, and the API server writes an audit log of every request of that identity
(devstack.localstack.components.audit_policy).  This test drives a representative set of scenarios
(placement with priorities, an Unplaceable workload said again after a restart, deletion, the app API with callers' tokens, a
Service's ports changed and the Service switched off, an SLA recorded, amended and deleted, a site going offline so
replicas are repaired), then reads the audit log (every operator request of the whole session, these
scenarios and whatever ran before) and compares the (API group, resource, verb) triples the operator
used with what deploy/rbac grants it: a grant never used fails the test (trim it, or name here why it
is needed without an API call), and so does a request that RBAC refused."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from devstack.faults import Faults
from devstack.localstack.components import OPERATOR_USER
from tests.conftest import StackHandle
from tests.endpoints.conftest import make_env
from tests.operator.conftest import apply_all, get_json, live_pods, own_namespace, wait_for, workload
from tests.qos.conftest import sla
from tests.resources.test_deploy import objects

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus, pytest.mark.chain, pytest.mark.slow]

Triple = tuple[str, str, str]  # (API group, resource[/subresource], verb)
# Grants no API request of the operator's shows, each with the reason it stays.
NEEDED_WITHOUT_A_REQUEST: dict[Triple, str] = {
    ("edgeorch.io", "edgeworkloads/finalizers", "update"):
        "replica Pods and Services carry an ownerReference to their EdgeWorkload with blockOwnerDeletion, which "
        "the OwnerReferencesPermissionEnforcement admission plugin allows only to whom may update the owner's "
        "finalizers: an authorisation check inside the Pod's create, not a request of its own",
    ("edgeorch.io", "edgeworkloads", "patch"):
        "a replica repair that must avoid a node records it in an annotation (orchestrator/controller.py); only "
        "repairs of some kinds do",
    ("autoscaling", "horizontalpodautoscalers", "list"):
        "an agreement's elasticity looks for an HPA only when an act breach finds the workload's CPU use high "
        "(orchestrator/scaler.py; exercised by tests/qos/test_elasticity.py); these scenarios have no elasticity",
    ("", "services", "get"):
        "a Service create that answers 409 (made by an earlier run, not yet in the watch) reads it to adopt it "
        "(orchestrator/endpoints/service_loop.py): a race",
}


def granted() -> set[Triple]:
    """Every (group, resource, verb) the operator's roles in deploy/ grant its ServiceAccount."""
    subject = ("edgeorch-operator", "edgeorch-system")
    bound = {(b["roleRef"]["kind"], b["roleRef"]["name"]) for b in objects()
             if b["kind"] in ("ClusterRoleBinding", "RoleBinding")
             and any((s["name"], s.get("namespace")) == subject for s in b.get("subjects") or [])}
    out: set[Triple] = set()
    for role in objects():
        if (role["kind"], role["metadata"]["name"]) in bound:
            for rule in role["rules"]:
                out |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return out


def used(stack: StackHandle) -> tuple[set[Triple], Counter[str]]:
    """What the operator's identity asked of the API server (the audit log), and what was refused."""
    seen: set[Triple] = set()
    refused: Counter[str] = Counter()
    for line in stack.stack.audit_log.read_text().splitlines():
        event = json.loads(line)
        if event["user"]["username"] != OPERATOR_USER or "objectRef" not in event:
            continue
        ref = event["objectRef"]
        what = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        triple = (ref.get("apiGroup", ""), what, event["verb"])
        seen.add(triple)
        if (event.get("annotations") or {}).get("authorization.k8s.io/decision") == "forbid":  # RBAC said no
            refused[" ".join(triple)] += 1  # (a 403 from admission, say a namespace being deleted, is not)
    return seen, refused


def _scenarios(stack: StackHandle) -> None:
    # the app API (a caller's token reviewed, its rights asked), on a placed workload with its Service
    env = make_env(stack, "lp-api", "streamer", {"cell-eixample-1": 1.0})
    try:
        resp = env.call("GET", env.path("endpoints"), env.tokens["reader"], params={"cell": "cell-eixample-1"})
        assert resp.status_code == 200, resp.text
        # a Service's ports follow the spec (a patch); one switched off is deleted
        def ports() -> list[int]:
            out = stack.kubectl("get", "service", env.name, "-n", env.namespace, "-o", "json", check=False)
            return [p["port"] for p in json.loads(out.stdout)["spec"]["ports"]] if out.returncode == 0 else []
        wait_for(lambda: ports() == [8080], 30, "the workload's Service")
        stack.kubectl("patch", "edgeworkload", env.name, "-n", env.namespace, "--type=merge", "-p", json.dumps(
            {"spec": {"service": {"ports": [{"name": "web", "port": 80, "targetPort": 8080}]}}}))
        wait_for(lambda: ports() == [80], 30, "the Service's port patched")
        stack.kubectl("patch", "edgeworkload", env.name, "-n", env.namespace, "--type=merge",
                      "-p", json.dumps({"spec": {"service": {"enabled": False, "ports": None}}}))
        wait_for(lambda: stack.kubectl("get", "service", env.name, "-n", env.namespace, check=False).returncode != 0,
                 30, "the Service deleted")
    finally:
        stack.kubectl("delete", "namespace", env.namespace, "--wait=false", check=False)
    with own_namespace(stack, "lp-place") as ns:
        cell = "cell-sants-1"
        docs = [workload(f"p{p}", ns, cells={cell: 1.0}, max_latency_ms=200) for p in (100, 300)]
        for doc, p in zip(docs, (100, 300), strict=True):
            doc["spec"]["priority"] = p  # a PriorityClass per priority in use
        docs.append(workload("too-strict", ns, cells={cell: 1.0}, max_latency_ms=0.01))  # Unplaceable, an Event
        apply_all(stack, docs)
        wait_for(lambda: len(live_pods(stack, ns)) == 2, 60, "2 replicas")

        def unplaceable_count() -> int:
            said = [e for e in get_json(stack, "events", "-n", ns)["items"]
                    if e["involvedObject"]["name"] == "too-strict" and e["reason"] == "Unplaceable"]
            return max((e.get("count") or 1 for e in said), default=0)
        wait_for(unplaceable_count, 60, "the Unplaceable Event")
        # a restarted operator (or a new leader) says it again: the Event there is read (409) and counted on
        stack.stack.stop_operator()
        stack.stack.start_operator()
        wait_for(lambda: unplaceable_count() >= 2, 60, "the same Event counted again after a restart")
        # SLA: recorded, amended, deleted (its finalizer removed by the operator)
        apply_all(stack, [sla("p100-sla", ns, "p100")])
        wait_for(lambda: (get_json(stack, "sla", "p100-sla", "-n", ns).get("status") or {}).get("agreementId"), 60,
                 "the agreement on chain")
        stack.kubectl("patch", "sla", "p100-sla", "-n", ns, "--type=json", "-p", json.dumps(
            [{"op": "replace", "path": "/spec/objectives/0/thresholds/warning", "value": 13}]))
        wait_for(lambda: (get_json(stack, "sla", "p100-sla", "-n", ns).get("status") or {}).get("version") == 2, 60,
                 "version 2 on chain")
        stack.kubectl("delete", "sla", "p100-sla", "-n", ns, "--timeout=60s")
        # a site offline: its replicas are repaired elsewhere
        site = get_json(stack, "edgeworkload", "p300", "-n", ns)["status"]["placements"][0]["site"]
        faults = Faults(stack.exporter_url, stack.kubeconfig, stack.state.scenario)
        fault = faults.offline(site)
        try:
            wait_for(lambda: site not in {p["site"] for p in (get_json(stack, "edgeworkload", "p300", "-n", ns)
                                                               .get("status") or {}).get("placements") or []},
                     90, f"p300 repaired away from {site}")
        finally:
            faults.heal(fault)
        stack.kubectl("delete", "edgeworkload", "p100", "-n", ns, "--wait=true", "--timeout=60s")


def test_the_operator_uses_every_grant_it_has_and_no_other(operator: StackHandle) -> None:
    _scenarios(operator)
    time.sleep(2)  # the audit log is written in batches, at most 1 s apart
    seen, refused = used(operator)
    assert seen, f"no request of {OPERATOR_USER} in {operator.stack.audit_log}"
    assert not refused, f"requests RBAC refused: {dict(refused)}"
    have = granted()
    unused = sorted(have - seen - set(NEEDED_WITHOUT_A_REQUEST))
    assert not unused, "grants the operator never used (trim deploy/rbac, or say why it needs them): " + \
        ", ".join(" ".join(t) for t in unused)
    assert set(NEEDED_WITHOUT_A_REQUEST) <= have
    beyond = sorted(seen - have)  # answered only through a broader grant (none: every request is RBAC's)
    assert not beyond, beyond
