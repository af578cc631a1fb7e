"""The local stack: bring up, inspect and tear down the real components edgeorch runs against.

`up` is idempotent (running components are kept), `down` stops by pid whatever `up` started, and a
component that died is reported with the tail of its log.  When $KUBECONFIG already points at a
reachable cluster (a kind cluster, say) no local Kubernetes is started.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devstack.localstack import components as comp
from devstack.localstack import kubesetup, probes, tools
from devstack.localstack.pki import ensure_pki
from devstack.localstack.procs import (
    ComponentDied,
    ProcessSpec,
    Supervisor,
    free_ports,
    port_is_free,
    tail,
)
from orchestrator.kube.sync import readyz, wait_until

Log = Callable[[str], None]
ALL_COMPONENTS = (*comp.KUBE_COMPONENTS, *comp.SIDE_COMPONENTS)
OPERATOR_DEPLOYMENT = ("edgeorch-system", "edgeorch-operator")  # where deploy/ runs it in a cluster
ALERT_RULES = tools.REPO_ROOT / "deploy" / "monitoring" / "edgeorch-alerts.yaml"  # loaded by the stack's Prometheus


class StackError(RuntimeError):
    """The stack cannot do what was asked as things are; the message says what to run."""


def default_state_dir() -> Path:
    env = os.environ.get("EDGEORCH_STATE_DIR")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return base / "edgeorch" / "stack"


@dataclass
class StackState:
    """What `up` decided, persisted in stack.json so `status`, `env` and `down` find it again."""

    mode: str  # "local" (our control plane) or "external" ($KUBECONFIG's cluster)
    kubeconfig: str
    scenario: str
    ports: comp.Ports
    components: list[str]
    prometheus_data: str = ""
    state_dir: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def prometheus_url(self) -> str:
        return f"http://{comp.HOST}:{self.ports.prometheus}"

    @property
    def chain_url(self) -> str:
        return f"http://{comp.HOST}:{self.ports.anvil}"

    @property
    def exporter_url(self) -> str:
        return f"http://{comp.HOST}:{self.ports.exporter}"

    @property
    def api_url(self) -> str:
        """The operator's app API (docs/app-api.md)."""
        return f"http://{comp.HOST}:{self.ports.operator_api}"

    def env(self) -> dict[str, str]:
        return {
            "KUBECONFIG": self.kubeconfig,
            "EDGEORCH_PROMETHEUS_URL": self.prometheus_url,
            "EDGEORCH_CHAIN_URL": self.chain_url,
            "EDGEORCH_OPERATOR_METRICS_PORT": str(self.ports.operator_metrics),
            "EDGEORCH_API_PORT": str(self.ports.operator_api),  # the app API (orchestrator.endpoints)
            "EDGEORCH_STATE_DIR": self.state_dir,  # the ledger's contract address is kept there too
            "EDGEORCH_LEASE_NAMESPACE": "edgeorch-system",  # the operators' Lease, where deploy/rbac lets them write it
            # the local anvil: its public development keys, a contract deployed on first use (sla_contracts.config)
            "EDGEORCH_CHAIN_ID": str(comp.ANVIL_CHAIN_ID),
            "EDGEORCH_LEDGER_DEV_KEYS": "true",
            "EDGEORCH_LEDGER_DEPLOY": "true",
        }


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: str  # running | stopped | dead | external
    pid: int | None
    url: str
    log_tail: str = ""
    detail: str = ""  # e.g. the operator's health


class Stack:
    """One stack, identified by its state directory."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self.dir = (state_dir or default_state_dir()).resolve()
        self.state_file = self.dir / "stack.json"

    # -- state -------------------------------------------------------------------------------
    def load(self) -> StackState | None:
        try:
            raw = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        raw["ports"] = comp.Ports(**raw["ports"])
        return StackState(**raw)

    def _save(self, state: StackState) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2))
        tmp.replace(self.state_file)

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.dir)

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (JSON lines): every request of the operator's identity."""
        return self.dir / "logs" / "kube-apiserver-audit.log"

    # -- up ----------------------------------------------------------------------------------
    def up(self, scenario: str = "barcelona", *, chain: bool = True, log: Log = lambda _m: None) -> StackState:
        t0 = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        sup = self.supervisor
        previous = self.load()
        if previous and previous.scenario != scenario and any(sup.pid(c) for c in comp.KUBE_COMPONENTS):
            raise StackError(
                f"the stack in {self.dir} runs scenario {previous.scenario!r}; "
                f"run `edgeorch cluster down` before switching to {scenario!r}"
            )
        ports = self._ports(previous, sup)
        own_kubeconfig = self.dir / "kubeconfig"
        external = self._external_kubeconfig(own_kubeconfig)
        mode = "external" if external else "local"
        wanted = [*comp.SIDE_COMPONENTS] if chain else ["exporter", "prometheus"]
        if mode == "local":
            wanted = [*comp.KUBE_COMPONENTS, *wanted]
        state = StackState(
            mode=mode,
            kubeconfig=str(external or own_kubeconfig),
            scenario=scenario,
            ports=ports,
            components=wanted,
            prometheus_data=previous.prometheus_data if previous else "",
            state_dir=str(self.dir),
        )
        timings: dict[str, float] = {}
        self._start_side(state, sup, chain, log)
        if mode == "local":
            log(f"starting the local control plane (state in {self.dir})")
            self._start_kube(state, sup, log)
        else:
            log(f"using the cluster of $KUBECONFIG ({external}); no local Kubernetes started")
        timings["control_plane_s"] = time.monotonic() - t0
        self._save(state)
        t1 = time.monotonic()
        counts = kubesetup.populate(Path(state.kubeconfig), scenario, simulated_nodes=(mode == "local"), log=log)
        timings["nodes_s"] = time.monotonic() - t1
        self._wait_side(state, sup, chain)
        timings["total_s"] = time.monotonic() - t0
        state.timings = {k: round(v, 2) for k, v in timings.items()}
        self._save(state)
        log(f"stack up in {timings['total_s']:.1f} s: {counts['nodes']} nodes Ready, {counts['sites']} sites, {counts['cells']} cells")
        return state

    def _ports(self, previous: StackState | None, sup: Supervisor) -> comp.Ports:
        """Keep the ports of a previous `up`, replacing any that another program took meanwhile."""
        names = list(comp.Ports.__dataclass_fields__)
        owner = {"etcd": "etcd", "etcd_peer": "etcd", "apiserver": "kube-apiserver",
                 "controller_manager": "kube-controller-manager", "scheduler": "kube-scheduler",
                 "prometheus": "prometheus", "anvil": "anvil", "exporter": "exporter",
                 "operator_metrics": "operator", "operator_health": "operator", "operator_api": "operator",
                 "operator2_metrics": "operator-2", "operator2_health": "operator-2", "operator2_api": "operator-2"}
        chosen: dict[str, int] = {}
        fresh = iter(free_ports(len(names)))
        for name in names:
            port = getattr(previous.ports, name) if previous else 0
            ours = owner[name] and sup.pid(owner[name]) is not None
            if not port or not (ours or port_is_free(port)):
                port = next(fresh)
            chosen[name] = port
        return comp.Ports(**chosen)

    def _external_kubeconfig(self, own: Path) -> Path | None:
        from orchestrator.kube.sync import reachable

        env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
        if not env or Path(env).resolve() == own.resolve() or not Path(env).exists():
            return None
        return Path(env) if reachable(Path(env)) else None

    def _start_side(self, state: StackState, sup: Supervisor, chain: bool, log: Log) -> None:
        ports = state.ports
        if sup.pid("exporter") is None:
            sup.start(self.spec(state, "exporter"))
        targets = self.dir / "prometheus-targets"
        targets.mkdir(exist_ok=True)
        cfg = self.dir / "prometheus.yml"
        changed = comp.dump_yaml(cfg, comp.prometheus_config(ports, targets, (ALERT_RULES,)))
        if sup.pid("prometheus") is None:
            if state.prometheus_data:
                shutil.rmtree(state.prometheus_data, ignore_errors=True)
            state.prometheus_data = tempfile.mkdtemp(prefix="edgeorch-prometheus-")
            sup.start(self.spec(state, "prometheus"))
        elif changed:  # ours runs with an older configuration: it reloads (--web.enable-lifecycle)
            probes.http_post(f"{state.prometheus_url}/-/reload")
        if chain and sup.pid("anvil") is None:
            sup.start(self.spec(state, "anvil"))

    def spec(self, state: StackState, name: str) -> ProcessSpec:
        """The process of side or storage component `name` (etcd, kube-apiserver, prometheus, anvil,
        exporter) as this stack runs it: `up` starts it so, and devstack.localstack.respawn starts it
        again so after it died (same ports, data, state file)."""
        d, ports = self.dir, state.ports
        if name == "etcd":
            return comp.etcd(tools.k8s_bin_dir(), d / "etcd-data", ports)
        if name == "kube-apiserver":
            return comp.apiserver(tools.k8s_bin_dir(), ensure_pki(d / "pki"), ports,
                                  (d / "audit-policy.yaml", self.audit_log))
        if name == "prometheus":
            return comp.prometheus(tools.prometheus_binary(), d / "prometheus.yml", Path(state.prometheus_data), ports)
        if name == "anvil":  # its --state file: the chain as anvil last wrote it (every second, and at SIGTERM)
            return comp.anvil(tools.npm_tool("anvil-linux-amd64", "anvil"), d / "anvil-state.json", ports)
        if name == "exporter":
            return comp.exporter(state.scenario, ports, self._exporter_kubeconfig(state))
        raise StackError(f"no process spec for {name!r}")

    def _exporter_kubeconfig(self, state: StackState) -> Path:
        """The exporter's own identity on a local stack (a client certificate of user edgeorch-exporter,
        bound by kubesetup to reading SLAs and EdgeWorkloads); $KUBECONFIG's on an external cluster."""
        if state.mode != "local":
            return Path(state.kubeconfig)
        path = self.dir / "exporter.kubeconfig"
        comp.dump_yaml(path, comp.kubeconfig(f"https://{comp.HOST}:{state.ports.apiserver}",
                                             ensure_pki(self.dir / "pki"), "exporter"))
        path.chmod(0o600)
        return path

    def _start_kube(self, state: StackState, sup: Supervisor, log: Log) -> None:
        bins = tools.k8s_bin_dir()
        ports = state.ports
        pki = ensure_pki(self.dir / "pki")
        server = f"https://{comp.HOST}:{ports.apiserver}"
        kcfg = {}
        for user in ("admin", "kube-controller-manager", "kube-scheduler", "kwok"):
            path = self.dir / ("kubeconfig" if user == "admin" else f"{user}.kubeconfig")
            comp.dump_yaml(path, comp.kubeconfig(server, pki, user))
            path.chmod(0o600)
            kcfg[user] = path
        self._run(sup, self.spec(state, "etcd"), lambda: probes.http_ok(
            f"http://{comp.HOST}:{ports.etcd}/health"), 30)
        api = None

        def api_ready() -> bool:
            nonlocal api
            from orchestrator.kube.sync import api_client

            api = api or api_client(kcfg["admin"])
            return readyz(api)

        policy = self.dir / "audit-policy.yaml"
        comp.dump_yaml(policy, comp.audit_policy())
        self._run(sup, self.spec(state, "kube-apiserver"), api_ready, 90)
        log("kube-apiserver ready")
        sched_cfg = self.dir / "kube-scheduler.yaml"
        comp.dump_yaml(sched_cfg, comp.scheduler_config(kcfg["kube-scheduler"]))
        for spec in (
            comp.controller_manager(bins, pki, kcfg["kube-controller-manager"], ports),
            comp.scheduler(bins, sched_cfg, kcfg["kube-scheduler"], ports),
            comp.kwok(bins, tools.REPO_ROOT / "deploy" / "local" / "kwok.yaml", kcfg["kwok"]),
        ):
            sup.start(spec)
        if api is not None:
            api.close()

    def _run(self, sup: Supervisor, spec: ProcessSpec, ready: Callable[[], bool], timeout: float) -> None:
        """Start `spec` (unless it runs) and wait for `ready`, failing fast if the process dies."""
        sup.start(spec)

        def check() -> bool:
            sup.check_alive(spec.name)
            return ready()

        wait_until(check, timeout, f"{spec.name} to become ready (log: {sup.log_file(spec.name)})")

    def _wait_side(self, state: StackState, sup: Supervisor, chain: bool) -> None:
        checks: dict[str, Callable[[], bool]] = {
            "exporter": lambda: probes.http_ok(state.exporter_url + "/metrics"),
            "prometheus": lambda: probes.http_ok(state.prometheus_url + "/-/ready"),
        }
        if chain:
            checks["anvil"] = lambda: probes.chain_id(state.chain_url) is not None
        for name, ready in checks.items():
            def check(name: str = name, ready: Callable[[], bool] = ready) -> bool:
                sup.check_alive(name)
                return ready()

            wait_until(check, 30, f"{name} to answer (log: {sup.log_file(name)})")

    # -- the operator ------------------------------------------------------------------------
    def start_operator(self, extra_env: dict[str, str] | None = None, timeout: float = 60, *, instance: int = 1,
                       wait: str = "ready", api_server: str | None = None) -> int:
        """Run operator process `instance` (1, or 2 for a second one: two candidates for the leader Lease,
        orchestrator.leader) against this stack.  Wait until it is `ready` (it leads and its loops run:
        /readyz) or only `healthy` (it answers /healthz: a standby does).  `api_server`: the URL it reaches
        the local API server at instead of the API server's own (a loopback proxy the caller controls:
        bench.chaos cuts the operator off with it)."""
        state = self.load()
        if state is None:
            raise StackError("no stack: run `edgeorch cluster up` first")
        sup = self.supervisor
        env = {**state.env(), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        if state.mode == "local":  # its own identity: the ServiceAccount deploy/ binds its roles to
            env["KUBECONFIG"] = str(self._operator_kubeconfig(state, instance, api_server))
        spec = comp.operator(tools.REPO_ROOT / "operator" / "handlers.py", state.ports, env, instance)
        url = self.operator_url(state, instance, "readyz" if wait == "ready" else "healthz")
        self._run(sup, spec, lambda: probes.http_ok(url), timeout)
        return sup.pid(spec.name) or 0

    def _operator_kubeconfig(self, state: StackState, instance: int = 1, api_server: str | None = None) -> Path:
        """A kubeconfig with a fresh token of the ServiceAccount edgeorch-system/edgeorch-operator (so the
        operator has exactly the rights deploy/rbac grants it, and the audit log tells its requests apart);
        one per process, as each may reach the API server its own way."""
        token = kubesetup.service_account_token(Path(state.kubeconfig), "edgeorch-operator")
        path = self.dir / f"{comp.operator_name(instance)}.kubeconfig"
        server = api_server or f"https://{comp.HOST}:{state.ports.apiserver}"
        comp.dump_yaml(path, comp.token_kubeconfig(server, ensure_pki(self.dir / "pki"), "edgeorch-operator", token))
        path.chmod(0o600)
        return path

    @staticmethod
    def operator_url(state: StackState, instance: int, path: str) -> str:
        """`http://host:port/<path>` of operator process `instance` (healthz, readyz: health; metrics)."""
        metrics, health, _ = state.ports.of_operator(instance)
        return f"http://{comp.HOST}:{metrics if path == 'metrics' else health}/{path}"

    def stop_operator(self, *, kill: bool = False, instance: int = 1) -> bool:
        """Stop operator process `instance` (SIGKILL with `kill`: a crash, for restart and takeover tests)."""
        sup = self.supervisor
        name = comp.operator_name(instance)
        return sup.kill(name) if kill else sup.stop(name)

    # -- status / down -----------------------------------------------------------------------
    def status(self) -> list[ComponentStatus]:
        state = self.load()
        if state is None:
            return []
        sup = self.supervisor
        urls = {
            "kube-apiserver": f"https://{comp.HOST}:{state.ports.apiserver}",
            "etcd": f"http://{comp.HOST}:{state.ports.etcd}",
            "prometheus": state.prometheus_url,
            "anvil": state.chain_url,
            "exporter": state.exporter_url,
        }
        out = []
        for name in ALL_COMPONENTS:
            if name not in state.components:
                if state.mode == "external" and name in comp.KUBE_COMPONENTS:
                    out.append(ComponentStatus(name, "external", None, ""))
                continue
            pid = sup.pid(name)
            if pid is not None:
                out.append(ComponentStatus(name, "running", pid, urls.get(name, "")))
            else:
                out.append(ComponentStatus(name, "dead", None, urls.get(name, ""), tail(sup.log_file(name), 15)))
        out.append(self.operator_status(state))
        return out

    def operator_status(self, state: StackState) -> ComponentStatus:
        """The operator: our local process (pid, /healthz answer, /metrics URL), else the Deployment of
        deploy/ in the cluster (external mode), else stopped, or dead when it exited on its own."""
        sup = self.supervisor
        started = sup.has_pid_file("operator")
        pid = sup.pid("operator")
        health = f"http://{comp.HOST}:{state.ports.operator_health}/healthz"
        metrics = f"http://{comp.HOST}:{state.ports.operator_metrics}/metrics"
        if pid is not None:
            healthy = "healthy" if probes.http_ok(health) else "not answering /healthz yet"
            return ComponentStatus("operator", "running", pid, health,
                                   detail=f"local process on {comp.HOST}, {healthy}; metrics {metrics}")
        if started:  # a pid file without its process: it exited without `down`/`stop_operator`
            return ComponentStatus("operator", "dead", None, health, tail(sup.log_file("operator"), 15),
                                   detail=f"exited; log {sup.log_file('operator')}")
        if state.mode == "external":
            where = self._operator_in_cluster(state)
            if where:
                return ComponentStatus("operator", "external", None, "", detail=where)
        return ComponentStatus("operator", "stopped", None, "",
                               detail="not running: `edgeorch demo` (or `make run`) starts it")

    @staticmethod
    def _operator_in_cluster(state: StackState) -> str:
        from orchestrator.kube.errors import KubeError
        from orchestrator.kube.sync import deployment_replicas, session

        ns, name = OPERATOR_DEPLOYMENT
        try:
            with session(Path(state.kubeconfig)) as api:
                replicas = deployment_replicas(api, ns, name)
        except KubeError as exc:
            return f"cannot tell whether the cluster runs it: {exc}"
        if replicas is None:
            return ""
        return f"in the cluster: Deployment {ns}/{name}, {replicas[0]}/{replicas[1]} ready"

    def down(self, *, purge: bool = False, log: Log = lambda _m: None) -> list[str]:
        """Stop every component by pid; drop cluster and metrics data (and everything with purge)."""
        state = self.load()
        sup = self.supervisor
        stopped = []
        for name in ("operator", "operator-2", *reversed(ALL_COMPONENTS)):
            if sup.stop(name):
                stopped.append(name)
                log(f"stopped {name}")
        for name in sup.names():  # anything else we started (e.g. an operator)
            if sup.stop(name):
                stopped.append(name)
        if state and state.prometheus_data:
            shutil.rmtree(state.prometheus_data, ignore_errors=True)
        shutil.rmtree(self.dir / "etcd-data", ignore_errors=True)
        if purge:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            self.state_file.unlink(missing_ok=True)
        return stopped


__all__ = ["ComponentDied", "ComponentStatus", "Stack", "StackError", "StackState", "default_state_dir"]
