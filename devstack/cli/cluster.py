"""`edgeorch cluster up | down | status | env`."""

from __future__ import annotations

import contextlib
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from devstack.localstack import Stack

STATE_DIR = click.option(
    "--state-dir", type=click.Path(path_type=Path), default=None,
    help="Where the stack keeps pids, logs, certificates and data "
    "(default: $EDGEORCH_STATE_DIR or ~/.local/state/edgeorch/stack).",
)


def _stack(state_dir: Path | None) -> Stack:
    from devstack.localstack import Stack

    return Stack(state_dir)


def _fail(message: str) -> None:
    click.echo(f"edgeorch: error: {message}", err=True)
    sys.exit(2)


@click.group()
def cluster() -> None:
    """The local control plane: Kubernetes with simulated nodes, Prometheus and anvil."""


@cluster.command()
@click.option("--scenario", default="barcelona", show_default=True,
              help="A built-in city (barcelona, city-500, mini) or a scenario YAML file.")
@click.option("--no-chain", is_flag=True, help="Do not start anvil.")
@STATE_DIR
def up(scenario: str, no_chain: bool, state_dir: Path | None) -> None:
    """Start (or keep) every component; running twice is harmless."""
    from sim.scenario import load_scenario

    load_scenario(scenario)  # a bad name or file is said before anything starts
    stack = _stack(state_dir)
    state = stack.up(scenario, chain=not no_chain, log=lambda m: click.echo(f"  {m}", err=True))
    _print_status(stack)
    click.echo(f"\ntimings: {state.timings}")
    click.echo(f"for your shell:  eval \"$(edgeorch cluster env{_dir_arg(state_dir)})\"")


@cluster.command()
@click.option("--purge", is_flag=True, help="Also delete certificates and the chain's state.")
@STATE_DIR
def down(purge: bool, state_dir: Path | None) -> None:
    """Stop every process the stack started (by pid)."""
    stopped = _stack(state_dir).down(purge=purge)
    click.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@cluster.command()
@STATE_DIR
def status(state_dir: Path | None) -> None:
    """Show each component and the operator: running (pid, where), dead (with the tail of its log),
    stopped or external."""
    stack = _stack(state_dir)
    if stack.load() is None:
        click.echo("no stack (run `edgeorch cluster up`)")
        sys.exit(3)
    if not _print_status(stack):
        sys.exit(1)


@cluster.command()
@STATE_DIR
def env(state_dir: Path | None) -> None:
    """Print `export` lines for KUBECONFIG, the Prometheus URL, the chain URL and the pinned kubectl's PATH."""
    state = _stack(state_dir).load()
    if state is None:
        _fail("no stack: run `edgeorch cluster up` first")
        return
    for key, value in {**state.env(), "EDGEORCH_API_URL": state.api_url}.items():
        click.echo(f"export {key}={shlex.quote(value)}")
    from devstack.localstack import MissingTool
    from devstack.localstack.tools import k8s_bin_dir

    with contextlib.suppress(MissingTool):  # the pinned kubectl first on the PATH, for the README's commands
        click.echo(f'export PATH={shlex.quote(str(k8s_bin_dir()))}:"$PATH"')


def _print_status(stack: Stack) -> bool:
    healthy = True
    state = stack.load()
    if state is not None:
        click.echo(f"mode: {state.mode}   scenario: {state.scenario}   kubeconfig: {state.kubeconfig}")
    for row in stack.status():
        pid = str(row.pid) if row.pid else "-"
        click.echo(f"  {row.name:<24} {row.state:<9} pid {pid:<8} {row.url}".rstrip())
        if row.detail:
            click.echo(f"  {'':<24} {row.detail}")
        if row.state == "dead":
            healthy = False
            click.echo("    " + "\n    ".join(row.log_tail.splitlines()[-10:]))
    return healthy


def _dir_arg(state_dir: Path | None) -> str:
    return f" --state-dir {shlex.quote(str(state_dir))}" if state_dir else ""
