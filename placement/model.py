"""The placement instance and result: immutable, validated value objects."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

TIERS: tuple[str, ...] = ("far-edge", "edge", "cloud")

_EMPTY: Mapping[str, float] = MappingProxyType({})


class InvalidInstance(ValueError):
    """Raised for input that cannot describe a placement problem; `.field` names the culprit."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field = field_path


def _freeze_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(value, MappingProxyType):
        return value
    return MappingProxyType(dict(value))


def _freeze_nested(value: Mapping[str, Mapping[str, float]]) -> Mapping[str, Mapping[str, float]]:
    return MappingProxyType({k: _freeze_map(v) for k, v in value.items()})


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True)
class Site:
    """A place with one latency figure per radio cell: a far-edge cabinet, a MEC, a cloud region."""

    name: str
    tier: str
    zone: str


@dataclass(frozen=True, slots=True)
class Node:
    """A machine at a site. `used_*` is load NOT managed by the instance's workloads (metrics, and
    workloads placed earlier). `pods` is the most Pods the node runs (Kubernetes' allocatable
    `pods`, 110 by default; None: no limit); every replica is one Pod."""

    name: str
    site: str
    tier: str
    zone: str
    cpu_m: int
    memory_mb: int
    gpu: int = 0
    used_cpu_m: int = 0
    used_memory_mb: int = 0
    used_gpu: int = 0
    pods: int | None = None
    used_pods: int = 0
    taints: frozenset[str] = frozenset()
    cost_per_cpu_hour: float = 0.0
    idle_power_w: float = 0.0
    power_per_cpu_w: float = 0.0

    def __post_init__(self) -> None:
        _set(self, "taints", frozenset(self.taints))

    @property
    def free_cpu_m(self) -> int:
        return max(0, self.cpu_m - self.used_cpu_m)

    @property
    def free_memory_mb(self) -> int:
        return max(0, self.memory_mb - self.used_memory_mb)

    @property
    def free_gpu(self) -> int:
        return max(0, self.gpu - self.used_gpu)

    def free_pods(self, unlimited: int) -> int:
        """Pods that still fit; `unlimited` when the node has no limit."""
        return unlimited if self.pods is None else max(0, self.pods - self.used_pods)


@dataclass(frozen=True, slots=True)
class Workload:
    """A replicated service and where its users are (cell -> traffic share)."""

    name: str
    replicas: int
    cpu_m: int
    memory_mb: int
    gpu: int = 0
    cells: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    max_latency_ms: float | None = None
    min_bandwidth_mbps: float | None = None
    allowed_zones: frozenset[str] | None = None
    allowed_tiers: frozenset[str] | None = None
    prefer_tier: str | None = None  # a soft preference: each replica elsewhere costs Weights.preference
    max_per_site: int | None = None
    max_per_node: int | None = None
    priority: int = 0
    tolerations: frozenset[str] = frozenset()
    current: tuple[str, ...] = ()
    avoid_nodes: frozenset[str] = frozenset()  # nodes where its replicas could not run (left for a while)
    allowed_nodes: frozenset[str] | None = None  # nodes its Pod template admits (nodeSelector, node affinity)

    def __post_init__(self) -> None:
        _set(self, "cells", _freeze_map(self.cells))
        _set(self, "avoid_nodes", frozenset(self.avoid_nodes))
        if self.allowed_nodes is not None:
            _set(self, "allowed_nodes", frozenset(self.allowed_nodes))
        if self.allowed_zones is not None:
            _set(self, "allowed_zones", frozenset(self.allowed_zones))
        if self.allowed_tiers is not None:
            _set(self, "allowed_tiers", frozenset(self.allowed_tiers))
        _set(self, "tolerations", frozenset(self.tolerations))
        _set(self, "current", tuple(self.current))


@dataclass(frozen=True, slots=True)
class Instance:
    """Everything the placement core needs; validated on construction (raises InvalidInstance)."""

    nodes: tuple[Node, ...]
    sites: tuple[Site, ...]
    workloads: tuple[Workload, ...]
    latency_ms: Mapping[str, Mapping[str, float]]
    bandwidth_mbps: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({}))
    excluded_sites: frozenset[str] = frozenset()
    site_penalty_ms: Mapping[str, float] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        _set(self, "nodes", tuple(self.nodes))
        _set(self, "sites", tuple(self.sites))
        _set(self, "workloads", tuple(self.workloads))
        _set(self, "latency_ms", _freeze_nested(self.latency_ms))
        _set(self, "bandwidth_mbps", _freeze_nested(self.bandwidth_mbps))
        _set(self, "excluded_sites", frozenset(self.excluded_sites))
        _set(self, "site_penalty_ms", _freeze_map(self.site_penalty_ms))
        self.validate()

    def validate(self) -> None:
        """Raise InvalidInstance naming the first bad field."""
        from placement.validation import validate_instance

        validate_instance(self)

    def replace_workloads(self, workloads: Sequence[Workload]) -> Instance:
        return Instance(
            self.nodes, self.sites, tuple(workloads), self.latency_ms, self.bandwidth_mbps,
            self.excluded_sites, self.site_penalty_ms,
        )


@dataclass(frozen=True, slots=True)
class Weights:
    """Objective weights. Units: latency per replica-ms, cost per $/h, migration per moved replica,
    active_nodes per powered node, energy per watt, balance per unit of max CPU utilisation."""

    latency: float = 1.0
    cost: float = 10.0
    migration: float = 2.0
    active_nodes: float = 1.0
    energy: float = 0.0
    balance: float = 0.0
    preference: float = 10.0  # per replica not on its workload's preferred tier (10 ms of latency)

    def __post_init__(self) -> None:
        for name in ("latency", "cost", "migration", "active_nodes", "energy", "balance", "preference"):
            value = getattr(self, name)
            if not (value >= 0.0 and value < float("inf")):
                raise InvalidInstance(f"weights.{name}", f"must be a finite number >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class SolverConfig:
    """How to solve. `deterministic` makes CP-SAT stop on a deterministic-time budget derived from
    `time_limit_s` (same input + seed -> same result) unless the wall-time limit is reached first
    on a slow or loaded machine: then the wall-clock safety nets (the LP's pricing rounds, the swap
    passes, the neighbourhood search, stages skipped when the baselines ran slower than estimated)
    decide how far the search got, and a wall-limited run cannot be reproducible; `wall_limit_s`
    (default `time_limit_s`) moves the safety nets alone, so a generous one gives the reproducible
    result of `time_limit_s`'s deterministic budget. The wall-time limit holds within 10 % + 50 ms: a solve returns by
    1.1 x `time_limit_s` + 0.05 s (stages that cannot finish in what is left do not start); workloads
    of several priority bands are solved band by band, each band's solve keeping it for its share, at
    least Tuning.band_min_s (placement.priority)."""

    time_limit_s: float = 2.0
    seed: int = 0
    workers: int = 2
    solver: str = "cpsat"
    deterministic: bool = True
    incremental: bool = True
    prices: Prices | None = None  # an earlier solve's LP prices: a re-placement's bound starts from them
    priority_band: int = 100  # priorities // this = a band; higher bands are placed first (placement.priority)
    # the wall-clock limit, if not time_limit_s: the deterministic budgets (what decides the result) come
    # from time_limit_s, the wall-clock safety nets from this; a generous one makes a run reproducible on
    # a busy machine (the result of a fixed deterministic budget), at the price of the wall time it takes
    wall_limit_s: float | None = None


class Status(enum.Enum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Prices:
    """A solve's LP prices (duals) of the capacity rows, per node group; a group is named by what
    makes it one across instances: (site, price per CPU, opening cost, taints). A later
    re-placement's proven bound starts from them (`SolverConfig.prices`): weak duality makes the
    bound valid whatever the prices, close ones only make it tight."""

    groups: tuple[tuple[tuple[object, ...], tuple[float, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class SolveResult:
    """Always complete. `assignment` maps every placed workload to one node per replica."""

    status: Status
    assignment: Mapping[str, tuple[str, ...]]
    predicted_latency_ms: Mapping[str, float]
    objective: float
    bound: float
    gap: float
    breakdown: Mapping[str, float]
    wall_s: float
    unplaced: Mapping[str, str]
    displaced: tuple[str, ...]
    migrations: int
    solver: str
    prices: Prices | None = None  # the LP's capacity prices, where an LP ran (see Prices)
