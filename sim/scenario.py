"""The simulated city: sites (far-edge, edge/MEC, cloud), radio cells and the links between them.

A scenario is a YAML file validated by the pydantic models below (frozen, unknown keys rejected).
Built-in scenarios live in `sim/scenarios/<name>.yaml`; `load_scenario` accepts such a name or a path.

Latency from a cell to a site is a round-trip time in milliseconds, derived from geography and tier:

    ms = base_ms + per_km_ms * distance_km + other_district_ms (if the districts differ) + jitter

where `jitter` is a deterministic pseudo-random value in [0, jitter_ms) seeded by
`latency.seed`, the cell and the site, and the result is clamped to [min_ms, max_ms] of the tier.
Defaults: far-edge ~1-3 ms near its own cells, edge/MEC ~3-8 ms, cloud ~20-40 ms.
Any pair can be fixed explicitly with `latency.overrides: {cell: {site: ms}}`.

Link bandwidth from a cell to a site is min(cell.capacity_mbps, site.bandwidth_mbps), overridable with
`bandwidth_overrides: {cell: {site: mbps}}`.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Tier = Literal["far-edge", "edge", "cloud"]
TIERS: tuple[Tier, ...] = get_args(Tier)

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Name = Annotated[str, Field(min_length=1, max_length=57, pattern=DNS_LABEL)]
"""A DNS label short enough to take a `-nNNN` node suffix and stay a valid node name."""
Label = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]


class ScenarioError(ValueError):
    """A scenario that cannot be found or does not validate; the message names the offending field."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ZoneSpec(_Model):
    """A data-sovereignty zone (e.g. es-bcn); it is also the Kubernetes region of the sites in it."""

    name: Label
    description: str = ""


class SiteSpec(_Model):
    """One compute location: a street cabinet (far-edge), a MEC site (edge) or a data centre (cloud)."""

    name: Name
    tier: Tier
    zone: Label
    district: Label
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    nodes: int = Field(ge=1, le=999)
    node_cpu_m: int = Field(gt=0, description="Allocatable CPU of each node in millicores.")
    node_memory_mb: int = Field(gt=0, description="Allocatable memory of each node in MiB.")
    node_gpu: int = Field(default=0, ge=0)
    cost_per_cpu_hour: float = Field(ge=0)
    idle_power_w: float = Field(ge=0)
    power_per_cpu_w: float = Field(ge=0)
    bandwidth_mbps: float = Field(gt=0, description="Backhaul bandwidth of the site in Mbit/s.")
    instance_type: Label | None = Field(default=None, description="Default: <tier>-<cores>c-<GiB>g[-<gpu>gpu].")

    @property
    def effective_instance_type(self) -> str:
        if self.instance_type:
            return self.instance_type
        cores = self.node_cpu_m / 1000
        core_text = str(int(cores)) if cores.is_integer() else f"{cores:g}".replace(".", "p")
        gpu = f"-{self.node_gpu}gpu" if self.node_gpu else ""
        return f"{self.tier}-{core_text}c-{self.node_memory_mb // 1024}g{gpu}"

    def node_names(self) -> list[str]:
        """`<site>-n01`, `<site>-n02`, ... (three digits when the site has more than 99 nodes)."""
        width = max(2, len(str(self.nodes)))
        return [f"{self.name}-n{i:0{width}d}" for i in range(1, self.nodes + 1)]


class CellSpec(_Model):
    """A 5G radio cell: where users attach; workloads serve the users of some cells."""

    name: Name
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    district: Label
    capacity_mbps: float = Field(default=2000.0, gt=0, description="Radio capacity of the cell in Mbit/s.")


class StopSpec(_Model):
    """One stop of a route: the cell a group of users is in, and for how long."""

    cell: Name
    dwell_s: float = Field(gt=0, le=86400, description="Seconds the group stays in this cell.")


class RouteSpec(_Model):
    """A route through the city (a bus line): the cells its users pass, in order, with dwell times."""

    name: Label
    description: str = ""
    stops: list[StopSpec] = Field(min_length=1, max_length=256)
    loop: bool = Field(default=True, description="Start again at the first stop after the last (else stay there).")


class TierLatency(_Model):
    """Parameters of the latency model for sites of one tier (milliseconds, round trip)."""

    base_ms: float = Field(ge=0)
    per_km_ms: float = Field(ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)
    other_district_ms: float = Field(default=0.0, ge=0)
    min_ms: float = Field(default=0.0, ge=0)
    max_ms: float = Field(default=1000.0, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> TierLatency:
        if self.min_ms > self.max_ms:
            raise ValueError(f"min_ms ({self.min_ms}) must not exceed max_ms ({self.max_ms})")
        return self


DEFAULT_TIER_LATENCY: dict[Tier, TierLatency] = {
    "far-edge": TierLatency(base_ms=1.0, per_km_ms=0.5, jitter_ms=0.5, other_district_ms=4.0, min_ms=1.0, max_ms=12.0),
    "edge": TierLatency(base_ms=3.0, per_km_ms=0.3, jitter_ms=1.0, min_ms=3.0, max_ms=8.0),
    "cloud": TierLatency(base_ms=20.0, per_km_ms=0.01, jitter_ms=4.0, min_ms=20.0, max_ms=40.0),
}


class LatencyModel(_Model):
    """How cell-to-site latency is derived; `tiers` entries replace the defaults of those tiers."""

    seed: int = 0
    tiers: dict[Tier, TierLatency] = Field(default_factory=dict)
    overrides: dict[str, dict[str, Annotated[float, Field(ge=0)]]] = Field(default_factory=dict)

    def tier(self, tier: Tier) -> TierLatency:
        return self.tiers.get(tier, DEFAULT_TIER_LATENCY[tier])


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


def _duplicates(names: Iterable[str]) -> list[str]:
    return sorted(n for n, count in Counter(names).items() if count > 1)


class City(_Model):
    """A simulated city: zones, compute sites, radio cells and the latency model between them."""

    name: Label
    description: str = ""
    zones: list[ZoneSpec] = Field(min_length=1)
    sites: list[SiteSpec] = Field(min_length=1)
    cells: list[CellSpec] = Field(min_length=1)
    latency: LatencyModel = Field(default_factory=LatencyModel)
    bandwidth_overrides: dict[str, dict[str, Annotated[float, Field(gt=0)]]] = Field(default_factory=dict)
    routes: list[RouteSpec] = Field(default_factory=list, description="Routes moving users follow (bus lines).")

    @field_validator("zones")
    @classmethod
    def _unique_zones(cls, zones: list[ZoneSpec]) -> list[ZoneSpec]:
        if dup := _duplicates(z.name for z in zones):
            raise ValueError(f"duplicate zone name(s): {', '.join(dup)}")
        return zones

    @field_validator("sites")
    @classmethod
    def _unique_sites(cls, sites: list[SiteSpec]) -> list[SiteSpec]:
        if dup := _duplicates(s.name for s in sites):
            raise ValueError(f"duplicate site name(s): {', '.join(dup)}")
        return sites

    @field_validator("cells")
    @classmethod
    def _unique_cells(cls, cells: list[CellSpec]) -> list[CellSpec]:
        if dup := _duplicates(c.name for c in cells):
            raise ValueError(f"duplicate cell name(s): {', '.join(dup)}")
        return cells

    @model_validator(mode="after")
    def _references(self) -> City:
        zones = {z.name for z in self.zones}
        for i, site in enumerate(self.sites):
            if site.zone not in zones:
                raise ValueError(f"sites[{i}].zone: {site.zone!r} is not one of the city's zones {sorted(zones)}")
        site_names = {s.name for s in self.sites}
        if clash := site_names & {c.name for c in self.cells}:
            raise ValueError(f"cells: name(s) {sorted(clash)} also used by sites")
        nodes = [n for s in self.sites for n in s.node_names()]
        if dup := _duplicates(nodes):
            raise ValueError(f"sites: node name(s) {dup[:5]} generated twice; rename the sites")
        cells = {c.name for c in self.cells}
        if dup := _duplicates(r.name for r in self.routes):
            raise ValueError(f"duplicate route name(s): {', '.join(dup)}")
        for i, route in enumerate(self.routes):
            for j, stop in enumerate(route.stops):
                if stop.cell not in cells:
                    raise ValueError(f"routes[{i}].stops[{j}].cell: unknown cell {stop.cell!r}")
        for field, table in (("latency.overrides", self.latency.overrides),
                             ("bandwidth_overrides", self.bandwidth_overrides)):
            for cell, row in table.items():
                if cell not in {c.name for c in self.cells}:
                    raise ValueError(f"{field}: unknown cell {cell!r}")
                for target in row:
                    if target not in site_names:
                        raise ValueError(f"{field}.{cell}: unknown site {target!r}")
        return self

    # -- look-ups ---------------------------------------------------------------------------------

    def site(self, name: str) -> SiteSpec:
        for s in self.sites:
            if s.name == name:
                return s
        raise KeyError(f"no site {name!r} in city {self.name!r}")

    def cell(self, name: str) -> CellSpec:
        for c in self.cells:
            if c.name == name:
                return c
        raise KeyError(f"no cell {name!r} in city {self.name!r}")

    def route(self, name: str) -> RouteSpec:
        for r in self.routes:
            if r.name == name:
                return r
        raise KeyError(f"no route {name!r} in city {self.name!r}")

    def sites_of_tier(self, tier: Tier) -> list[SiteSpec]:
        return [s for s in self.sites if s.tier == tier]

    def node_names(self) -> list[str]:
        """Every node of the city, site by site, in scenario order."""
        return [n for s in self.sites for n in s.node_names()]

    def node_site(self) -> dict[str, str]:
        """node name -> site name."""
        return {n: s.name for s in self.sites for n in s.node_names()}

    # -- links ------------------------------------------------------------------------------------

    def link_latency_ms(self, cell: CellSpec, site: SiteSpec) -> float:
        """Round-trip latency from `cell` to `site` in ms (override, else the geographic model)."""
        fixed = self.latency.overrides.get(cell.name, {}).get(site.name)
        if fixed is not None:
            return fixed
        p = self.latency.tier(site.tier)
        ms = p.base_ms + p.per_km_ms * distance_km(cell.lat, cell.lon, site.lat, site.lon)
        if cell.district != site.district:
            ms += p.other_district_ms
        ms += random.Random(f"{self.latency.seed}:{cell.name}:{site.name}").random() * p.jitter_ms
        return round(min(p.max_ms, max(p.min_ms, ms)), 3)

    def latency_ms(self) -> dict[str, dict[str, float]]:
        """cell -> site -> round-trip latency in milliseconds."""
        return {c.name: {s.name: self.link_latency_ms(c, s) for s in self.sites} for c in self.cells}

    def bandwidth_mbps(self) -> dict[str, dict[str, float]]:
        """cell -> site -> link bandwidth in Mbit/s."""
        out: dict[str, dict[str, float]] = {}
        for c in self.cells:
            fixed = self.bandwidth_overrides.get(c.name, {})
            out[c.name] = {s.name: fixed.get(s.name, min(c.capacity_mbps, s.bandwidth_mbps)) for s in self.sites}
        return out


# -- loading ---------------------------------------------------------------------------------------

DEFAULT_SCENARIO = "barcelona"
_PACKAGE_DIR = "scenarios"


def _builtin_dir() -> Path:
    return Path(str(resources.files("sim") / _PACKAGE_DIR))


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios (barcelona, city-500, mini)."""
    return sorted(p.stem for p in _builtin_dir().glob("*.yaml"))


def describe_validation_error(exc: ValidationError) -> str:
    """One line per error, each starting with the field path (e.g. `sites[2].tier: ...`)."""
    lines = []
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(lines)


def parse_scenario(data: Any, source: str = "<data>") -> City:
    """Validate already-parsed YAML/JSON data into a City; errors raise ScenarioError naming the field."""
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario {source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return City.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"scenario {source}: {describe_validation_error(exc)}") from exc


def load_scenario(name_or_path: str | Path = DEFAULT_SCENARIO) -> City:
    """A built-in scenario by name (see `list_scenarios()`) or a scenario YAML file by path."""
    text_name = str(name_or_path)
    path = _builtin_dir() / f"{text_name}.yaml"
    if isinstance(name_or_path, Path) or not path.is_file():
        path = Path(name_or_path)
        if not path.is_file():
            raise ScenarioError(
                f"scenario {text_name!r}: neither a built-in ({', '.join(list_scenarios())}) nor a file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario {path}: invalid YAML: {exc}") from exc
    return parse_scenario(data, str(path))
