"""Fixtures of the ledger tests: one anvil for the session and one ledger per backend (embedded, anvil).

A missing anvil fails the tests with the set-up hint; nothing is skipped.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sla_contracts.anvil import AnvilProcess, free_port
from sla_contracts.backends import DEV_KEYS
from sla_contracts.errors import ToolMissing
from sla_contracts.ids import agreement_id, metric_id, name_ref, terms_hash
from sla_contracts.ledger import Ledger, open_ledger
from sla_contracts.model import AgreementTerms, Breach, Comparator, Objective, Severity

BACKENDS = ("embedded", "anvil")
PROVIDER_KEY = DEV_KEYS[4]
_windows = itertools.count(1)


@dataclass
class Chain:
    """The session's anvil node and where the ledger's deployment file lives."""

    node: AnvilProcess
    state_dir: Path


def start_anvil(directory: Path) -> AnvilProcess:
    try:
        return AnvilProcess(free_port(), state_file=directory / "anvil-state.json",
                            log_file=directory / "anvil.log").start()
    except ToolMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def anvil_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    directory = tmp_path_factory.mktemp("anvil")
    node = start_anvil(directory)
    try:
        yield Chain(node, directory)
    finally:
        node.stop()


@pytest.fixture(scope="session")
async def embedded_ledger() -> AsyncIterator[Ledger]:
    ledger = await open_ledger()
    yield ledger
    await ledger.close()


@pytest.fixture(scope="session")
async def anvil_ledger(anvil_chain: Chain) -> AsyncIterator[Ledger]:
    ledger = await open_ledger(anvil_chain.node.url, state_dir=anvil_chain.state_dir)
    yield ledger
    await ledger.close()


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest) -> Ledger:
    """The ledger on each backend (session-wide: every test uses fresh agreement uids)."""
    led: Ledger = request.getfixturevalue(f"{request.param}_ledger")
    return led


async def chain_now(ledger: Ledger) -> int:
    return int((await ledger.w3.eth.get_block("latest"))["timestamp"])


def objectives() -> list[Objective]:
    """latency < 50 ms, throughput > 10 Mbps, availability >= 0.999."""
    return [
        Objective(metric_id("latency_ms"), Comparator.LT, 50.0, 30),
        Objective(metric_id("throughput_mbps"), Comparator.GT, 10.0, 30),
        Objective(metric_id("availability"), Comparator.GE, 0.999, 300),
    ]


def new_terms(now: int, *, uid: str | None = None, start: int | None = None, end: int | None = None,
              provider_account: str | None = None) -> AgreementTerms:
    uid = uid or f"sla-{uuid.uuid4()}"
    return AgreementTerms(
        agreement_id=agreement_id(uid), terms_hash=terms_hash({"uid": uid, "v": 1}),
        valid_from=now - 3600 if start is None else start, valid_until=now + 30 * 86400 if end is None else end,
        objectives=objectives(), provider_ref=name_ref("bcn-edge-operator"), consumer_ref=name_ref("tenant-7f3a"),
        provider_account=provider_account,
    )


def latency_breach(aid: bytes, now: int, *, observed: float = 80.0, window_start: int | None = None,
                   severity: Severity = Severity.MILD, objective: int = 0) -> Breach:
    """A breach of objective 0 (latency) in a fresh window unless one is given."""
    start = now - 600 + next(_windows) * 5 if window_start is None else window_start
    return Breach(aid, objective, severity, observed, start, start + 30, b"\xee" * 32)


@pytest.fixture
def wall_now() -> int:
    return int(time.time())
