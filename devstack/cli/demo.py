"""`edgeorch demo`: the README's main job."""

from __future__ import annotations

import shlex
from pathlib import Path

import click


@click.command()
@click.option("--scenario", default="barcelona", show_default=True, help="The simulated city.")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None, help="The stack's state directory.")
@click.option("--story/--no-story", default=True, show_default=True,
              help="After placing, play the QoS story: fault, breach on chain, offload, recovery, fail-back.")
def demo(scenario: str, state_dir: Path | None, story: bool) -> None:
    """Bring up the stack, run the operator, place the sample apps, show where and why, then degrade the
    busiest edge site and show the SLA breach on chain, the offload and the fail-back."""
    from devstack import demo as main_job
    from devstack.localstack import Stack

    stack = Stack(state_dir)
    main_job.run(stack, scenario, click.echo, qos_story=story)
    dir_arg = f" --state-dir {shlex.quote(str(state_dir))}" if state_dir else ""
    click.echo("\nThe stack and the operator keep running; look around with:")
    click.echo(f'  eval "$(.venv/bin/edgeorch cluster env{dir_arg})"   # KUBECONFIG, URLs, the pinned kubectl')
    click.echo("  kubectl get edgesites,edgeworkloads,pods -A\nStop everything with: .venv/bin/edgeorch cluster down")
