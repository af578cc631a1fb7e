"""The deploy manifests, read statically: kustomization wiring, least-privilege RBAC, a hardened Deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.resources.cases import REPO, load_docs, samples

DEPLOY = REPO / "deploy"
Doc = dict[str, Any]


def kustomize_files(directory: Path) -> list[Path]:
    """The manifest files a kustomization pulls in, recursively (without running kustomize)."""
    (kust,) = load_docs(directory / "kustomization.yaml")
    out: list[Path] = []
    for entry in kust["resources"]:
        path = (directory / entry).resolve()
        assert path.exists(), f"{directory}/kustomization.yaml references missing {entry}"
        out.extend(kustomize_files(path) if path.is_dir() else [path])
    return out


def objects() -> list[Doc]:
    return [d for f in kustomize_files(DEPLOY) for d in load_docs(f)]


def one(kind: str, name: str) -> Doc:
    (found,) = [d for d in objects() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def test_the_kustomization_has_the_namespace_crds_rbac_and_operator() -> None:
    kinds = sorted({(d["kind"], d["metadata"]["name"]) for d in objects()})
    assert ("Namespace", "edgeorch-system") in kinds
    assert {("CustomResourceDefinition", f"{p}.edgeorch.io")
            for p in ("edgesites", "edgeworkloads", "servicelevelagreements", "radiocells")} <= set(kinds)
    for expected in [("ServiceAccount", "edgeorch-operator"), ("ClusterRole", "edgeorch-operator"),
                     ("ClusterRoleBinding", "edgeorch-operator"), ("Deployment", "edgeorch-operator"),
                     ("Service", "edgeorch-operator-metrics")]:
        assert expected in kinds
    assert not any(name == "edgeorch-sim" for _, name in kinds), "the simulator's RBAC is not deployed by default"


def rules(name: str) -> list[Doc]:
    found: list[Doc] = one("ClusterRole", name)["rules"]
    return found


def grants(role_rules: list[Doc], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in role_rules)


@pytest.mark.parametrize("role", ["edgeorch-operator", "edgeorch-operator-workloads"])
def test_operator_roles_have_no_wildcards_or_secrets(role: str) -> None:
    for rule in rules(role):
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], (role, rule)
        assert "secrets" not in rule["resources"] and "escalate" not in rule["verbs"] and "bind" not in rule["verbs"]


def test_operator_permissions_are_the_ones_it_needs() -> None:
    """The shape of the grants; that each one is used, and none is missing, is measured on the real stack
    from the API server's audit log (tests/operator/test_least_privilege_e2e.py)."""
    op = rules("edgeorch-operator") + rules("edgeorch-operator-workloads")
    for res in ("edgesites", "edgeworkloads", "servicelevelagreements", "radiocells"):
        assert grants(op, "edgeorch.io", res, "list")
        assert grants(op, "edgeorch.io", res, "watch") == (res != "radiocells")  # (the cell loop lists them)
        assert grants(op, "edgeorch.io", f"{res}/status", "patch")
        for verb in ("create", "update", "delete"):  # the operator writes status, never the objects themselves
            assert not grants(op, "edgeorch.io", res, verb)
    assert not grants(op, "edgeorch.io", "radiocells", "patch") and not grants(op, "edgeorch.io", "edgesites", "patch")
    for verb in ("list", "watch"):
        assert grants(op, "", "nodes", verb) and grants(op, "", "pods", verb)
    for verb in ("create", "update", "patch", "delete"):
        assert not grants(op, "", "nodes", verb) and not grants(op, "", "nodes/status", verb)
    # Replica pods: created and deleted (pinned by node affinity), never patched (a move is delete + create).
    assert grants(op, "", "pods", "create") and grants(op, "", "pods", "delete")
    assert not grants(op, "", "pods", "patch") and not grants(op, "", "pods", "update")
    assert not grants(op, "", "pods/binding", "create") and not grants(op, "", "pods/eviction", "create")
    assert grants(op, "edgeorch.io", "edgeworkloads/finalizers", "update")
    assert not any("deployments" in r["resources"] for r in op)  # never used: trimmed
    assert grants(op, "", "events", "create") and grants(op, "", "events", "patch")
    assert grants(op, "apiextensions.k8s.io", "customresourcedefinitions", "watch")
    assert grants(op, "", "namespaces", "get") and not grants(op, "", "namespaces", "list")
    # Kopf runs --standalone (the Lease elects the active replica): no peering objects
    assert not any(g == "kopf.dev" for r in op for g in r["apiGroups"])
    # each EdgeWorkload's Service: watched, made, patched, removed; the app API reviews tokens and rights
    for verb in ("get", "list", "watch", "create", "patch", "delete"):
        assert grants(op, "", "services", verb)
    assert grants(op, "authentication.k8s.io", "tokenreviews", "create")
    assert grants(op, "authorization.k8s.io", "subjectaccessreviews", "create")


def test_two_replicas_elect_one_leader_on_a_lease_they_may_write() -> None:
    dep = one("Deployment", "edgeorch-operator")
    assert dep["spec"]["replicas"] == 2 and dep["spec"]["strategy"]["type"] == "Recreate"
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    refs = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in container["env"]}
    assert refs["POD_NAME"] == "metadata.name" and refs["POD_NAMESPACE"] == "metadata.namespace"
    lease = env["EDGEORCH_LEASE_NAME"]
    assert float(env["EDGEORCH_LEASE_DURATION_S"]) > float(env["EDGEORCH_LEASE_RENEW_DEADLINE_S"]) \
        > 1.2 * float(env["EDGEORCH_LEASE_RETRY_S"])
    role = one("Role", "edgeorch-operator-leader")
    assert role["metadata"]["namespace"] == dep["metadata"]["namespace"]
    assert grants(role["rules"], "coordination.k8s.io", "leases", "create")
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert named and all(r["resourceNames"] == [lease] for r in named)
    assert grants(named, "coordination.k8s.io", "leases", "get") and grants(named, "coordination.k8s.io", "leases", "update")
    binding = one("RoleBinding", "edgeorch-operator-leader")
    assert binding["roleRef"]["name"] == "edgeorch-operator-leader"
    assert [(s["name"], s["namespace"]) for s in binding["subjects"]] == [("edgeorch-operator", "edgeorch-system")]


def test_the_simulator_role_is_separate_and_bound_to_its_own_account() -> None:
    docs = load_docs(DEPLOY / "rbac" / "sim.yaml")
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    (binding,) = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
    assert role["metadata"]["name"] == "edgeorch-sim" and grants(role["rules"], "", "nodes/status", "patch")
    assert grants(role["rules"], "edgeorch.io", "radiocells", "create")
    assert binding["roleRef"]["name"] == "edgeorch-sim"
    assert [s["name"] for s in binding["subjects"]] == ["edgeorch-sim"]
    for b in (d for d in objects() if d["kind"] == "ClusterRoleBinding"):
        assert b["roleRef"]["name"] != "edgeorch-sim" and b["roleRef"]["name"] != "cluster-admin"


def test_the_operator_deployment_is_hardened_and_wired() -> None:
    dep = one("Deployment", "edgeorch-operator")
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "edgeorch/operator:dev"
    assert container["command"] == ["kopf", "run", "/app/operator/handlers.py", "--all-namespaces", "--standalone"]
    assert pod["serviceAccountName"] == one("ServiceAccount", "edgeorch-operator")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= set(container["resources"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert {"EDGEORCH_PROMETHEUS_URL", "EDGEORCH_CHAIN_URL"} <= set(env)
    # The metrics endpoint must listen beyond loopback for the Service to reach it.
    assert env["EDGEORCH_OPERATOR_METRICS_HOST"] == "0.0.0.0" and env["EDGEORCH_OPERATOR_METRICS_PORT"] == "9090"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 9090, "health": 8080, "api": 8443}
    # the app API listens beyond loopback, over TLS from a Secret, behind its own Service
    assert env["EDGEORCH_API_HOST"] == "0.0.0.0" and env["EDGEORCH_API_PORT"] == "8443"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["EDGEORCH_API_TLS_CERT"].startswith(mounts["api-tls"] + "/")
    assert {v["name"]: v.get("secret", {}).get("secretName") for v in pod["volumes"]}["api-tls"] == "edgeorch-api-tls"
    api = one("Service", "edgeorch-api")
    assert api["spec"]["ports"][0]["targetPort"] == "api"
    assert all(labels_of(dep).get(k) == v for k, v in api["spec"]["selector"].items())
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}  # the leader only
    assert env["EDGEORCH_OPERATOR_HEALTH_HOST"] == "0.0.0.0" and env["EDGEORCH_OPERATOR_HEALTH_PORT"] == "8080"
    svc = one("Service", "edgeorch-operator-metrics")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    assert svc["spec"]["ports"][0]["port"] == 9090 and svc["spec"]["ports"][0]["targetPort"] == "metrics"
    namespaced = [d for d in objects() if d["kind"] in {"Deployment", "Service", "ServiceAccount"}]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"edgeorch-system"}


def labels_of(dep: Doc) -> dict[str, str]:
    labels: dict[str, str] = dep["spec"]["template"]["metadata"]["labels"]
    return labels


def test_kind_workers_belong_to_sample_sites_with_matching_tiers() -> None:
    (cluster,) = load_docs(DEPLOY / "kind" / "cluster.yaml")
    sites = {k.split("/")[1]: d["spec"] for k, d in samples().items() if k.startswith("EdgeSite/")}
    workers = [n for n in cluster["nodes"] if n["role"] == "worker"]
    assert len(workers) >= 3
    assert {n["labels"]["edgeorch.io/tier"] for n in workers} == {"far-edge", "edge", "cloud"}
    for node in workers:
        site = sites[node["labels"]["edgeorch.io/site"]]
        assert node["labels"]["edgeorch.io/tier"] == site["tier"]
        selector = site.get("nodeSelector", {})
        assert all(node["labels"].get(k) == v for k, v in selector.items())


def test_the_containerfile_builds_the_operator_image() -> None:
    text = (REPO / "operator" / "Containerfile").read_text()
    assert text.count("FROM python:3.11-slim") >= 1
    assert "COPY operator/ /app/operator/" in text and "pip install ." in text
    user = [line for line in text.splitlines() if line.startswith("USER ")]
    assert user and not user[-1].split()[1].startswith(("0", "root"))


def test_the_operator_reads_the_environment_the_deployment_sets() -> None:
    from orchestrator.service import Settings

    (container,) = one("Deployment", "edgeorch-operator")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    settings = Settings.from_env(env)
    assert settings.prometheus_url == env["EDGEORCH_PROMETHEUS_URL"]
    assert settings.chain_url == env["EDGEORCH_CHAIN_URL"]
    assert (settings.metrics_host, settings.metrics_port) == ("0.0.0.0", 9090)
    assert (settings.api.host, settings.api.port) == ("0.0.0.0", 8443)  # the app API, over TLS from its Secret
    assert settings.api.tls_cert is not None and settings.api.tls_key is not None


def test_the_operator_signs_with_the_key_of_a_secret_and_deploys_no_contract() -> None:
    """Production ledger settings: the key file is in a mounted Secret, the chain id is checked, nothing is
    deployed unless asked, and anvil's development keys are not used."""
    from orchestrator.service import Settings

    pod = one("Deployment", "edgeorch-operator")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ledger = Settings.from_env({e["name"]: e["value"] for e in container["env"] if "value" in e}).ledger
    assert not ledger.dev_keys and not ledger.deploy and ledger.chain_id == 31337 and ledger.address is None
    key = ledger.key_files["operator"]
    (mount,) = [m for m in container["volumeMounts"] if key.is_relative_to(m["mountPath"])]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "edgeorch-ledger-key" and key.name == "operator-key"
    assert volume["secret"]["defaultMode"] == 0o440  # readable by the operator's group (fsGroup) only


def test_the_containerfile_copies_what_exists_and_runs_the_handlers() -> None:
    text = (REPO / "operator" / "Containerfile").read_text()
    sources = [line.split()[1] for line in text.splitlines() if line.startswith("COPY ") and "--from" not in line]
    for src in sources:
        assert (REPO / src.rstrip("/")).exists(), src
    assert (REPO / "operator" / "handlers.py").exists()
    (dep,) = [d for d in objects() if d["kind"] == "Deployment"]
    handlers = dep["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert handlers == "/app/operator/handlers.py" and "COPY operator/ /app/operator/" in text
    ignore = (REPO / "operator" / "Containerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore and all(f"!{s.rstrip('/')}/" in ignore or f"!{s}" in ignore for s in sources)


def test_tenant_roles_aggregate_into_the_built_in_roles_and_never_write_status() -> None:
    """deploy/rbac/tenant-roles.yaml (tests/stack/test_tenant_roles.py impersonates users on the real API server)."""
    view, edit = one("ClusterRole", "edgeorch-view"), one("ClusterRole", "edgeorch-edit")
    agg = "rbac.authorization.k8s.io/aggregate-to-"
    assert {k for k, v in view["metadata"]["labels"].items() if v == "true"} >= {agg + "view", agg + "edit", agg + "admin"}
    assert {k for k, v in edit["metadata"]["labels"].items() if v == "true" and k.startswith(agg)} == \
        {agg + "edit", agg + "admin"}
    for verb in ("create", "update", "patch", "delete"):
        for res in ("edgeworkloads", "servicelevelagreements"):
            assert grants(edit["rules"], "edgeorch.io", res, verb) and not grants(view["rules"], "edgeorch.io", res, verb)
    assert grants(edit["rules"], "edgeorch.io", "edgeworkloads/scale", "patch")
    for role in (view, edit, one("ClusterRole", "edgeorch-site-reader")):
        for rule in role["rules"]:
            assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule
            writes = set(rule["verbs"]) - {"get", "list", "watch"}
            assert not (writes and any(r.endswith("/status") or r == "edgesites" for r in rule["resources"])), rule
    readers = one("ClusterRoleBinding", "edgeorch-site-readers")
    assert readers["roleRef"]["name"] == "edgeorch-site-reader"
    assert readers["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                    "name": "system:authenticated"}]
