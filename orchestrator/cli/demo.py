"""`edgeorch demo`: the README's main job."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click


@click.command()
@click.option("--scenario", default="barcelona", show_default=True, help="The simulated city.")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None, help="The stack's state directory.")
def demo(scenario: str, state_dir: Path | None) -> None:
    """Bring up the local stack with the default city and show what runs."""
    from orchestrator.kube.sync import node_labels, session
    from orchestrator.localstack import Stack

    stack = Stack(state_dir)
    click.echo(f"edgeorch demo: bringing up the local stack with the {scenario!r} city")
    state = stack.up(scenario, log=lambda m: click.echo(f"  {m}"))
    with session(Path(state.kubeconfig)) as api:
        nodes = node_labels(api, "type=kwok")
    per_site = Counter(
        (labels.get("edgeorch.io/tier", "?"), labels.get("edgeorch.io/site", "?")) for labels in nodes.values()
    )
    click.echo(f"\n{len(nodes)} simulated nodes in {len(per_site)} sites:")
    for (tier, site), count in sorted(per_site.items()):
        click.echo(f"  {tier:<9} {site:<24} {count} nodes")
    click.echo("\ncomponents:")
    for row in stack.status():
        click.echo(f"  {row.name:<24} {row.state:<9} {row.url}")
    click.echo(f"\nup in {state.timings.get('total_s', 0):.1f} s.  Stop with: edgeorch cluster down")
    for key, value in state.env().items():
        click.echo(f"  export {key}={value}")
