"""`edgeorch sim latency | cpu | offline | online | heal | faults`: faults in the simulated city."""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from devstack.cli.errors import STATUS_HINT, UserError

if TYPE_CHECKING:
    from devstack.faults import Faults

T = TypeVar("T")

STATE_DIR = click.option("--state-dir", type=click.Path(path_type=Path), default=None,
                         help="The stack's state directory (default: $EDGEORCH_STATE_DIR or ~/.local/state/edgeorch/stack).")


def _faults(state_dir: Path | None, do: Callable[[Faults], T]) -> T:
    """Run `do` against the stack's exporter; an exporter that does not answer is one line naming it."""
    from devstack.faults import Faults
    from devstack.localstack import Stack

    state = Stack(state_dir).load()
    if state is None:
        raise UserError("no stack", "run `edgeorch cluster up` first")
    try:
        return do(Faults(state.exporter_url, Path(state.kubeconfig), state.scenario))
    except urllib.error.URLError as exc:
        if isinstance(exc, urllib.error.HTTPError):
            raise
        raise UserError(f"the simulator's exporter at {state.exporter_url} does not answer ({exc.reason})",
                        STATUS_HINT) from exc


@click.group()
def sim() -> None:
    """Inject faults into the simulated city and heal them."""


@sim.command()
@click.option("--site", required=True, help="The site whose links get slower.")
@click.option("--add-ms", type=float, required=True, help="Milliseconds added to every cell-to-site round trip.")
@STATE_DIR
def latency(site: str, add_ms: float, state_dir: Path | None) -> None:
    """Raise the latency from every cell to SITE."""
    click.echo(_faults(state_dir, lambda f: f.latency(site, add_ms)))


@sim.command()
@click.option("--node", required=True, help="The node to load.")
@click.option("--cores", type=float, required=True, help="CPU cores in use on it.")
@STATE_DIR
def cpu(node: str, cores: float, state_dir: Path | None) -> None:
    """Saturate a node's CPU (as seen by the metrics)."""
    click.echo(_faults(state_dir, lambda f: f.cpu(node, cores)))


@sim.command()
@click.option("--site", required=True)
@STATE_DIR
def offline(site: str, state_dir: Path | None) -> None:
    """Take a site offline: its metrics say down and its kwok Nodes turn NotReady."""
    click.echo(_faults(state_dir, lambda f: f.offline(site)))


@sim.command()
@click.option("--site", required=True)
@STATE_DIR
def online(site: str, state_dir: Path | None) -> None:
    """Bring an offline site back."""
    click.echo(" ".join(_faults(state_dir, lambda f: f.online(site))))


@sim.command()
@click.argument("fault_id", required=False)
@STATE_DIR
def heal(fault_id: str | None, state_dir: Path | None) -> None:
    """Heal one fault by id, or all of them."""
    click.echo(" ".join(_faults(state_dir, lambda f: f.heal(fault_id))) or "no faults")


@sim.command()
@STATE_DIR
def faults(state_dir: Path | None) -> None:
    """List the active faults."""
    for f in _faults(state_dir, lambda f: f.faults()):
        click.echo(f"{f.get('id')}: " + ", ".join(f"{k}={v}" for k, v in f.items() if k != "id"))
