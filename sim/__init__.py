"""edgeorch simulated city: scenarios, fake nodes and the QoS metrics exporter.

Owns: the scenario file format (sites, tiers, zones, radio cells, nodes, latency),
the kwok Node manifests built from a scenario, the Prometheus exporter that
publishes node usage and the cell-to-site latency matrix, and fault injection.

Modules:
  scenario  the City models and `load_scenario(name_or_path)`; built-ins in sim/scenarios/*.yaml
            (barcelona, city-500, mini); cell-to-site latency and bandwidth matrices.
  nodes     pure builders: kwok fake Node manifests, EdgeSite resources, offline/ready patches.
  faults    the exporter's mutable state: injected faults (latency, cpu, offline) and workload placements.
  qos       pure QoS model: link latency/bandwidth, node usage, synthetic request latency.
  exporter  `python -m sim.exporter`: Prometheus /metrics plus the HTTP control API (aiohttp).
  control   clients of the control API: ExporterControl (async) and ExporterControlSync.

The simulator never talks to the Kubernetes API: the orchestrator applies what it builds.

Must not: import orchestrator, Kopf or the chain client, or decide placements.
"""
