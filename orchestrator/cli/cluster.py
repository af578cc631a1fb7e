"""`edgeorch cluster up | down | status | env`."""

from __future__ import annotations

import click


@click.group()
def cluster() -> None:
    """The local control plane: Kubernetes with simulated nodes, Prometheus and anvil."""
