"""Small hand-made and random instances shared by the placement tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from placement import Instance, Node, Site, Workload

SITES = (Site("fe1", "far-edge", "es-bcn"), Site("mec1", "edge", "es-bcn"), Site("cloud1", "cloud", "es-mad"))
LATENCY = {
    "c1": {"fe1": 1.0, "mec1": 5.0, "cloud1": 30.0},
    "c2": {"fe1": 9.0, "mec1": 4.0, "cloud1": 30.0},
}
BANDWIDTH = {c: {"fe1": 1000.0, "mec1": 4000.0, "cloud1": 300.0} for c in LATENCY}


def node(name: str, site: str, cpu_m: int = 4000, memory_mb: int = 8192, **kw: Any) -> Node:
    s = next(x for x in SITES if x.name == site)
    return Node(name, site, s.tier, s.zone, cpu_m, memory_mb, **kw)


def small(workloads: list[Workload], nodes: list[Node] | None = None, **kw: Any) -> Instance:
    """Three sites (far-edge and MEC in es-bcn, cloud in es-mad), two cells."""
    if nodes is None:
        nodes = [node("fe1-a", "fe1", 2000, 4096, cost_per_cpu_hour=0.1),
                 node("mec1-a", "mec1", 8000, 16384, cost_per_cpu_hour=0.05),
                 node("cloud1-a", "cloud1", 64000, 262144, cost_per_cpu_hour=0.02)]
    return Instance(tuple(nodes), SITES, tuple(workloads), LATENCY, BANDWIDTH, **kw)


@st.composite
def instances(draw: st.DrawFn, max_workloads: int = 5, max_nodes: int = 5, max_replicas: int = 3) -> Instance:
    """Random valid instances with every kind of constraint, small enough to solve exactly."""
    n_sites = draw(st.integers(1, 4))
    tiers = ("far-edge", "edge", "cloud")
    zones = ("z1", "z2")
    sites = [Site(f"s{i}", draw(st.sampled_from(tiers)), draw(st.sampled_from(zones))) for i in range(n_sites)]
    n_cells = draw(st.integers(1, 3))
    ms = st.floats(0.5, 40.0, allow_nan=False).map(lambda x: round(x, 2))
    latency = {f"c{c}": {s.name: draw(ms) for s in sites} for c in range(n_cells)}
    bandwidth = {f"c{c}": {s.name: draw(st.sampled_from((100.0, 500.0, 1000.0))) for s in sites}
                 for c in range(n_cells)}
    nodes = []
    for i in range(draw(st.integers(1, max_nodes))):
        s = draw(st.sampled_from(sites))
        cpu = draw(st.sampled_from((1000, 2000, 4000)))
        nodes.append(Node(
            f"n{i}", s.name, s.tier, s.zone, cpu, draw(st.sampled_from((2048, 4096, 8192))),
            gpu=draw(st.sampled_from((0, 0, 1))), used_cpu_m=draw(st.sampled_from((0, 0, 500))),
            pods=draw(st.sampled_from((None, None, None, 1, 2, 3))), used_pods=draw(st.sampled_from((0, 0, 1))),
            taints=draw(st.sampled_from((frozenset(), frozenset(), frozenset({"gpu"})))),
            cost_per_cpu_hour=draw(st.sampled_from((0.02, 0.05, 0.1))),
            idle_power_w=draw(st.sampled_from((0.0, 50.0))), power_per_cpu_w=5.0,
        ))
    workloads = []
    node_names = [n.name for n in nodes]
    for i in range(draw(st.integers(1, max_workloads))):
        replicas = draw(st.integers(1, max_replicas))
        k = draw(st.integers(1, n_cells))
        cells = {f"c{c}": 1.0 / k for c in range(k)}
        cells[f"c{k - 1}"] = 1.0 - sum(1.0 / k for _ in range(k - 1))
        current = tuple(draw(st.lists(st.sampled_from(node_names), max_size=replicas)))
        workloads.append(Workload(
            f"w{i}", replicas, draw(st.sampled_from((250, 500, 1000, 1500))),
            draw(st.sampled_from((256, 1024, 2048))), gpu=draw(st.sampled_from((0, 0, 0, 1))), cells=cells,
            max_latency_ms=draw(st.one_of(st.none(), st.sampled_from((5.0, 10.0, 20.0)))),
            min_bandwidth_mbps=draw(st.one_of(st.none(), st.just(400.0))),
            allowed_zones=draw(st.one_of(st.none(), st.just(frozenset({"z1"})))),
            allowed_tiers=draw(st.one_of(st.none(), st.just(frozenset({"far-edge", "edge"})))),
            prefer_tier=draw(st.sampled_from((None, None, "far-edge", "edge", "cloud"))),
            max_per_site=draw(st.one_of(st.none(), st.integers(1, 2))),
            max_per_node=draw(st.one_of(st.none(), st.just(1))),
            priority=draw(st.integers(0, 2)),
            tolerations=draw(st.sampled_from((frozenset(), frozenset({"gpu"})))),
            current=current,
            avoid_nodes=frozenset(draw(st.lists(st.sampled_from(node_names), max_size=1))),
            allowed_nodes=draw(st.one_of(st.none(), st.frozensets(st.sampled_from(node_names), max_size=3))),
        ))
    excluded = frozenset(draw(st.lists(st.sampled_from([s.name for s in sites]), max_size=1)))
    penalty = {sites[0].name: draw(st.sampled_from((0.0, 3.0)))}
    return Instance(tuple(nodes), tuple(sites), tuple(workloads), latency, bandwidth, excluded, penalty)
