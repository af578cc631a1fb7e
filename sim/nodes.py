"""Pure builders of the Kubernetes objects of a simulated city: kwok fake Nodes, EdgeSites, RadioCells and
status patches.

Nothing here talks to the API server; the orchestrator applies what these functions return.

Node `<site>-nNN` (three digits when a site has more than 99 nodes) carries:
  annotations  kwok.x-k8s.io/node=fake (kwok manages it)
  labels       type=kwok, kubernetes.io/hostname=<node>, kubernetes.io/role=agent, kubernetes.io/os=linux,
               kubernetes.io/arch=amd64, node.kubernetes.io/instance-type=<site instance type>,
               edgeorch.io/site=<site>, edgeorch.io/tier=<far-edge|edge|cloud>, edgeorch.io/district=<district>,
               topology.kubernetes.io/region=<site zone, e.g. es-bcn>,
               topology.kubernetes.io/zone=<site zone>-<district, e.g. es-bcn-eixample> (cut to 63 chars),
               edgeorch.io/gpu=true on nodes with GPUs
  taints       edgeorch.io/far-edge=true:NoSchedule on far-edge nodes (no kwok taint: every node of
               the local stack is simulated, so nothing real must be kept off them, and the operator
               adds no toleration that exists only for the simulator)
  status       capacity == allocatable: cpu, memory (Mi), pods "110", nvidia.com/gpu when > 0; nodeInfo.
               Conditions are left to kwok's node stages.

Taking a site offline: for each of its nodes apply `node_offline_patch()` (metadata: the annotation
edgeorch.io/offline=true makes kwok stop refreshing the node's status) and then `node_not_ready_patch()` to
the nodes/status subresource (strategic merge patch: conditions merge by type). Bringing it back:
`node_ready_patch()` on nodes/status, then `node_online_patch()` (removes the annotation).
`site_offline_patches(city, site)` / `site_online_patches(city, site)` list those per node of a site.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orchestrator.vocabulary import (
    API_GROUP,
    DISTRICT_LABEL,
    GPU_LABEL,
    GROUP_VERSION,
    RADIOCELL,
    SITE_LABEL,
    TIER_LABEL,
)
from orchestrator.vocabulary import FAR_EDGE_TAINT as FAR_EDGE_TAINT_KEY
from sim.scenario import CellSpec, City, SiteSpec

EDGESITE_API_VERSION = GROUP_VERSION
REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
OFFLINE_ANNOTATION = f"{API_GROUP}/offline"  # the simulator's own: kwok stops refreshing the node
FAR_EDGE_TAINT = {"key": FAR_EDGE_TAINT_KEY, "value": "true", "effect": "NoSchedule"}
GPU_RESOURCE = "nvidia.com/gpu"
MAX_PODS = "110"
KUBELET_VERSION = "v1.31.0-kwok"


def cpu_quantity(millicores: int) -> str:
    """"4" for 4000 millicores, "1500m" otherwise."""
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def memory_quantity(mebibytes: int) -> str:
    """"8Gi" for 8192 MiB, "1500Mi" otherwise."""
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"


def topology_zone(site: SiteSpec) -> str:
    """The topology.kubernetes.io/zone of a site's nodes: `<zone>-<district>`, at most 63 characters."""
    return f"{site.zone}-{site.district}"[:63].rstrip("-")


def site_node_labels(site: SiteSpec) -> dict[str, str]:
    """Labels shared by every node of `site` (without the per-node hostname)."""
    labels = {
        "type": "kwok",
        "kubernetes.io/role": "agent",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": site.effective_instance_type,
        SITE_LABEL: site.name,
        TIER_LABEL: site.tier,
        DISTRICT_LABEL: site.district,
        REGION_LABEL: site.zone,
        ZONE_LABEL: topology_zone(site),
    }
    if site.node_gpu:
        labels[GPU_LABEL] = "true"
    return labels


def site_node_taints(site: SiteSpec) -> list[dict[str, str]]:
    return [dict(FAR_EDGE_TAINT)] if site.tier == "far-edge" else []


def node_resources(site: SiteSpec) -> dict[str, str]:
    """Capacity (== allocatable) of one node of `site`."""
    res = {"cpu": cpu_quantity(site.node_cpu_m), "memory": memory_quantity(site.node_memory_mb), "pods": MAX_PODS}
    if site.node_gpu:
        res[GPU_RESOURCE] = str(site.node_gpu)
    return res


def node_manifest(site: SiteSpec, node_name: str) -> dict[str, Any]:
    """One kwok fake Node of `site`."""
    resources = node_resources(site)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node_name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {**site_node_labels(site), "kubernetes.io/hostname": node_name},
        },
        "spec": {"taints": site_node_taints(site)},
        "status": {
            "allocatable": dict(resources),
            "capacity": dict(resources),
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "containerRuntimeVersion": "kwok",
                "osImage": "kwok",
                "kernelVersion": "kwok",
                "bootID": "", "machineID": "", "systemUUID": "",
            },
            "phase": "Running",
        },
    }


def node_manifests(city: City) -> list[dict[str, Any]]:
    """Every kwok fake Node of `city`, site by site."""
    return [node_manifest(site, name) for site in city.sites for name in site.node_names()]


def site_spec(site: SiteSpec) -> dict[str, Any]:
    """The EdgeSite spec of `site` (camelCase, as the API server stores it)."""
    return {
        "tier": site.tier,
        "zone": site.zone,
        "district": site.district,
        "location": {"lat": site.lat, "lon": site.lon},
        "costPerCpuHour": site.cost_per_cpu_hour,
        "power": {"idleWatts": site.idle_power_w, "wattsPerCpu": site.power_per_cpu_w},
        "bandwidthMbps": site.bandwidth_mbps,
    }


def site_manifest(site: SiteSpec) -> dict[str, Any]:
    """The cluster-scoped EdgeSite custom resource of `site`."""
    return {
        "apiVersion": EDGESITE_API_VERSION,
        "kind": "EdgeSite",
        "metadata": {"name": site.name, "labels": {TIER_LABEL: site.tier, REGION_LABEL: site.zone}},
        "spec": site_spec(site),
    }


def site_manifests(city: City) -> list[dict[str, Any]]:
    """The EdgeSite of every site of `city`."""
    return [site_manifest(s) for s in city.sites]


def cell_manifest(cell: CellSpec) -> dict[str, Any]:
    """The cluster-scoped RadioCell custom resource of `cell` (spec only: the operator writes the status)."""
    return {
        "apiVersion": EDGESITE_API_VERSION,
        "kind": RADIOCELL,
        "metadata": {"name": cell.name, "labels": {DISTRICT_LABEL: cell.district}},
        "spec": {"district": cell.district, "location": {"lat": cell.lat, "lon": cell.lon}},
    }


def cell_manifests(city: City) -> list[dict[str, Any]]:
    """The RadioCell of every cell of `city`."""
    return [cell_manifest(c) for c in city.cells]


# -- offline / online -------------------------------------------------------------------------------


def _now(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_offline_patch() -> dict[str, Any]:
    """Metadata merge patch: kwok stops refreshing this node (apply before `node_not_ready_patch`)."""
    return {"metadata": {"annotations": {OFFLINE_ANNOTATION: "true"}}}


def node_online_patch() -> dict[str, Any]:
    """Metadata merge patch removing the offline annotation: kwok manages the node again."""
    return {"metadata": {"annotations": {OFFLINE_ANNOTATION: None}}}


def _ready_condition(status: str, reason: str, message: str, now: datetime | None) -> dict[str, Any]:
    ts = _now(now)
    return {"type": "Ready", "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": ts, "lastTransitionTime": ts}


def node_not_ready_patch(now: datetime | None = None) -> dict[str, Any]:
    """Status patch (nodes/status, strategic merge) marking a node NotReady: its site went offline."""
    return {"status": {"conditions": [
        _ready_condition("False", "EdgeSiteOffline", "edgeorch simulator: the site is offline", now)]}}


def node_ready_patch(now: datetime | None = None) -> dict[str, Any]:
    """Status patch (nodes/status, strategic merge) marking a node Ready again."""
    return {"status": {"conditions": [
        _ready_condition("True", "KubeletReady", "edgeorch simulator: the site is back online", now)]}}


NodePatches = tuple[str, dict[str, Any], dict[str, Any]]
"""(node name, metadata merge patch or {}, nodes/status strategic merge patch), applied in that order."""


def site_offline_patches(city: City, site: str, now: datetime | None = None) -> list[NodePatches]:
    """What takes every node of `site` offline: the offline annotation, then Ready=False."""
    return [(n, node_offline_patch(), node_not_ready_patch(now)) for n in site_node_names(city, site)]


def site_online_patches(city: City, site: str, now: datetime | None = None) -> list[NodePatches]:
    """What brings every node of `site` back: Ready=True on status first, then the annotation removed.

    The tuple order is (node, metadata patch, status patch); apply the status patch before the metadata one.
    """
    return [(n, node_online_patch(), node_ready_patch(now)) for n in site_node_names(city, site)]


def site_node_names(city: City, site: str) -> list[str]:
    """Names of the nodes of `site` (KeyError naming the site when it does not exist)."""
    return city.site(site).node_names()


def cell_to_site_table(city: City) -> dict[str, dict[str, dict[str, float]]]:
    """cell -> site -> {"latency_ms", "bandwidth_mbps"}: the link table the placement core consumes."""
    lat, bw = city.latency_ms(), city.bandwidth_mbps()
    return {c: {s: {"latency_ms": ms, "bandwidth_mbps": bw[c][s]} for s, ms in row.items()}
            for c, row in lat.items()}
