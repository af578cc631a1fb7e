"""Faults injected into the simulated city, and where workloads run: the exporter's mutable state.

Faults (JSON bodies of `POST /faults`, discriminated by `kind`):
  {"kind": "latency", "site": S, "add_ms": X [, "cell": C]}  adds X ms to every link to S (or only C -> S)
  {"kind": "cpu", "node": N, "usage_cores": X}               the node's CPU usage becomes X cores
  {"kind": "offline", "site": S}                             the site is down (edgeorch_site_up 0)
  {"kind": "load", "workload": "ns/name", "cpu_cores": X}    the app needs X cores in all, shared by its replicas
Latency faults add up; of several cpu faults on a node (load faults on an app) the latest wins.

Workload placements (JSON body of `PUT /workloads/{ns}/{name}`):
  {"site": S, "cells": {cell: weight, ...}}  the cells the workload's users come from, with their share of
  requests; empty: the cells of the site's district, else every cell.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.scenario import City, describe_validation_error

T = TypeVar("T", bound=BaseModel)


class FaultError(ValueError):
    """Invalid fault or placement; the message names the offending field."""


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LatencyFault(_Body):
    kind: Literal["latency"]
    site: str = Field(min_length=1)
    add_ms: float = Field(ge=0, le=60_000)
    cell: str | None = None


class CpuFault(_Body):
    kind: Literal["cpu"]
    node: str = Field(min_length=1)
    usage_cores: float = Field(ge=0)


class OfflineFault(_Body):
    kind: Literal["offline"]
    site: str = Field(min_length=1)


class LoadFault(_Body):
    """The CPU an app needs (all its replicas together): each replica uses its share."""

    kind: Literal["load"]
    workload: str = Field(min_length=3, pattern=r"^[^/]+/[^/]+$")
    cpu_cores: float = Field(ge=0, le=100_000)


AnyFault = LatencyFault | CpuFault | OfflineFault | LoadFault
Fault = Annotated[AnyFault, Field(discriminator="kind")]
FAULT_KINDS: dict[str, type[AnyFault]] = {
    "latency": LatencyFault, "cpu": CpuFault, "offline": OfflineFault, "load": LoadFault}
APP_IDLE_CPU_CORES = 0.02
"""What an app with no load fault needs in all (cores): it idles."""


class WorkloadPlacement(_Body):
    site: str = Field(min_length=1)
    replicas: int = Field(default=1, ge=1, le=1000)
    cells: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)


def parse_kind(data: Any, kinds: Mapping[str, type[T]]) -> T:
    """The model of `kinds` that the JSON body's `kind` names, validated (FaultError names the bad field)."""
    if not isinstance(data, dict):
        raise FaultError(f"body: expected a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        raise FaultError(f"kind: must be one of {', '.join(kinds)}, got {kind!r}")
    try:
        return kinds[kind].model_validate(data)
    except ValidationError as exc:
        raise FaultError(describe_validation_error(exc)) from exc


def parse_fault(data: Any) -> AnyFault:
    """A fault from its JSON body (FaultError names the bad field); not checked against a city."""
    return parse_kind(data, FAULT_KINDS)


def parse_placement(data: Any) -> WorkloadPlacement:
    """A workload placement from its JSON body (FaultError names the bad field)."""
    if not isinstance(data, dict):
        raise FaultError(f"body: expected a JSON object, got {type(data).__name__}")
    try:
        return WorkloadPlacement.model_validate(data)
    except ValidationError as exc:
        raise FaultError(describe_validation_error(exc)) from exc


@dataclass(frozen=True)
class ActiveFault:
    id: str
    fault: AnyFault

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.fault.model_dump(exclude_none=True)}


@dataclass
class CityState:
    """Active faults and workload placements of one city, validated against it."""

    city: City
    faults: dict[str, ActiveFault] = field(default_factory=dict)
    workloads: dict[str, WorkloadPlacement] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self._sites = {s.name for s in self.city.sites}
        self._cells = {c.name for c in self.city.cells}
        self._node_site = self.city.node_site()

    # -- faults -------------------------------------------------------------------------------------

    def _check_site(self, site: str, where: str = "site") -> None:
        if site not in self._sites:
            raise FaultError(f"{where}: unknown site {site!r} (known: {', '.join(sorted(self._sites))})")

    def _check_cell(self, cell: str, where: str = "cell") -> None:
        if cell not in self._cells:
            raise FaultError(f"{where}: unknown cell {cell!r}")

    def add_fault(self, data: Any) -> ActiveFault:
        """Validate and activate a fault (a JSON body or a model); FaultError names the bad field."""
        fault = data if isinstance(data, AnyFault) else parse_fault(data)
        if isinstance(fault, CpuFault):
            if fault.node not in self._node_site:
                raise FaultError(f"node: unknown node {fault.node!r}")
        elif isinstance(fault, LoadFault):
            pass  # any app: one the simulator does not follow yet gets it once it runs
        else:
            self._check_site(fault.site)
        if isinstance(fault, LatencyFault) and fault.cell is not None:
            self._check_cell(fault.cell)
        active = ActiveFault(f"f{next(self._ids)}", fault)
        self.faults[active.id] = active
        return active

    def heal(self, fault_id: str | None = None) -> list[str]:
        """Remove one fault (KeyError if unknown) or all of them; the ids removed."""
        if fault_id is None:
            ids = list(self.faults)
            self.faults.clear()
            return ids
        if fault_id not in self.faults:
            raise KeyError(fault_id)
        del self.faults[fault_id]
        return [fault_id]

    # -- workloads ----------------------------------------------------------------------------------

    def set_workload(self, key: str, data: Any) -> WorkloadPlacement:
        placement = data if isinstance(data, WorkloadPlacement) else parse_placement(data)
        self._check_site(placement.site)
        for cell in placement.cells:
            self._check_cell(cell, f"cells.{cell}")
        self.workloads[key] = placement
        return placement

    def remove_workload(self, key: str) -> None:
        del self.workloads[key]

    def cell_mix(self, placement: WorkloadPlacement) -> dict[str, float]:
        """The cells a workload's requests come from, with weights (see the module docstring)."""
        if placement.cells:
            return dict(placement.cells)
        district = self.city.site(placement.site).district
        local = [c.name for c in self.city.cells if c.district == district]
        return dict.fromkeys(local or [c.name for c in self.city.cells], 1.0)

    # -- effects ------------------------------------------------------------------------------------

    def site_up(self, site: str) -> bool:
        return not any(isinstance(f.fault, OfflineFault) and f.fault.site == site for f in self.faults.values())

    def added_latency_ms(self, cell: str, site: str) -> float:
        return sum(f.fault.add_ms for f in self.faults.values()
                   if isinstance(f.fault, LatencyFault) and f.fault.site == site
                   and f.fault.cell in (None, cell))

    def app_cpu_cores(self, workload: str) -> float:
        """The CPU one replica of `workload` uses: the app's need (its latest load fault, else idle)
        shared by its replicas."""
        need = APP_IDLE_CPU_CORES
        for f in self.faults.values():
            if isinstance(f.fault, LoadFault) and f.fault.workload == workload:
                need = f.fault.cpu_cores
        placement = self.workloads.get(workload)
        return need / (placement.replicas if placement is not None else 1)

    def cpu_override(self, node: str) -> float | None:
        """The CPU usage forced on `node` by the latest cpu fault, if any."""
        value: float | None = None
        for f in self.faults.values():
            if isinstance(f.fault, CpuFault) and f.fault.node == node:
                value = f.fault.usage_cores
        return value
