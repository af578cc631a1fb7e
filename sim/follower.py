"""The simulator follows the cluster: where the workloads under an agreement run, read from the API.

Every `interval` seconds the follower lists the ServiceLevelAgreements and reads the EdgeWorkloads
they name.  Each such workload that runs somewhere gets synthetic requests from its users' cells at
the site holding most of its replicas (`CityState.set_workload`); one that no longer runs, or whose
agreement is gone, stops getting them.  Only workloads under an agreement get traffic (their SLA
objectives are computed from it): a thousand others would cost the simulator more CPU than the whole
city.  Workloads registered by hand through the control API are left alone.

It reads the cluster as any app would (kubernetes_asyncio with a kubeconfig); the operator knows
nothing of it.  A cluster that is not up yet, or goes away, is retried at the next round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from orchestrator.vocabulary import API_GROUP, API_VERSION, EDGEWORKLOADS, SLAS
from sim.faults import CityState, WorkloadPlacement

log = logging.getLogger("edgeorch.sim.follower")
GROUP, VERSION = API_GROUP, API_VERSION


def primary_site(sites: list[str]) -> str:
    """The site holding most replicas (the first by name on a tie)."""
    return max(sorted(set(sites)), key=sites.count)


def placement_of(workload: Mapping[str, Any]) -> WorkloadPlacement | None:
    """Where an EdgeWorkload's synthetic requests go, from its status and users (None: runs nowhere): the
    users its placement was solved for (status.users, when it measures them) or else spec.users.cells."""
    status = workload.get("status") or {}
    sites = [p["site"] for p in status.get("placements") or [] if p.get("site")]
    if not sites:
        return None
    users = (status.get("users") or {}).get("cells") or ((workload.get("spec") or {}).get("users") or {}).get("cells")
    cells = {c["cell"]: float(c["share"]) for c in users or [] if c.get("cell") and c.get("share")}
    return WorkloadPlacement(site=primary_site(sites), cells=cells, replicas=len(sites))


def covered(slas: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(namespace, workload) of every workload an agreement names (agreements being deleted too: the
    operator still evaluates them until they are gone)."""
    return {(s["metadata"]["namespace"], s["spec"]["workloadRef"]) for s in slas
            if (s.get("spec") or {}).get("workloadRef")}


class Follower:
    """Keeps `state.workloads` in line with the cluster (see the module docstring)."""

    def __init__(self, state: CityState, kubeconfig: Path, interval: float = 0.5) -> None:
        self.state = state
        self.kubeconfig = kubeconfig
        self.interval = interval
        self.owned: set[str] = set()  # keys this follower registered (the others came by hand)
        self._api: k8s.ApiClient | None = None

    def apply(self, wanted: Mapping[str, WorkloadPlacement]) -> None:
        """Register what `wanted` says, and remove what this follower registered and no longer wants."""
        for key, placement in wanted.items():
            if key in self.state.workloads and key not in self.owned:
                continue  # registered by hand: left alone
            if self.state.workloads.get(key) != placement:
                try:
                    self.state.set_workload(key, placement)
                except ValueError as exc:  # a site or cell this city does not have
                    log.warning("not simulating %s: %s", key, exc)
                    continue
            self.owned.add(key)
        for key in sorted(self.owned - set(wanted)):
            self.state.workloads.pop(key, None)
            self.owned.discard(key)

    async def read(self) -> dict[str, WorkloadPlacement]:
        """One look at the cluster: the placements wanted now."""
        if self._api is None:
            self._api = await k8s_config.new_client_from_config(config_file=str(self.kubeconfig))
        api = k8s.CustomObjectsApi(self._api)
        slas = (await api.list_cluster_custom_object(GROUP, VERSION, SLAS))["items"]
        wanted: dict[str, WorkloadPlacement] = {}
        for ns, name in sorted(covered(slas)):
            try:
                ew = await api.get_namespaced_custom_object(GROUP, VERSION, ns, EDGEWORKLOADS, name)
            except ApiException as exc:
                if exc.status == 404:
                    continue
                raise
            placement = placement_of(ew)
            if placement is not None:
                wanted[f"{ns}/{name}"] = placement
        return wanted

    async def run(self) -> None:
        while True:
            try:
                self.apply(await self.read())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # not up yet, or gone for a while: the next round tries again
                log.debug("cannot read the cluster: %s", exc)
                await self.close()
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()
            self._api = None
