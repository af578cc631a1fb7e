"""The local stack edgeorch runs and is tested against: real kube-apiserver, etcd,
kube-controller-manager, kube-scheduler and kwok (simulated Nodes), the real Prometheus, anvil and
the simulated city's QoS exporter, all on 127.0.0.1.

Owns: process life cycle (pid files, logs), certificates, generated configuration, and filling a
fresh cluster with CRDs and the city's Nodes.  Must not: hold placement or SLA logic, or talk to the
Kubernetes API other than through `orchestrator.kube`.
"""

from devstack.localstack.procs import ComponentDied
from devstack.localstack.stack import ComponentStatus, Stack, StackError, StackState, default_state_dir
from devstack.localstack.tools import MissingTool

__all__ = ["ComponentDied", "ComponentStatus", "MissingTool", "Stack", "StackError", "StackState", "default_state_dir"]
