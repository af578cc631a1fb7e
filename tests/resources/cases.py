"""Shared test data: the samples, and invalid variants of them that both pydantic and the API server reject.

Each invalid case names the field the error must point at, as the API server spells it
(`spec.objectives[0].thresholds`); pydantic must name the same field (indices aside).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "deploy" / "samples"
CRD_DIR = REPO / "deploy" / "crds"

Doc = dict[str, Any]


def load_docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def samples() -> dict[str, Doc]:
    """Every sample object by `<Kind>/<name>`."""
    out: dict[str, Doc] = {}
    for path in sorted(SAMPLES.glob("*.yaml")):
        for doc in load_docs(path):
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


@dataclass(frozen=True)
class Invalid:
    """An invalid variant of a sample and the field its error must name."""

    id: str
    sample: str
    mutate: Callable[[Doc], None]
    field: str

    def doc(self) -> Doc:
        d = copy.deepcopy(samples()[self.sample])
        self.mutate(d)
        return d


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def apply(d: Doc) -> None:
        *head, last = path.split(".")
        node: Any = d
        for key in head:
            node = node[int(key)] if key.isdigit() else node[key]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return apply


VIDEO = "EdgeWorkload/video-analytics"
SLA = "ServiceLevelAgreement/video-analytics-sla"
SITE = "EdgeSite/fe-eixample"
BUS = "EdgeWorkload/bus-tracking"

INVALID: list[Invalid] = [
    Invalid("shares-do-not-sum-to-1", VIDEO, _set("spec.users.cells.0.share", 0.9), "spec.users.cells"),
    Invalid("shares-just-outside-tolerance", BUS, _set("spec.users.cells", [
        {"cell": f"cell-x-{i}", "share": 0.33} for i in range(3)]), "spec.users.cells"),
    Invalid("duplicate-cell", VIDEO, _set("spec.users.cells.1.cell", "cell-eixample-1"), "spec.users.cells"),
    Invalid("no-users-at-all", BUS, _set("spec.users", {}), "spec.users.cells"),
    Invalid("no-cells-and-no-metric", BUS, _set("spec.users", {"cells": []}), "spec.users.cells"),
    Invalid("a-blank-users-query", BUS, _set("spec.users", {"fromMetric": {"query": "   "}}),
            "spec.users.fromMetric.query"),
    Invalid("a-cell-label-prometheus-refuses", BUS, _set("spec.users", {"fromMetric": {
        "query": "sum by (cell) (up)", "cellLabel": "radio-cell"}}), "spec.users.fromMetric.cellLabel"),
    Invalid("a-zero-move-threshold", BUS, _set("spec.users", {"fromMetric": {
        "query": "sum by (cell) (up)", "moveThreshold": 0}}), "spec.users.fromMetric.moveThreshold"),
    Invalid("a-min-share-above-one-half", BUS, _set("spec.users", {"fromMetric": {
        "query": "sum by (cell) (up)", "minShare": 0.6}}), "spec.users.fromMetric.minShare"),
    Invalid("a-negative-smoothing-time", BUS, _set("spec.users", {"fromMetric": {
        "query": "sum by (cell) (up)", "smoothingSeconds": -1}}), "spec.users.fromMetric.smoothingSeconds"),
    Invalid("negative-replicas", VIDEO, _set("spec.replicas", -1), "spec.replicas"),
    Invalid("too-many-replicas", VIDEO, _set("spec.replicas", 1001), "spec.replicas"),
    Invalid("a-strategy-that-cannot-progress", VIDEO, _set("spec.strategy", {"maxSurge": "0%", "maxUnavailable": 0}),
            "spec.strategy.maxUnavailable"),
    Invalid("a-surge-above-100-percent", VIDEO, _set("spec.strategy", {"maxSurge": "150%"}), "spec.strategy.maxSurge"),
    Invalid("unknown-allowed-tier", VIDEO, _set("spec.placement.allowedTiers", ["fog"]), "spec.placement.allowedTiers[0]"),
    Invalid("prefer-tier-not-allowed", VIDEO, _set("spec.placement.preferTier", "cloud"), "spec.placement.preferTier"),
    Invalid("max-per-node-above-site", VIDEO, _set("spec.placement.maxPerNode", 5), "spec.placement.maxPerNode"),
    Invalid("cpu-not-a-quantity", VIDEO, _set("spec.resources.cpu", "lots"), "spec.resources.cpu"),
    Invalid("negative-cpu", VIDEO, _set("spec.resources.cpu", -3), "spec.resources.cpu"),
    # absurd quantities reached the solver as integer overflows and blocked their batch (#25)
    Invalid("cpu-1e18", VIDEO, _set("spec.resources.cpu", "1e18"), "spec.resources.cpu"),
    Invalid("cpu-twenty-nines", VIDEO, _set("spec.resources.cpu", "99999999999999999999"), "spec.resources.cpu"),
    Invalid("cpu-integer-above-the-bound", VIDEO, _set("spec.resources.cpu", 100001), "spec.resources.cpu"),
    Invalid("memory-1e18", VIDEO, _set("spec.resources.memory", "1e18"), "spec.resources.memory"),
    Invalid("memory-2Pi", VIDEO, _set("spec.resources.memory", "2Pi"), "spec.resources.memory"),
    Invalid("no-containers", VIDEO, _set("spec.template.spec.containers", []), "spec.template.spec.containers"),
    Invalid("duplicate-container-names", VIDEO, _set("spec.template.spec.containers", [
        {"name": "app", "image": "a:1"}, {"name": "app", "image": "b:1"}]), "spec.template.spec"),  # pydantic: "containers: duplicate entry"
    Invalid("replicas-that-end", VIDEO, _set("spec.template.spec.restartPolicy", "Never"),
            "spec.template.spec.restartPolicy"),
    Invalid("zero-latency", VIDEO, _set("spec.qos.maxLatencyMs", 0), "spec.qos.maxLatencyMs"),
    Invalid("service-ports-without-names", VIDEO, _set("spec.service", {"ports": [{"port": 80}, {"port": 81}]}),
            "spec.service.ports"),
    Invalid("service-port-twice", VIDEO, _set("spec.service", {"ports": [{"name": "a", "port": 80},
                                                                         {"name": "b", "port": 80}]}),
            "spec.service.ports"),
    Invalid("service-port-out-of-range", VIDEO, _set("spec.service", {"ports": [{"port": 70000}]}),
            "spec.service.ports[0].port"),
    Invalid("service-name-starts-with-a-digit", VIDEO, _set("spec.service", {"name": "1video"}), "spec.service.name"),
    Invalid("site-name-not-a-label", SITE, _set("metadata.name", "fe.eixample"), "metadata.name"),
    Invalid("unknown-tier", SITE, _set("spec.tier", "fog"), "spec.tier"),
    Invalid("latitude-out-of-range", SITE, _set("spec.location.lat", 91), "spec.location.lat"),
    Invalid("negative-cost", SITE, _set("spec.costPerCpuHour", -0.1), "spec.costPerCpuHour"),
    Invalid("validity-end-before-start", SLA, _set("spec.validity.end", "2025-01-01T00:00:00Z"), "spec.validity.end"),
    Invalid("validity-without-timezone", SLA, _set("spec.validity.start", "2026-01-01T00:00:00"),
            "spec.validity.start"),
    Invalid("thresholds-not-increasing-for-lt", SLA, _set("spec.objectives.0.thresholds.mild", 5),
            "spec.objectives[0].thresholds"),
    Invalid("thresholds-not-decreasing-for-ge", SLA, _set("spec.objectives.1.comparator", "ge"),
            "spec.objectives[1].thresholds"),
    Invalid("no-threshold", SLA, _set("spec.objectives.1.thresholds", {}), "spec.objectives[1].thresholds"),
    Invalid("duplicate-objective-names", SLA, _set("spec.objectives.1.name", "latency"), "spec.objectives"),
    Invalid("bad-window", SLA, _set("spec.objectives.0.window", "30 seconds"), "spec.objectives[0].window"),
    # found by bench.fuzz: accepted by the API server, then failing in Prometheus, the ledger or the model
    Invalid("window-with-a-decimal", SLA, _set("spec.objectives.0.window", "1.5m"), "spec.objectives[0].window"),
    Invalid("window-units-out-of-order", SLA, _set("spec.objectives.0.window", "30s1m"), "spec.objectives[0].window"),
    Invalid("zero-window", SLA, _set("spec.objectives.0.window", "0s"), "spec.objectives[0].window"),
    Invalid("window-of-a-year", SLA, _set("spec.objectives.0.window", "8760h"), "spec.objectives[0].window"),
    Invalid("threshold-beyond-the-ledger", SLA, _set("spec.objectives.0.thresholds.catastrophic", 1e300),
            "spec.objectives[0].thresholds.catastrophic"),
    Invalid("validity-before-1970", SLA, _set("spec.validity.start", "1969-12-31T23:59:59Z"), "spec.validity.start"),
    Invalid("cpu-exponent-that-stalled-the-api-server", VIDEO, _set("spec.resources.cpu", "1e99999999999"), "spec.resources.cpu"),
    Invalid("cost-that-overflows-the-objective", SITE, _set("spec.costPerCpuHour", 1e308), "spec.costPerCpuHour"),
    Invalid("idle-power-that-overflows-the-objective", SITE, _set("spec.power.idleWatts", 1e308),
            "spec.power.idleWatts"),
    Invalid("annotations-beyond-a-pods", VIDEO, _set("spec.template.metadata.annotations", {"a": "x" * 262144}),
            "spec.template.metadata.annotations"),
    Invalid("annotation-beyond-etcd", VIDEO, _set("spec.template.metadata.annotations", {"a": "x" * 2_000_000}),
            "spec.template.metadata.annotations"),
    Invalid("label-value-not-a-pods", VIDEO, _set("spec.template.metadata.labels", {"app": "càmera"}),
            "spec.template.metadata.labels.app"),
    Invalid("consumer-looks-like-an-email", SLA, _set("spec.consumer", "Jane.Doe@example.org"), "spec.consumer"),
    Invalid("no-objectives", SLA, _set("spec.objectives", []), "spec.objectives"),
    Invalid("unknown-breach-type", SLA, _set("spec.objectives.0.breachType", "panic"), "spec.objectives[0].breachType"),
    Invalid("elasticity-min-above-max", SLA, _set("spec.elasticity", {"vertical": {"minCpu": "2", "maxCpu": "500m"}}),
            "spec.elasticity.vertical.minCpu"),
    Invalid("elasticity-min-above-max-as-integers", SLA, _set("spec.elasticity", {"vertical": {"minCpu": 3, "maxCpu": 2}}),
            "spec.elasticity.vertical.minCpu"),
    Invalid("elasticity-low-use-above-high", SLA, _set("spec.elasticity", {
        "cpuUse": {"high": 0.4}, "horizontal": {"maxReplicas": 3}}), "spec.elasticity.cpuUse.low"),
    Invalid("elasticity-without-a-way-to-scale", SLA, _set("spec.elasticity", {"quietSeconds": 30}), "spec.elasticity"),
    Invalid("elasticity-fewer-max-than-min-replicas", SLA, _set("spec.elasticity", {
        "horizontal": {"minReplicas": 3, "maxReplicas": 2}}), "spec.elasticity.horizontal.minReplicas"),
]


def _drop(*keys: str) -> Callable[[Doc], None]:
    def apply(d: Doc) -> None:
        for key in keys:
            d["spec"].pop(key, None)

    return apply


@dataclass(frozen=True)
class Valid:
    """A valid variant of a sample (edge cases both pydantic and the API server must accept)."""

    id: str
    sample: str
    mutate: Callable[[Doc], None]

    def doc(self) -> Doc:
        d = copy.deepcopy(samples()[self.sample])
        self.mutate(d)
        return d



VALID: list[Valid] = [
    Valid("single-cell-integer-share", BUS, _set("spec.users.cells", [{"cell": "cell-sants-1", "share": 1}])),
    Valid("shares-within-tolerance", BUS, _set("spec.users.cells", [
        {"cell": f"cell-x-{i}", "share": 0.3333} for i in range(3)])),
    Valid("users-from-a-metric-only", BUS, _set("spec.users", {"fromMetric": {
        "query": 'sum by (cell) (edgeorch_sim_cell_users{app="bus-tracking"})'}})),
    Valid("cells-until-the-metric-gives-users", BUS, _set("spec.users.fromMetric", {
        "query": "sum by (radio_cell) (rate(requests_total[1m]))", "cellLabel": "radio_cell", "smoothingSeconds": 0,
        "minShare": 0, "moveThreshold": 1, "intervalSeconds": 3600})),
    Valid("integer-cpu-and-memory", VIDEO, _set("spec.resources", {"cpu": 2, "memory": 1073741824})),
    Valid("the-largest-quantities", VIDEO, _set("spec.resources", {"cpu": "100k", "memory": "1Pi"})),
    Valid("the-largest-integer-quantities", VIDEO, _set("spec.resources", {"cpu": 100000, "memory": 2**50})),
    Valid("only-required-fields", VIDEO, _drop("placement", "migration", "priority")),
    Valid("scaled-to-zero", VIDEO, _set("spec.replicas", 0)),
    Valid("a-surge-only-strategy", VIDEO, _set("spec.strategy", {"maxSurge": 1, "maxUnavailable": 0})),
    Valid("a-percent-strategy", VIDEO, _set("spec.strategy", {"maxSurge": "50%", "maxUnavailable": "10%"})),
    Valid("any-tier-with-a-preference", VIDEO, _set("spec.placement", {"preferTier": "cloud"})),
    Valid("no-service", VIDEO, _set("spec.service", {"enabled": False})),
    Valid("a-named-headless-service", VIDEO, _set("spec.service", {"name": "video", "headless": True, "ports": [
        {"name": "rtsp", "port": 554, "protocol": "TCP"}, {"name": "rtp", "port": 554, "protocol": "UDP"}]})),
    Valid("a-single-service-port-without-a-name", VIDEO, _set("spec.service", {"ports": [{"port": 80, "targetPort": 8080}]})),
    Valid("a-single-threshold", SLA, _set("spec.objectives.1.thresholds", {"severe": 5})),
    Valid("no-penalties-no-evaluation", SLA, _drop("penalties", "evaluation")),
    Valid("site-with-node-selector", SITE, _set("spec.nodeSelector", {"pool": "mec"})),
    Valid("cordoned-site", SITE, _set("spec.cordoned", True)),
    Valid("annotations-as-large-as-a-pods", VIDEO, _set("spec.template.metadata.annotations", {"a": "x" * 262143})),
    Valid("windows-in-prometheus-units", SLA, _set("spec.objectives.0.window", "1h30m15s500ms")),
    Valid("a-window-of-a-day", SLA, _set("spec.objectives.0.window", "24h")),
    Valid("breach-types-and-elasticity", SLA, _set("spec.elasticity", {
        "vertical": {"stepPercent": 10, "minCpu": "250m", "maxCpu": 1}, "horizontal": {"maxReplicas": 4}})),
    Valid("an-ignored-objective", SLA, _set("spec.objectives.1.breachType", "ignore")),
    Valid("thresholds-at-the-ledger-bound", SLA, _set("spec.objectives.0.thresholds", {"warning": -1e12, "mild": 1e12})),
    Valid("the-largest-site-numbers", SITE, _set("spec", {
        **samples()[SITE]["spec"], "costPerCpuHour": 1e4, "bandwidthMbps": 1e8,
        "power": {"idleWatts": 1e7, "wattsPerCpu": 1e4}})),
]


def _unindexed(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


def loc_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location spelled like the API server (`spec.objectives[0].thresholds`)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def pydantic_names_field(err: ValidationError, field: str) -> bool:
    """Whether one of `err`'s errors points at `field`, by location or in its message."""
    want = _unindexed(field)
    for e in err.errors():
        where = _unindexed(loc_path(tuple(e["loc"])))
        if where == want or where.startswith(want + ".") or where.startswith(want + "[") or want in e["msg"]:
            return True
    return False
