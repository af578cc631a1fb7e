"""`edgeorch demo`: the README's main job."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--scenario", default="barcelona", show_default=True, help="The simulated city.")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None, help="The stack's state directory.")
def demo(scenario: str, state_dir: Path | None) -> None:
    """Bring up the stack, run the operator, place the sample apps and show where and why."""
    from orchestrator import demo as story
    from orchestrator.localstack import Stack

    stack = Stack(state_dir)
    state = story.run(stack, scenario, click.echo)
    click.echo("\nThe stack and the operator keep running; look around with:")
    for key, value in state.env().items():
        click.echo(f"  export {key}={value}")
    click.echo("  kubectl get edgesites,edgeworkloads,pods -A\nStop everything with: edgeorch cluster down")
