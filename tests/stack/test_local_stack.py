"""The local stack itself, against the real components: no mock anywhere."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from devstack.cli import main
from devstack.localstack import probes
from devstack.localstack.procs import free_ports
from devstack.localstack.tools import k8s_binary
from sim.nodes import node_manifests
from sim.scenario import load_scenario
from tests.conftest import DEFAULT_SCENARIO, StackHandle

pytestmark = [pytest.mark.cluster]


def _wait(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {what}")
        time.sleep(0.25)


def test_api_server_is_the_pinned_version_and_serves(stack: StackHandle) -> None:
    out = json.loads(stack.kubectl("version", "-o", "json").stdout)
    assert out["serverVersion"]["gitVersion"].startswith("v1.3"), out
    assert stack.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"


def test_rbac_is_enforced(stack: StackHandle) -> None:
    denied = stack.kubectl("get", "pods", "-A", "--as=mallory", check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower(), denied.stderr
    sa = "--as=system:serviceaccount:default:default"
    assert stack.kubectl("auth", "can-i", "create", "deployments", sa, check=False).stdout.strip() == "no"
    assert stack.kubectl("auth", "can-i", "create", "deployments").stdout.strip() == "yes"


def test_no_anonymous_access_and_an_identity_per_component(stack: StackHandle) -> None:
    """The API server answers nobody without a certificate or token (401), and the components that talk to
    it each have their own identity with its own rights (the operator: deploy/'s ServiceAccount, a token;
    the exporter: a certificate that may only follow the workloads under an agreement)."""
    import ssl

    import yaml

    ctx = ssl.create_default_context(cafile=str(stack.state_dir / "pki" / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"https://127.0.0.1:{stack.state.ports.apiserver}/api", context=ctx, timeout=5)
    assert anonymous.value.code == 401
    users = {}
    for name in ("kubeconfig", "exporter.kubeconfig", "kube-controller-manager.kubeconfig",
                 "kube-scheduler.kubeconfig", "kwok.kubeconfig"):
        (user,) = yaml.safe_load((stack.state_dir / name).read_text())["users"]
        users[name] = user["user"].get("client-certificate")
    assert len(set(users.values())) == len(users), users  # one certificate each
    def can(verb: str, resource: str, who: str) -> bool:
        return stack.kubectl("auth", "can-i", verb, resource, f"--as={who}", "-A", check=False).stdout.strip() == "yes"
    assert can("list", "servicelevelagreements.edgeorch.io", "edgeorch-exporter")
    assert can("get", "edgeworkloads.edgeorch.io", "edgeorch-exporter")
    assert not can("list", "pods", "edgeorch-exporter") and not can("patch", "edgeworkloads.edgeorch.io", "edgeorch-exporter")


def test_simulated_nodes_are_ready_with_city_labels(stack: StackHandle) -> None:
    expected = {n["metadata"]["name"]: n for n in node_manifests(load_scenario(DEFAULT_SCENARIO))}
    nodes = json.loads(stack.kubectl("get", "nodes", "-l", "type=kwok", "-o", "json").stdout)["items"]
    seen = {n["metadata"]["name"]: n for n in nodes}
    assert set(seen) == set(expected)
    for name, node in seen.items():
        conds = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert conds.get("Ready") == "True", f"{name} not Ready: {conds}"
        for key in ("edgeorch.io/site", "edgeorch.io/tier", "topology.kubernetes.io/zone"):
            assert node["metadata"]["labels"][key] == expected[name]["metadata"]["labels"][key]
    tiers = {n["metadata"]["labels"]["edgeorch.io/tier"] for n in nodes}
    assert tiers == {"far-edge", "edge", "cloud"}


def test_deployment_of_ten_replicas_runs_on_simulated_nodes(stack: StackHandle) -> None:
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "ten", "namespace": "default"},
        "spec": {
            "replicas": 10,
            "selector": {"matchLabels": {"app": "ten"}},
            "template": {
                "metadata": {"labels": {"app": "ten"}},
                "spec": {
                    "nodeSelector": {"type": "kwok"},
                    "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [{"name": "app", "image": "registry.example/ten:1",
                                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}],
                },
            },
        },
    }
    stack.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    try:
        kwok_nodes = set(stack.kubectl("get", "nodes", "-l", "type=kwok", "-o", "name").stdout.split())

        def running() -> list[dict] | None:  # type: ignore[type-arg]
            pods = json.loads(stack.kubectl("get", "pods", "-l", "app=ten", "-o", "json").stdout)["items"]
            ok = [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
            return ok if len(ok) == 10 else None

        pods = _wait(running, 60, "10 Running pods")
        assert all(f"node/{p['spec']['nodeName']}" in kwok_nodes for p in pods)
        assert all(p["status"]["podIP"] for p in pods)
    finally:
        stack.kubectl("delete", "deployment", "ten", "--wait=false")


def test_the_simulated_kubelet_finishes_graceful_deletes_and_leaves_immediate_ones_alone(stack: StackHandle) -> None:
    """kwok stands in for the kubelet: a Pod deleted gracefully goes away at once; a Pod deleted with
    grace period 0 is the API server's to remove, and kwok must not act on it.  It used to, and its
    DELETE by name (no UID precondition) came seconds later under load and removed the Pod that had
    taken the name since (a rollout's new replica; #19).  Made deterministic with a finalizer: the
    grace-0 Pod stays, and kwok must leave it (and its finalizer) as it is."""
    node = stack.kubectl("get", "nodes", "-l", "type=kwok", "-o", "jsonpath={.items[0].metadata.name}").stdout

    def pod(name: str, finalizers: list[str]) -> str:
        return json.dumps({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "namespace": "default", "finalizers": finalizers},
                           "spec": {"nodeName": node, "tolerations": [{"operator": "Exists"}],
                                    "containers": [{"name": "app", "image": "registry.example/held:1"}]}})

    def running(name: str) -> bool:
        return stack.kubectl("get", "pod", name, "-o", "jsonpath={.status.phase}").stdout == "Running"

    hold = "edgeorch.io/test-hold"
    try:
        for name in ("graceful", "immediate"):
            assert stack.kubectl("create", "-f", "-", input=pod(name, [hold] if name == "immediate" else [])).returncode == 0
            _wait(lambda name=name: running(name), 30, f"{name} Running")
        done = stack.kubectl("delete", "pod", "graceful", "--timeout=20s")  # grace 30 s: kwok finishes it
        assert done.returncode == 0, done.stderr
        stack.kubectl("delete", "pod", "immediate", "--grace-period=0", "--force", "--wait=false")
        time.sleep(3)
        held = json.loads(stack.kubectl("get", "pod", "immediate", "-o", "json").stdout)
        assert held["metadata"]["deletionGracePeriodSeconds"] == 0
        assert held["metadata"]["finalizers"] == [hold]  # kwok did not empty them to delete it itself
    finally:
        stack.kubectl("patch", "pod", "immediate", "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                      check=False)
        stack.kubectl("delete", "pod", "graceful", "immediate", "--grace-period=0", "--force", "--ignore-not-found",
                      check=False)


def _query(prometheus_url: str, promql: str) -> list[dict]:  # type: ignore[type-arg]
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def test_prometheus_scrapes_a_target_we_start(stack: StackHandle) -> None:
    registry = CollectorRegistry()
    gauge = Gauge("edgeorch_test_marker", "a value only this test publishes", registry=registry)
    gauge.set(42.5)
    (port,) = free_ports(1)
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        target = stack.state_dir / "prometheus-targets" / "test-marker.json"
        target.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"test": "marker"}}]))
        result = _wait(lambda: _query(stack.prometheus_url, 'edgeorch_test_marker{test="marker"}'), 30,
                       "Prometheus to scrape the test target")
        assert float(result[0]["value"][1]) == 42.5
        # and the simulated city's exporter is scraped every second
        latency = _wait(lambda: _query(stack.prometheus_url, "edgeorch_link_latency_seconds"), 30,
                        "the city's link latency")
        city = load_scenario(DEFAULT_SCENARIO)
        assert {r["metric"]["site"] for r in latency} == {site.name for site in city.sites}
        interval = _query(stack.prometheus_url, 'prometheus_target_interval_length_seconds{quantile="0.5"}')
        assert interval and float(interval[0]["value"][1]) < 1.5
    finally:
        server.shutdown()
        thread.join(5)
        target.unlink(missing_ok=True)


def test_anvil_answers_chain_id(stack: StackHandle) -> None:
    assert probes.chain_id(stack.chain_url) == 31337


def test_up_twice_is_harmless(stack: StackHandle) -> None:
    before = {s.name: s.pid for s in stack.stack.status()}
    t0 = time.monotonic()
    again = stack.stack.up(DEFAULT_SCENARIO)
    assert {s.name: s.pid for s in stack.stack.status()} == before
    assert again.ports == stack.state.ports
    assert time.monotonic() - t0 < 60


def test_a_dead_component_is_reported_with_its_log_and_up_restarts_it(stack: StackHandle) -> None:
    if stack.state.mode != "local":
        pytest.fail("this test needs the local control plane; unset KUBECONFIG")
    pid = next(s.pid for s in stack.stack.status() if s.name == "kube-scheduler")
    assert pid
    os.kill(pid, signal.SIGKILL)
    _wait(lambda: not Path(f"/proc/{pid}").exists() or _is_zombie(pid), 10, "the scheduler to die")
    dead = {s.name: s for s in stack.stack.status()}["kube-scheduler"]
    assert dead.state == "dead"
    log_file = stack.state_dir / "logs" / "kube-scheduler.log"
    assert dead.log_tail and log_file.read_text().rstrip().endswith(dead.log_tail.rstrip())
    result = CliRunner().invoke(main, ["cluster", "status", "--state-dir", str(stack.state_dir)])
    assert result.exit_code == 1 and "dead" in result.output
    stack.stack.up(DEFAULT_SCENARIO)
    assert {s.name: s.state for s in stack.stack.status()}["kube-scheduler"] == "running"


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


def test_env_prints_exports_for_a_shell(stack: StackHandle) -> None:
    result = CliRunner().invoke(main, ["cluster", "env", "--state-dir", str(stack.state_dir)])
    assert result.exit_code == 0, result.output
    lines = dict(line.removeprefix("export ").split("=", 1) for line in result.output.splitlines())
    assert lines["KUBECONFIG"] == str(stack.kubeconfig)
    assert lines["EDGEORCH_PROMETHEUS_URL"] == stack.prometheus_url
    assert lines["EDGEORCH_CHAIN_URL"] == stack.chain_url
    assert lines["PATH"] == f'{k8s_binary("kubectl").parent}:"$PATH"'  # the README's kubectl is the pinned one
