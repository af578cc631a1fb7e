"""`edgeorch sim latency | cpu | load | offline | online | heal | faults`: faults in the simulated city;
`edgeorch sim bus | move-bus | groups`: its users who move (sim.mobility)."""

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
    """Inject faults into the simulated city and heal them; start and move its moving users."""


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
@click.option("--workload", required=True, help="The app: NAMESPACE/NAME of its EdgeWorkload.")
@click.option("--cores", type=float, required=True, help="CPU cores the app needs in all (its replicas share them).")
@STATE_DIR
def load(workload: str, cores: float, state_dir: Path | None) -> None:
    """Load an app: its replicas' CPU use (edgeorch_app_cpu_usage_cores) rises."""
    click.echo(_faults(state_dir, lambda f: f.load(workload, cores)))


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


@sim.command()
@click.option("--app", required=True, help="The app whose users ride it (the label `app` of edgeorch_sim_cell_users).")
@click.option("--route", required=True, help="A route of the city's scenario (barcelona: v15, h12).")
@click.option("--users", type=click.FloatRange(min=0, min_open=True), default=40.0, show_default=True)
@click.option("--handover-s", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds at the end of each stop during which its users pass to the next cell.")
@STATE_DIR
def bus(app: str, route: str, users: float, handover_s: float, state_dir: Path | None) -> None:
    """Start a bus of users along a route; prints the group's id (users who move: docs/how-it-works.md)."""
    click.echo(_faults(state_dir, lambda f: f.control.start_bus(app, route, users=users, handover_s=handover_s))["id"])


@sim.command("move-bus")
@click.argument("group_id")
@click.argument("stop", type=click.IntRange(min=0))
@STATE_DIR
def move_bus(group_id: str, stop: int, state_dir: Path | None) -> None:
    """Put bus GROUP_ID at its STOP (0: the first) now."""
    group = _faults(state_dir, lambda f: f.control.move_bus(group_id, stop))
    click.echo(f"{group['id']}: stop {group['stop']}, " + ", ".join(f"{c} {n:g}" for c, n in group["cells_now"].items()))


@sim.command()
@click.option("--remove", "remove", is_flag=True, help="Remove them (all, or the one GROUP_ID).")
@click.argument("group_id", required=False)
@STATE_DIR
def groups(remove: bool, group_id: str | None, state_dir: Path | None) -> None:
    """List the moving user groups (buses, crowds), or remove them."""
    if remove:
        click.echo(" ".join(_faults(state_dir, lambda f: f.control.remove_groups(group_id))) or "no groups")
        return
    for g in _faults(state_dir, lambda f: f.control.groups()):
        if group_id in (None, g["id"]):
            where = ", ".join(f"{c} {n:g}" for c, n in g["cells_now"].items()) or "nobody yet"
            route = f" on route {g['route']}" if g.get("route") else ""
            click.echo(f"{g['id']}: {g['kind']} of {g['app']}{route}: {where}")
