"""`edgeorch dashboard`: serve the live city map (devstack.dashboard) until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click


def _fail(message: str) -> None:
    click.echo(f"edgeorch: error: {message}", err=True)
    sys.exit(2)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8470, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one; the URL is printed).")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="The local stack whose URLs to use (default: $EDGEORCH_STATE_DIR or ~/.local/state/edgeorch/stack).")
@click.option("--kubeconfig", type=click.Path(path_type=Path), default=None,
              help="kubeconfig (default: $KUBECONFIG, else the local stack's).")
@click.option("--prometheus-url", default=None, help="Prometheus (default: $EDGEORCH_PROMETHEUS_URL, else the stack's).")
@click.option("--rpc-url", default=None, help="The chain's JSON-RPC URL (default: $EDGEORCH_CHAIN_URL, else the stack's).")
@click.option("--exporter-url", default=None,
              help="The simulator's control API, to show injected faults (default: the local stack's, if any).")
def dashboard(host: str, port: int, state_dir: Path | None, kubeconfig: Path | None, prometheus_url: str | None,
              rpc_url: str | None, exporter_url: str | None) -> None:
    """Serve a live map of the city: sites, cells, each workload's replicas and the cells they serve,
    link latency as colour, faults and breaches as they happen, and the chain's records."""
    from devstack.dashboard.server import serve
    from devstack.localstack import Stack

    stack = Stack(state_dir)
    state = stack.load()
    env = os.environ
    kube = kubeconfig or (Path(env["KUBECONFIG"]) if env.get("KUBECONFIG") else None) \
        or (Path(state.kubeconfig) if state else None)
    prom = prometheus_url or env.get("EDGEORCH_PROMETHEUS_URL") or (state.prometheus_url if state else None)
    if kube is None or prom is None:
        _fail("no cluster: start one with `edgeorch cluster up`, or give --kubeconfig and --prometheus-url")
        return
    try:
        asyncio.run(serve(
            host=host, port=port, kubeconfig=kube, prometheus_url=prom,
            chain_url=rpc_url or env.get("EDGEORCH_CHAIN_URL") or (state.chain_url if state else None),
            state_dir=stack.dir, exporter_url=exporter_url or (state.exporter_url if state else None),
        ))
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc}")
    except KeyboardInterrupt:
        pass
