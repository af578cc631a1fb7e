"""Faults in the simulated city, injected on demand and healed: latency at a site, a saturated node,
a site offline.  The exporter's control API changes the QoS metrics; taking a site offline also
marks its kwok Nodes NotReady (through `orchestrator.kube`, the one place that writes to the API).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.kube.sync import patch_node, session
from sim.control import ExporterControlSync
from sim.nodes import site_offline_patches, site_online_patches
from sim.scenario import load_scenario


class Faults:
    def __init__(self, exporter_url: str, kubeconfig: Path, scenario: str) -> None:
        self.control = ExporterControlSync(exporter_url)
        self.kubeconfig = kubeconfig
        self.scenario = scenario

    def latency(self, site: str, add_ms: float) -> str:
        return str(self.control.inject_latency(site, add_ms))

    def cpu(self, node: str, cores: float) -> str:
        return str(self.control.saturate_cpu(node, cores))

    def load(self, workload: str, cores: float) -> str:
        return str(self.control.load_app(workload, cores))

    def offline(self, site: str) -> str:
        """The site's metrics say it is down, and its Nodes turn NotReady (kwok leaves them so)."""
        fault = str(self.control.take_offline(site))
        with session(self.kubeconfig) as api:
            for node, meta, status in site_offline_patches(load_scenario(self.scenario), site):
                patch_node(api, node, meta)
                patch_node(api, node, status, status=True)
        return fault

    def online(self, site: str) -> list[str]:
        """Undo `offline`: the site's Nodes Ready again and its offline faults healed."""
        self._restore_nodes(site)
        return [h for f in self.faults() if f.get("kind") == "offline" and f.get("site") == site
                for h in self.control.heal(str(f["id"]))]

    def heal(self, fault_id: str | None = None) -> list[str]:
        """Heal one fault, or all of them (an offline site's Nodes become Ready again)."""
        for f in self.faults():
            if f.get("kind") == "offline" and fault_id in (None, f.get("id")):
                self._restore_nodes(str(f["site"]))
        return [str(i) for i in self.control.heal(fault_id)]

    def _restore_nodes(self, site: str) -> None:
        with session(self.kubeconfig) as api:
            for node, meta, status in site_online_patches(load_scenario(self.scenario), site):
                patch_node(api, node, status, status=True)
                patch_node(api, node, meta)

    def faults(self) -> list[dict[str, Any]]:
        return list(self.control.faults())
