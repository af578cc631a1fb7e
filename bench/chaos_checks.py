"""What bench.chaos reads of the cluster and the chain after a fault, and the counts it derives: whether the
round's workloads converged (every one Placed, exactly its replicas as live Pods bound where its status
says, none on a NotReady node, every agreement on chain, no outbox waiting) and, once they did (or the
time ran out), the counts that must stay 0.  Reads only (the admin client straight to the API server,
sla_contracts' views on the chain); no fault, no timing of its own.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s

from orchestrator.kube.sync import call, nodes_by_readiness
from orchestrator.vocabulary import API_GROUP, API_VERSION, EDGEWORKLOADS, SLAS, WORKLOAD_LABEL
from sla_contracts import Ledger, open_ledger


@dataclass
class Snapshot:
    """One read of a round's namespace: workloads, their live Pods, the SLAs, and the NotReady nodes."""

    workloads: dict[str, dict[str, Any]]
    pods: dict[str, list[Any]]  # workload -> live (not terminating) Pods
    slas: dict[str, dict[str, Any]]
    not_ready: set[str]
    waiting: list[str] = field(default_factory=list)  # why it has not converged (first few reasons)

    def converged(self, breaches: bool = False) -> bool:
        """With `breaches`: every agreement has also recorded a breach (its workload sat where the round
        added latency)."""
        self.waiting = []
        for name, ew in self.workloads.items():
            replicas = int(ew["spec"]["replicas"])
            st = ew.get("status") or {}
            pods = self.pods.get(name, [])
            nodes = sorted(p.spec.node_name or "" for p in pods)
            if st.get("phase") != "Placed":
                self.waiting.append(f"{name} {st.get('phase')}")
            elif len(pods) != replicas or not all(p.spec.node_name for p in pods):
                self.waiting.append(f"{name} {sum(bool(p.spec.node_name) for p in pods)}/{len(pods)} bound of {replicas}")
            elif nodes != sorted(p.get("node", "") for p in st.get("placements") or []):
                self.waiting.append(f"{name} pods not where its status says")
            elif set(nodes) & self.not_ready:
                self.waiting.append(f"{name} on a NotReady node")
        for name, sla in self.slas.items():
            st = sla.get("status") or {}
            if not st.get("agreementId"):
                self.waiting.append(f"{name} not on chain")
            elif st.get("outbox"):
                self.waiting.append(f"{name} {len(st['outbox'])} record(s) in its outbox")
            elif breaches and not st.get("breaches"):
                self.waiting.append(f"{name} no breach recorded")
        return not self.waiting

    def double_placements(self) -> list[str]:
        """Workloads with more live Pods, or more placements in their status, than replicas."""
        out = []
        for name, ew in self.workloads.items():
            replicas = int(ew["spec"]["replicas"])
            placements = (ew.get("status") or {}).get("placements") or []
            if len(self.pods.get(name, [])) > replicas or len(placements) > replicas:
                out.append(f"{name}: {len(self.pods.get(name, []))} pods, {len(placements)} placements, "
                           f"{replicas} replicas")
        return out

    def lost_workloads(self) -> list[str]:
        """Workloads not Placed with a live Pod bound to a node for every replica."""
        out = []
        for name, ew in self.workloads.items():
            bound = sum(bool(p.spec.node_name) for p in self.pods.get(name, []))
            if (ew.get("status") or {}).get("phase") != "Placed" or bound < int(ew["spec"]["replicas"]):
                out.append(f"{name}: {(ew.get('status') or {}).get('phase')}, {bound} bound")
        return out

    def not_running(self) -> list[str]:
        """Bound Pods not Running and Ready: the (simulated) kubelet's part, not the operator's; after an
        etcd restart kwok leaves some Pending (it does not retry a status update that failed) or not Ready."""
        return [f"{p.metadata.name} on {p.spec.node_name}: {p.status.phase if p.status else '-'}"
                for pods in self.pods.values() for p in pods if p.spec.node_name and not ready(p)]

    def on_dead_nodes(self) -> list[str]:
        return [f"{p.metadata.name} on {p.spec.node_name}" for pods in self.pods.values() for p in pods
                if p.spec.node_name in self.not_ready]


def ready(pod: Any) -> bool:
    conds = (pod.status and pod.status.conditions) or []
    return pod.status is not None and pod.status.phase == "Running" and \
        any(c.type == "Ready" and c.status == "True" for c in conds)


def snapshot(api: Any, ns: str) -> Snapshot:
    custom, core = k8s.CustomObjectsApi(api), k8s.CoreV1Api(api)
    ews: Any = call(custom.list_namespaced_custom_object, API_GROUP, API_VERSION, ns, EDGEWORKLOADS)
    slas: Any = call(custom.list_namespaced_custom_object, API_GROUP, API_VERSION, ns, SLAS)
    pods: Any = call(core.list_namespaced_pod, ns)
    by_owner: dict[str, list[Any]] = {}
    for p in pods.items:
        owner = (p.metadata.labels or {}).get(WORKLOAD_LABEL)
        if owner and p.metadata.deletion_timestamp is None:
            by_owner.setdefault(owner, []).append(p)
    _, not_ready = nodes_by_readiness(api)
    return Snapshot({w["metadata"]["name"]: w for w in ews["items"]}, by_owner,
                    {s["metadata"]["name"]: s for s in slas["items"]}, set(not_ready))


@dataclass
class ChainCheck:
    """Per SLA: its agreement on chain, and the breaches the chain holds against what its status counts."""

    duplicated: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    breaches: int = 0  # breaches the statuses count (all rounds' agreements)


class Chain:
    """sla_contracts' views on the stack's chain, on one event loop of its own (the bench is synchronous)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self._ledgers: dict[str, Ledger] = {}

    def _ledger(self, address: str) -> Ledger:
        if address not in self._ledgers:
            self._ledgers[address] = self.loop.run_until_complete(open_ledger(self.url, address=address, deploy=False))
        return self._ledgers[address]

    def check(self, slas: dict[str, dict[str, Any]]) -> ChainCheck:
        out = ChainCheck()
        for name, sla in sorted(slas.items()):
            st = sla.get("status") or {}
            want = int(st.get("breaches") or 0)
            out.breaches += want
            if not st.get("agreementId"):
                out.lost.append(f"{name}: never recorded")
                continue
            aid = bytes.fromhex(str(st["agreementId"]).removeprefix("0x"))
            try:
                ledger = self._ledger(str(st["contractAddress"]))
                info = self.loop.run_until_complete(ledger.get_agreement(aid))
                events = self.loop.run_until_complete(ledger.breach_events(aid))
            except Exception as exc:  # e.g. no contract at that address any more
                out.lost.append(f"{name}: its agreement cannot be read on chain: {type(exc).__name__}: {exc}"[:300])
                continue
            if int(info.status) == 0:
                out.lost.append(f"{name}: status says agreement {st['agreementId']}, the chain has none")
            windows = Counter((e.args.get("objective"), e.args.get("window_start")) for e in events)
            have = len(events)
            if have > want or any(n > 1 for n in windows.values()):
                out.duplicated.append(f"{name}: {have} breaches on chain, status counts {want}")
            elif have < want:
                out.lost.append(f"{name}: {have} breaches on chain, status counts {want}")
        return out

    def close(self) -> None:
        for ledger in self._ledgers.values():
            self.loop.run_until_complete(ledger.close())
        self.loop.close()
