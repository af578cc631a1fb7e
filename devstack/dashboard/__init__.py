"""`edgeorch dashboard`: a live map of the city in one web page, for developers and demos.

Owns: reading the cluster (EdgeSites, RadioCells, EdgeWorkloads, SLAs, Events), Prometheus' link
latency, the chain's records and the simulator's faults (`collect`); turning them into the JSON the
page draws (`state`, pure); serving the page and that JSON (`server`, aiohttp); and the page itself
(`page.html`: SVG drawn from lat/lon, no map tiles, no CDN, so it works with no internet).

Must not: write to any of those sources (it only reads), or be needed by the operator.
"""
