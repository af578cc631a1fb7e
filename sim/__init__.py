"""edgeorch simulated city: scenarios, fake nodes and the QoS metrics exporter.

Owns: the scenario file format (sites, tiers, zones, radio cells, nodes, latency),
the kwok Node manifests built from a scenario, the Prometheus exporter that
publishes node usage and the cell-to-site latency matrix, and fault injection.

Must not: import orchestrator, Kopf or the chain client, or decide placements.
"""
