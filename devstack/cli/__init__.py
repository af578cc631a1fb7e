"""The `edgeorch` command. Each sub-command group lives in its own module and is
registered here; heavy imports stay inside the commands so `edgeorch --help` is fast.  A failing
command prints one line with the fix, no traceback (devstack.cli.errors; `--debug` shows it)."""

from __future__ import annotations

import click

from devstack.cli.cluster import cluster
from devstack.cli.dashboard import dashboard
from devstack.cli.demo import demo
from devstack.cli.errors import EdgeorchGroup
from devstack.cli.sim import sim
from devstack.cli.sla import sla


@click.group(cls=EdgeorchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgeorch")
@click.option("--debug", is_flag=True, envvar="EDGEORCH_DEBUG",
              help="On an error, show the Python traceback (else one line says what is wrong and the fix).")
def main(debug: bool) -> None:
    """edgeorch: edge/5G offloading orchestrator."""


main.add_command(cluster)
main.add_command(demo)
main.add_command(sla)
main.add_command(sim)
main.add_command(dashboard)
