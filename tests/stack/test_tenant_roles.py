"""Tenant roles (deploy/rbac/tenant-roles.yaml) on the real API server: a user bound in one namespace to
Kubernetes' built-in `edit` manages EdgeWorkloads (scale too) and SLAs there and reads EdgeSites; a `view`
user reads and cannot create; neither writes status, which is the operator's."""

from __future__ import annotations

import json

import pytest

from tests.conftest import StackHandle
from tests.operator.conftest import own_namespace, wait_for, workload

pytestmark = [pytest.mark.cluster]

NS = "tenant-roles"
EDITOR, VIEWER = "alice@tenant.example", "bob@tenant.example"


def _bind(stack: StackHandle, user: str, role: str) -> None:
    stack.kubectl("create", "rolebinding", f"{role}-{user.split('@')[0]}", f"--clusterrole={role}",
                  f"--user={user}", "-n", NS)


def _can(stack: StackHandle, user: str, verb: str, resource: str, *extra: str) -> bool:
    answer = stack.kubectl("auth", "can-i", verb, resource, f"--as={user}", *extra, check=False).stdout.strip()
    assert answer in ("yes", "no"), answer
    return answer == "yes"


def test_edit_manages_edgeworkloads_and_slas_and_reads_sites_view_only_reads(stack: StackHandle) -> None:
    with own_namespace(stack, NS):
        _bind(stack, EDITOR, "edit")
        _bind(stack, VIEWER, "view")
        # the controller-manager aggregates the tenant roles into edit/view (asynchronously)
        wait_for(lambda: _can(stack, EDITOR, "create", "edgeworkloads.edgeorch.io", "-n", NS), 60,
                 "the tenant roles aggregated into the built-in edit role")
        ns = ("-n", NS)
        for verb, resource in (("create", "servicelevelagreements.edgeorch.io"), ("delete", "edgeworkloads.edgeorch.io"),
                               ("patch", "servicelevelagreements.edgeorch.io"), ("list", "edgeworkloads.edgeorch.io")):
            assert _can(stack, EDITOR, verb, resource, *ns), (verb, resource)
        assert _can(stack, EDITOR, "update", "edgeworkloads.edgeorch.io", "--subresource=scale", *ns)
        assert _can(stack, EDITOR, "get", "edgesites.edgeorch.io") and _can(stack, EDITOR, "list", "edgesites.edgeorch.io")
        assert not _can(stack, EDITOR, "create", "edgesites.edgeorch.io")
        assert _can(stack, EDITOR, "list", "radiocells.edgeorch.io") and not _can(stack, EDITOR, "create", "radiocells.edgeorch.io")
        assert not _can(stack, EDITOR, "patch", "edgeworkloads.edgeorch.io", "--subresource=status", *ns)
        assert not _can(stack, EDITOR, "create", "edgeworkloads.edgeorch.io", "-n", "default"), "bound in NS only"

        doc = workload("tenant-app", NS, cells={"cell-eixample-1": 1.0}, max_latency_ms=20)
        created = stack.kubectl("create", "-f", "-", f"--as={EDITOR}", "-o", "name", input=json.dumps(doc))
        assert created.stdout.strip() == "edgeworkload.edgeorch.io/tenant-app"
        stack.kubectl("scale", "ew/tenant-app", "--replicas=2", f"--as={EDITOR}", *ns)
        got = json.loads(stack.kubectl("get", "ew", "tenant-app", "-o", "json", f"--as={VIEWER}", *ns).stdout)
        assert got["spec"]["replicas"] == 2
        sites = stack.kubectl("get", "edgesites", "-o", "name", f"--as={VIEWER}").stdout.split()
        assert "edgesite.edgeorch.io/fe-eixample" in sites

        assert _can(stack, VIEWER, "get", "edgeworkloads.edgeorch.io", *ns)
        assert _can(stack, VIEWER, "list", "servicelevelagreements.edgeorch.io", *ns)
        assert not _can(stack, VIEWER, "create", "edgeworkloads.edgeorch.io", *ns)
        assert not _can(stack, VIEWER, "update", "edgeworkloads.edgeorch.io", "--subresource=scale", *ns)
        doc["metadata"]["name"] = "viewer-app"
        denied = stack.kubectl("create", "-f", "-", f"--as={VIEWER}", input=json.dumps(doc), check=False)
        assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), denied.stderr
