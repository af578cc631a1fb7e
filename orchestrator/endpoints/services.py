"""Each EdgeWorkload's Service, as a pure manifest: its name, ports and what counts as drift.

The Service selects the workload's replica Pods (label `edgeorch.io/workload`) and is owned by the
EdgeWorkload (a controller ownerReference: the garbage collector deletes it with the workload).  Its
ports are `spec.service.ports`, else one per containerPort the template's containers declare; with
none, or with `spec.service.headless`, it is headless (no cluster IP: DNS gives the Pod IPs).  Its
name is `spec.service.name`, else the workload's name when that is a DNS-1035 label (a Service name
must start with a letter and have at most 63 characters).  Written by `service_loop` alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orchestrator.resources import EdgeWorkloadSpec, ServicePort
from orchestrator.resources.common import DNS_LABEL
from orchestrator.resources.edgeworkload import DNS_1035_LABEL
from orchestrator.vocabulary import EDGEWORKLOAD, GROUP_VERSION, WORKLOAD_LABEL

MANAGED_BY = {"app.kubernetes.io/managed-by": "edgeorch"}
PROTOCOLS = ("TCP", "UDP", "SCTP")


def service_ports(spec: EdgeWorkloadSpec) -> list[ServicePort]:
    """`spec.service.ports`, else one per containerPort of the template's containers (the first of
    each number and protocol; named after the container port, else `<protocol>-<number>`)."""
    if spec.service.ports:
        return list(spec.service.ports)
    out: list[ServicePort] = []
    seen: set[tuple[int, str]] = set()
    names: set[str] = set()
    for container in spec.template.spec.containers:
        for raw in (container.model_extra or {}).get("ports") or []:
            port = _container_port(raw)
            if port is None or (port.port, port.protocol) in seen:
                continue
            name = port.name if port.name and port.name not in names else f"{port.protocol.lower()}-{port.port}"
            seen.add((port.port, port.protocol))
            names.add(name)
            out.append(port.model_copy(update={"name": name}))
    return out


def _container_port(raw: Any) -> ServicePort | None:
    """A core/v1 ContainerPort as a Service port (None for one the Pod API would refuse anyway)."""
    if not isinstance(raw, Mapping):
        return None
    number, protocol, name = raw.get("containerPort"), raw.get("protocol") or "TCP", raw.get("name")
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535 or protocol not in PROTOCOLS:
        return None
    named = isinstance(name, str) and len(name) <= 63 and re.fullmatch(DNS_LABEL, name) is not None
    return ServicePort.model_validate({"name": name if named else None, "port": number, "targetPort": number,
                                       "protocol": protocol})


def service_name(workload: str, spec: EdgeWorkloadSpec) -> str | None:
    """The Service's name; None when the workload's name cannot be one and spec.service.name is unset."""
    if spec.service.name:
        return spec.service.name
    return workload if len(workload) <= 63 and re.fullmatch(DNS_1035_LABEL, workload) else None


def build_service(body: Mapping[str, Any], spec: EdgeWorkloadSpec) -> dict[str, Any] | None:
    """The Service of the EdgeWorkload `body` (with its validated `spec`); None when it has none."""
    meta = body["metadata"]
    name = service_name(meta["name"], spec)
    if not spec.service.enabled or name is None or meta.get("deletionTimestamp"):
        return None
    ports = service_ports(spec)
    svc_spec: dict[str, Any] = {
        "selector": {WORKLOAD_LABEL: meta["name"]},
        "ports": [{"name": p.name, "port": p.port, "targetPort": p.target_port or p.port, "protocol": p.protocol}
                  if p.name else {"port": p.port, "targetPort": p.target_port or p.port, "protocol": p.protocol}
                  for p in ports],
    }
    if spec.service.headless or not ports:
        svc_spec["clusterIP"] = "None"
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": name, "namespace": meta["namespace"], "labels": {**MANAGED_BY, WORKLOAD_LABEL: meta["name"]},
            "ownerReferences": [{"apiVersion": body.get("apiVersion", GROUP_VERSION), "kind": body.get("kind", EDGEWORKLOAD),
                                 "name": meta["name"], "uid": meta["uid"], "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": svc_spec,
    }


def owned_by(service: Mapping[str, Any], uid: str) -> bool:
    """Whether `service` is the one of the EdgeWorkload with `uid` (its controller ownerReference)."""
    refs = (service.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == uid and r.get("controller") for r in refs)


def headless(service: Mapping[str, Any]) -> bool:
    return (service.get("spec") or {}).get("clusterIP") == "None"


def drift(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch that brings `actual` back to `desired` (None: nothing to do).  Only the fields
    edgeorch sets are compared; what the API server fills in (cluster IP, defaults) is left alone.
    A change between headless and not cannot be patched (the cluster IP is immutable): see `headless`."""
    want_meta, have_meta = desired["metadata"], actual.get("metadata") or {}
    want, have = desired["spec"], actual.get("spec") or {}
    labels = have_meta.get("labels") or {}
    patch: dict[str, Any] = {}
    if any(labels.get(k) != v for k, v in want_meta["labels"].items()):
        patch.setdefault("metadata", {})["labels"] = want_meta["labels"]
    selector = have.get("selector") or {}
    if selector != want["selector"]:
        patch.setdefault("spec", {})["selector"] = {**dict.fromkeys(selector), **want["selector"]}
    keys = ("name", "port", "targetPort", "protocol")
    if [{k: p.get(k) for k in keys} for p in have.get("ports") or []] != \
            [{k: p.get(k) for k in keys} for p in want["ports"]]:
        patch.setdefault("spec", {})["ports"] = want["ports"]
    return patch or None
