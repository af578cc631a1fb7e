"""`edgeorch demo`: the README's main job."""

from __future__ import annotations

import click


@click.command()
def demo() -> None:
    """Bring up the local stack with the default city and show what runs."""
