"""Pure builders: the command line and configuration files of every component of the local stack.

Nothing here starts a process or touches the network; `stack.py` does.  Every component listens on
127.0.0.1 only.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack.localstack.pki import Pki
from devstack.localstack.procs import ProcessSpec

HOST = "127.0.0.1"
SERVICE_CIDR = "10.96.0.0/16"
KUBE_COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SIDE_COMPONENTS = ("exporter", "prometheus", "anvil")
ANVIL_CHAIN_ID = 31337


@dataclass(frozen=True)
class Ports:
    """The loopback ports of one stack, chosen free at first `up` and kept in stack.json."""

    etcd: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    prometheus: int
    anvil: int
    exporter: int
    operator_metrics: int
    operator_health: int
    operator_api: int = 0  # the operator's app API (0 in a stack.json from before it: a free port is chosen)
    operator2_metrics: int = 0  # a second operator process (a standby: orchestrator.leader), when started
    operator2_health: int = 0
    operator2_api: int = 0

    def of_operator(self, instance: int) -> tuple[int, int, int]:
        """(metrics, health, app API) ports of operator process `instance` (1 or 2)."""
        if instance == 1:
            return self.operator_metrics, self.operator_health, self.operator_api
        return self.operator2_metrics, self.operator2_health, self.operator2_api


def kubeconfig(server: str, pki: Pki, user: str) -> dict[str, Any]:
    """A kubeconfig for one client certificate of `pki`."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "edgeorch", "cluster": {"server": server, "certificate-authority": str(pki.ca_cert)}}],
        "users": [{"name": user, "user": {
            "client-certificate": str(pki.cert(user)), "client-key": str(pki.key(user)),
        }}],
        "contexts": [{"name": "edgeorch", "context": {"cluster": "edgeorch", "user": user}}],
        "current-context": "edgeorch",
    }


def etcd(bin_dir: Path, data_dir: Path, ports: Ports) -> ProcessSpec:
    peer = f"http://{HOST}:{ports.etcd_peer}"
    client = f"http://{HOST}:{ports.etcd}"
    return ProcessSpec("etcd", [
        str(bin_dir / "etcd"),
        "--name=edgeorch",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=edgeorch={peer}",
        "--log-level=warn",
        "--unsafe-no-fsync",  # a throw-away test cluster: speed over durability
        "--quota-backend-bytes=4294967296",
    ])


OPERATOR_USER = "system:serviceaccount:edgeorch-system:edgeorch-operator"  # the operator's identity (a token)


def audit_policy() -> dict[str, Any]:
    """The API server's audit policy: every request of the operator's identity, at Metadata level (who,
    verb, resource, namespace, name, answer; no bodies), when it completed (a watch: also when it
    started, as it may never complete while the stack runs); nobody else's."""
    return {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
            "rules": [{"level": "Metadata", "users": [OPERATOR_USER]}, {"level": "None"}]}


def token_kubeconfig(server: str, pki: Pki, user: str, token: str) -> dict[str, Any]:
    """A kubeconfig for one bearer token (a ServiceAccount's, from a TokenRequest)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "edgeorch", "cluster": {"server": server, "certificate-authority": str(pki.ca_cert)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "edgeorch", "context": {"cluster": "edgeorch", "user": user}}],
        "current-context": "edgeorch",
    }


def apiserver(bin_dir: Path, pki: Pki, ports: Ports, audit: tuple[Path, Path] | None = None) -> ProcessSpec:
    """kube-apiserver: client certificates and ServiceAccount tokens only (no anonymous requests), RBAC;
    with `audit` (policy file, log file) an audit log in JSON lines."""
    audit_flags = [f"--audit-policy-file={audit[0]}", f"--audit-log-path={audit[1]}", "--audit-log-format=json",
                   "--audit-log-maxsize=500", "--audit-log-maxbackup=1", "--audit-log-mode=batch",
                   "--audit-log-batch-max-wait=1s"] if audit else []
    return ProcessSpec("kube-apiserver", [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://{HOST}:{ports.etcd}",
        f"--bind-address={HOST}",
        f"--advertise-address={HOST}",
        f"--secure-port={ports.apiserver}",
        f"--tls-cert-file={pki.cert('apiserver')}",
        f"--tls-private-key-file={pki.key('apiserver')}",
        f"--client-ca-file={pki.ca_cert}",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--anonymous-auth=false",
        *audit_flags,
        "--endpoint-reconciler-type=none",  # loopback is not a valid endpoint for the kubernetes Service
        "--allow-privileged=true",
        f"--profiling={'true' if os.environ.get('EDGEORCH_PROFILING') else 'false'}",  # pprof for bench profiling
        "--max-requests-inflight=1000",
        "--max-mutating-requests-inflight=500",
        "--event-ttl=1h",
        "--v=1",
    ])


def controller_manager(bin_dir: Path, pki: Pki, kubeconfig_file: Path, ports: Ports) -> ProcessSpec:
    return ProcessSpec("kube-controller-manager", [
        str(bin_dir / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig_file}",
        f"--authentication-kubeconfig={kubeconfig_file}",
        f"--authorization-kubeconfig={kubeconfig_file}",
        f"--bind-address={HOST}",
        f"--secure-port={ports.controller_manager}",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.ca_cert}",
        f"--cluster-signing-cert-file={pki.ca_cert}",
        f"--cluster-signing-key-file={pki.ca_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--kube-api-qps=300",
        "--kube-api-burst=600",
        "--concurrent-deployment-syncs=20",
        "--concurrent-replicaset-syncs=20",
        "--concurrent-gc-syncs=40",
        "--node-monitor-grace-period=20s",
        "--v=1",
    ])


def scheduler_config(kubeconfig_file: Path) -> dict[str, Any]:
    """kube-scheduler's configuration: no leader election, a client rate fit for benchmarks."""
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "leaderElection": {"leaderElect": False},
        "clientConnection": {"kubeconfig": str(kubeconfig_file), "qps": 500, "burst": 1000},
    }


def scheduler(bin_dir: Path, config_file: Path, kubeconfig_file: Path, ports: Ports) -> ProcessSpec:
    return ProcessSpec("kube-scheduler", [
        str(bin_dir / "kube-scheduler"),
        f"--config={config_file}",
        f"--authentication-kubeconfig={kubeconfig_file}",
        f"--authorization-kubeconfig={kubeconfig_file}",
        f"--bind-address={HOST}",
        f"--secure-port={ports.scheduler}",
        "--v=1",
    ])


def kwok(bin_dir: Path, config_file: Path, kubeconfig_file: Path) -> ProcessSpec:
    return ProcessSpec("kwok", [
        str(bin_dir / "kwok"),
        f"--kubeconfig={kubeconfig_file}",
        f"--config={config_file}",
    ])


def prometheus_config(ports: Ports, targets_dir: Path, rule_files: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Prometheus scrapes itself, the city's QoS exporter, the operator, and any file in targets_dir, and
    evaluates `rule_files` (edgeorch's alert rules)."""
    def static(job: str, port: int) -> dict[str, Any]:
        return {"job_name": job, "static_configs": [{"targets": [f"{HOST}:{port}"]}]}

    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(f) for f in rule_files],
        "scrape_configs": [
            static("prometheus", ports.prometheus),
            static("edgeorch-sim", ports.exporter),
            {**static("edgeorch-sim-apps", ports.exporter), "metrics_path": "/metrics/apps"},
            static("edgeorch-operator", ports.operator_metrics),
            {
                "job_name": "extra",
                "file_sd_configs": [{"files": [str(targets_dir / "*.json")], "refresh_interval": "1s"}],
            },
        ],
    }


def prometheus(binary: Path, config_file: Path, data_dir: Path, ports: Ports) -> ProcessSpec:
    return ProcessSpec("prometheus", [
        str(binary),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={HOST}:{ports.prometheus}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=6h",
        "--log.level=warn",
    ])


def anvil(binary: Path, state_file: Path, ports: Ports, chain_id: int = ANVIL_CHAIN_ID) -> ProcessSpec:
    return ProcessSpec("anvil", [
        str(binary),
        f"--host={HOST}",
        f"--port={ports.anvil}",
        f"--chain-id={chain_id}",
        f"--state={state_file}",
        "--state-interval=1",
    ])


def exporter(scenario: str, ports: Ports, kubeconfig: Path) -> ProcessSpec:
    """The simulated city's exporter; it follows the workloads under an agreement in the cluster."""
    return ProcessSpec("exporter", [
        sys.executable, "-m", "sim.exporter", "--scenario", scenario, "--host", HOST, "--port", str(ports.exporter),
        "--kubeconfig", str(kubeconfig),
    ])


def operator_name(instance: int) -> str:
    """The process name of operator process `instance`: `operator`, `operator-2`."""
    return "operator" if instance == 1 else f"operator-{instance}"


def operator(handlers: Path, ports: Ports, env: dict[str, str], instance: int = 1) -> ProcessSpec:
    """The edgeorch operator (Kopf) against the stack, with its health endpoints (/healthz, /readyz:
    orchestrator.probes) and metrics on loopback; each process its own ports and Lease identity."""
    metrics, health, api = ports.of_operator(instance)
    return ProcessSpec(operator_name(instance), [
        sys.executable, "-m", "kopf", "run", str(handlers), "--all-namespaces", "--standalone",
    ], env={"EDGEORCH_LEASE_IDENTITY": f"{socket.gethostname()}-{operator_name(instance)}", **env,
            "EDGEORCH_OPERATOR_METRICS_PORT": str(metrics), "EDGEORCH_OPERATOR_HEALTH_PORT": str(health),
            "EDGEORCH_API_PORT": str(api)})


def dump_yaml(path: Path, data: dict[str, Any] | list[dict[str, Any]]) -> bool:
    """Write YAML only when it changed (a warm `up` rewrites nothing); True when it was written."""
    text = yaml.safe_dump(data, sort_keys=False)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
        return True
    return False
