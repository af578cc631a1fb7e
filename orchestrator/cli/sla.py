"""`edgeorch sla show | history | verify` (filled in by the ledger work)."""

from __future__ import annotations

import click


@click.group()
def sla() -> None:
    """Inspect SLA agreements and breaches on the ledger."""
