"""The `edgeorch` command. Each sub-command group lives in its own module and is
registered here; heavy imports stay inside the commands so `edgeorch --help` is fast."""

from __future__ import annotations

import click

from devstack.cli.cluster import cluster
from devstack.cli.dashboard import dashboard
from devstack.cli.demo import demo
from devstack.cli.sim import sim
from devstack.cli.sla import sla


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgeorch")
def main() -> None:
    """edgeorch: edge/5G offloading orchestrator."""


main.add_command(cluster)
main.add_command(demo)
main.add_command(sla)
main.add_command(sim)
main.add_command(dashboard)
