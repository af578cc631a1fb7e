"""`edgeorch sla show | history | verify`: read the SLA ledger on a JSON-RPC chain (anvil).

The chain is found by --rpc-url (default $EDGEORCH_CHAIN_URL) and the contract through the deployment
file in --state-dir (default $EDGEORCH_STATE_DIR or the local stack's directory) or --address.  An
agreement is named as kubectl names the SLA (`-n NAMESPACE NAME`: its uid is read from Kubernetes,
through --kubeconfig or $KUBECONFIG), by the SLA's uid, or by its 0x agreement id.
These commands only read; they never deploy.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from sla_contracts.ledger import Ledger
    from sla_contracts.model import LedgerEvent

T = TypeVar("T")

RPC_URL = click.option("--rpc-url", default=None, metavar="URL",
                       help="JSON-RPC URL of the chain (default: $EDGEORCH_CHAIN_URL).")
STATE_DIR = click.option("--state-dir", type=click.Path(path_type=Path), default=None,
                         help="Directory of ledger.json, the deployment file "
                         "(default: $EDGEORCH_STATE_DIR or ~/.local/state/edgeorch/stack).")
ADDRESS = click.option("--address", default=None, metavar="0x…",
                       help="Contract address (instead of the deployment file).")
NAMESPACE = click.option("-n", "--namespace", default=None,
                         help="Namespace of the SLA named REF (REF is then its name; default: the "
                         "kubeconfig context's namespace, else default).")
KUBECONFIG = click.option("--kubeconfig", type=click.Path(path_type=Path), default=None,
                          help="kubeconfig to read the SLA from (default: $KUBECONFIG).")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
AGREEMENT_ID = re.compile(r"^0x[0-9a-fA-F]{64}$")


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"edgeorch: error: {message}", err=True)
    sys.exit(code)


def _run(rpc_url: str | None, state_dir: Path | None, address: str | None,
         body: Callable[[Ledger], Awaitable[T]], what: str = "") -> T:
    """Open the ledger, run `body`, close; ledger errors become one clear line (about `what`) and exit code 2."""
    from sla_contracts.deployment import default_state_dir
    from sla_contracts.errors import LedgerError
    from sla_contracts.ledger import open_ledger

    url = rpc_url or os.environ.get("EDGEORCH_CHAIN_URL")
    if not url:
        _fail("no chain: give --rpc-url or set EDGEORCH_CHAIN_URL (e.g. eval \"$(edgeorch cluster env)\")")

    async def main() -> T:
        ledger = await open_ledger(url, state_dir=state_dir or default_state_dir(), address=address, deploy=False)
        try:
            return await body(ledger)
        finally:
            await ledger.close()

    try:
        return asyncio.run(main())
    except LedgerError as exc:
        _fail(f"{exc} ({what})" if what else str(exc))


def _sla_object(namespace: str | None, name: str, kubeconfig: Path | None) -> dict[str, Any]:
    """The ServiceLevelAgreement `name` as Kubernetes stores it."""
    from orchestrator.kube.errors import KubeError, KubeNotFound
    from orchestrator.kube.sync import context_namespace, get_custom, session
    from orchestrator.vocabulary import API_GROUP, API_VERSION, SLAS

    ns = namespace or context_namespace(kubeconfig)
    try:
        with session(kubeconfig) as api:
            return get_custom(api, API_GROUP, API_VERSION, SLAS, ns, name)
    except KubeNotFound:
        _fail(f"no ServiceLevelAgreement {name!r} in namespace {ns!r} (REF is an SLA's name, its uid or "
              "its 0x agreement id)")
    except KubeError as exc:
        _fail(f"reading ServiceLevelAgreement {ns}/{name}: {exc} (point KUBECONFIG at the cluster: "
              "eval \"$(edgeorch cluster env)\"; or name the agreement by the SLA's uid or 0x agreement id)")


def _not_on_chain(sla: Mapping[str, Any]) -> str:
    """Why the SLA has no agreement on chain yet, from its Recorded condition."""
    meta = sla["metadata"]
    conds = {c.get("type"): c for c in (sla.get("status") or {}).get("conditions") or []}
    rec = conds.get("Recorded") or {}
    why = f"{rec.get('reason')}: {rec.get('message')}" if rec else "not processed by the operator yet"
    return f"ServiceLevelAgreement {meta['namespace']}/{meta['name']} is not on chain ({why})"


def _agreement_ref(ref: str, namespace: str | None, kubeconfig: Path | None) -> tuple[bytes, str]:
    """The agreement id REF names, and what it is in words: with -n, or unless REF is a uid or a 0x
    agreement id, REF is the name of an SLA (whose uid is read from Kubernetes)."""
    from sla_contracts.ids import agreement_id

    text = ref.strip()
    if namespace is None and AGREEMENT_ID.match(text):
        return bytes.fromhex(text[2:]), f"agreement {text}"
    if namespace is None and UUID.match(text.lower()):
        return agreement_id(text), f"SLA uid {text}"
    sla = _sla_object(namespace, text, kubeconfig)
    if not (sla.get("status") or {}).get("agreementId"):
        _fail(_not_on_chain(sla))
    meta = sla["metadata"]
    return agreement_id(meta["uid"]), f"SLA {meta['namespace']}/{meta['name']}, uid {meta['uid']}"


def _time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex() if isinstance(value, bytes | bytearray) else str(value)


@click.group()
def sla() -> None:
    """Inspect SLA agreements and breaches on the ledger."""


@sla.command()
@click.argument("ref")
@NAMESPACE
@KUBECONFIG
@RPC_URL
@STATE_DIR
@ADDRESS
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(ref: str, namespace: str | None, kubeconfig: Path | None, rpc_url: str | None, state_dir: Path | None,
         address: str | None, as_json: bool) -> None:
    """Print the agreement of REF (an SLA's name, with -n NAMESPACE, or its uid, or a 0x agreement id):
    state, terms hash, objectives, counts."""
    aid, what = _agreement_ref(ref, namespace, kubeconfig)

    async def body(ledger: Ledger) -> dict[str, Any]:
        info = await ledger.get_agreement(aid)
        counts = await ledger.breach_counts(aid)
        return {
            "agreement_id": _hex(info.agreement_id), "status": info.status.name.lower(), "version": info.version,
            "accepted": info.accepted, "valid_from": _time(info.valid_from), "valid_until": _time(info.valid_until),
            "provider_account": info.provider_account, "terms_hash": _hex(info.terms_hash),
            "objectives": [{"comparator": c.name.lower(), "threshold": t} for c, t in info.objectives],
            "breaches": {s.name.lower(): n for s, n in counts.items()},
            "migrations": await ledger.migration_count(aid), "contract": ledger.address, "chain_id": ledger.chain_id,
        }

    data = _run(rpc_url, state_dir, address, body, what)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if key == "objectives":
            click.echo("objectives:")
            for i, o in enumerate(value):
                click.echo(f"  [{i}] good when {o['comparator']} {o['threshold']:g}")
        elif key == "breaches":
            click.echo("breaches:   " + ", ".join(f"{k} {n}" for k, n in value.items()) + f"  (total {sum(value.values())})")
        else:
            click.echo(f"{key + ':':<18}{value}")


def describe_event(e: LedgerEvent) -> str:
    """One line about a ledger event (agreement versions, breaches, migrations, resizes), as `sla history` prints it."""
    a = e.args
    if e.name == "BreachRecorded":
        from sla_contracts.model import Severity, from_fixed

        return (f"breach   {Severity(a['severity']).name.lower():<12} objective {a['objective']} observed "
                f"{from_fixed(a['observed']):g} window {_time(a['window_start'])}..{_time(a['window_end'])} "
                f"id {_hex(a['breach_id'])[:18]}… evidence {_hex(a['evidence_hash'])[:18]}…")
    if e.name == "MigrationRecorded":
        return f"migration {a['from_site']} -> {a['to_site']} because of breach {_hex(a['breach_id'])[:18]}…"
    if e.name == "ResizeRecorded":
        why = f"because of breach {_hex(a['breach_id'])[:18]}…" if any(bytes(a["breach_id"])) else "after a quiet period"
        moved = f", {a['moved']} moved" if a["moved"] else ""
        return (f"resize   #{a['seq']} {'up' if a['up'] else 'down'} to cpu {a['cpu_m']}m x {a['replicas']} "
                f"replica(s){moved} {why}")
    if e.name in ("AgreementCreated", "AgreementAmended"):
        verb = "created " if e.name == "AgreementCreated" else "amended "
        return (f"{verb} version {a['version']} terms {_hex(a['terms_hash'])[:18]}… valid "
                f"{_time(a['valid_from'])}..{_time(a['valid_until'])}, {len(a['objectives'])} objective(s)")
    if e.name == "AgreementTerminated":
        return f"terminated at version {a['version']}"
    return f"accepted version {a['version']} by {a['provider_account']}"


@sla.command()
@click.argument("ref")
@NAMESPACE
@KUBECONFIG
@RPC_URL
@STATE_DIR
@ADDRESS
def history(ref: str, namespace: str | None, kubeconfig: Path | None, rpc_url: str | None, state_dir: Path | None,
            address: str | None) -> None:
    """List the versions, breaches, migrations and resizes of the agreement of REF (as for show) in chain order."""
    aid, what = _agreement_ref(ref, namespace, kubeconfig)

    async def body(ledger: Ledger) -> list[LedgerEvent]:
        await ledger.get_agreement(aid)  # an unknown agreement is an error, not an empty history
        return await ledger.events(agreement_id=aid)

    for e in _run(rpc_url, state_dir, address, body, what):
        click.echo(f"block {e.block_number:>7}  {describe_event(e)}")


def _load_spec(path: Path) -> tuple[Mapping[str, Any], str | None]:
    """The spec in a YAML/JSON file (a whole ServiceLevelAgreement object or only its spec) and its uid."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        _fail(f"--spec {path}: {exc}")
    if not isinstance(doc, dict):
        _fail(f"--spec {path}: not a mapping")
    if "spec" in doc and isinstance(doc["spec"], dict):
        uid = (doc.get("metadata") or {}).get("uid")
        return doc["spec"], uid if isinstance(uid, str) else None
    return doc, None


@sla.command()
@click.argument("ref", required=False)
@NAMESPACE
@KUBECONFIG
@click.option("--spec", "spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="SLA spec to check, in a file: a whole ServiceLevelAgreement (kubectl get sla X -o json, or "
              "the YAML applied) or its .spec only; YAML or JSON (default: the live SLA named REF).")
@click.option("--uid", default=None, help="metadata.uid of the SLA (default: REF's, or the file's metadata.uid).")
@RPC_URL
@STATE_DIR
@ADDRESS
def verify(ref: str | None, namespace: str | None, kubeconfig: Path | None, spec_file: Path | None,
           uid: str | None, rpc_url: str | None, state_dir: Path | None, address: str | None) -> None:
    """Recompute the terms hash of an SLA spec and compare it with the chain: MATCH, or MISMATCH (exit 1).

    `verify -n NAMESPACE NAME` checks the live SLA; `--spec FILE` checks the file's spec against the
    agreement of REF (a name with -n, or a uid), of --uid, or of the file's metadata.uid."""
    from sla_contracts.terms import VerifyResult, verify_terms

    live: dict[str, Any] | None = None
    if ref is not None and not (namespace is None and UUID.match(ref.strip().lower())):
        live = _sla_object(namespace, ref.strip(), kubeconfig)
    elif ref is not None:
        uid = uid or ref.strip()
    if spec_file is not None:
        spec, file_uid = _load_spec(spec_file)
    elif live is not None:
        spec, file_uid = live["spec"], None
    else:
        _fail("give the SLA (-n NAMESPACE NAME) or --spec FILE")
    uid = uid or (live["metadata"]["uid"] if live is not None else None) or file_uid
    if not uid:
        _fail("--uid: required (the file has no metadata.uid; or name the SLA: -n NAMESPACE NAME)")

    async def body(ledger: Ledger) -> VerifyResult:
        return await verify_terms(ledger, uid, spec)

    result = _run(rpc_url, state_dir, address, body, f"SLA uid {uid}")
    click.echo(result.describe())
    if not result.match:
        sys.exit(1)
