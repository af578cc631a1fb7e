"""The operator's own move intents: the QoS guard's and the re-optimiser's, one per workload.

They are the agreements' offload intents' kin (orchestrator.intents), carried out the same way by
the workload controller, which records each in the workload's `status.offload` (its id, action and
moves) and counts its moves in `status.migrationLog` (the migration budget).  Their ids name their
source instead of an agreement: `qos-bound:0:<unix time>` (the workload's own QoS bound broke:
Offload, then FailBack) and `reoptimiser:0:<unix time>` (Reoptimise: a placement that gains enough).

One intent drives a workload at a time, so the loops never fight over it (`wanted`): an agreement's
open Offload rules (the SLA-driven path), else the operator's own intent when there is one, else the
agreements' intents as they are.  Restart-safe: the book is memory, and `sync` re-adopts the intent
`status.offload` names when it is one of ours; an intent that a later one (ours or an agreement's)
replaced in `status.offload` is dropped.  No I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator import intents
from orchestrator.intents import Intent
from orchestrator.resources.workload_status import MoveAction
from orchestrator.vocabulary import QOS_GUARD_INTENT, REOPTIMISER_INTENT

REOPTIMISE = MoveAction.REOPTIMISE.value
SOURCES = (QOS_GUARD_INTENT, REOPTIMISER_INTENT)


def offload(avoid: Sequence[str], reason: str, now: float) -> Intent:
    """The QoS guard's intent: leave `avoid` (sites where the placement breaks the bound)."""
    return Intent(QOS_GUARD_INTENT, 0, int(now), intents.OFFLOAD, tuple(sorted(set(avoid))), reason)


def fail_back(done: Intent, reason: str) -> Intent:
    """Stop avoiding what `done` (the guard's carried-out Offload) left: the controller solves again
    without those sites and without migration cost (as for an agreement's FailBack)."""
    return Intent(done.sla, done.objective, done.window_start, intents.FAIL_BACK, done.avoid, reason)


def reoptimise(reason: str, now: float) -> Intent:
    """The re-optimiser's intent: solve again (with migration cost), a better placement is there."""
    return Intent(REOPTIMISER_INTENT, 0, int(now), REOPTIMISE, (), reason)


def open_offload(sla: Sequence[Intent]) -> Intent | None:
    """An agreement's Offload (sites still avoided until its fail-back): the SLA-driven path rules."""
    return next((i for i in sla if i.action == intents.OFFLOAD), None)


def _done_time(body: Mapping[str, Any]) -> float | None:
    when = ((body.get("status") or {}).get("offload") or {}).get("time")
    if not when:
        return None
    try:
        return datetime.fromisoformat(str(when).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def adopt(body: Mapping[str, Any]) -> Intent | None:
    """The intent of ours that `status.offload` names as carried out (None: none, or an agreement's)."""
    done = intents.moves_of(body)
    if done is None:
        return None
    intent_id, action, moves = done
    parts = intents.breach_of(intent_id)
    if parts is None or parts[0] not in SOURCES:
        return None
    avoid = tuple(sorted({a for a, _ in moves})) if action == intents.OFFLOAD else ()
    return Intent(parts[0], parts[1], parts[2], action, avoid, "")


@dataclass(frozen=True)
class Own:
    """An intent of ours on one workload, and whether the controller carried it out."""

    intent: Intent
    done: bool


class MoveBook:
    """The operator's own intent per workload ("namespace/name"); read by the controller (`wanted`)."""

    def __init__(self) -> None:
        self._own: dict[str, Intent] = {}

    def of(self, key: str) -> Intent | None:
        return self._own.get(key)

    def put(self, key: str, intent: Intent) -> None:
        self._own[key] = intent

    def drop(self, key: str) -> None:
        self._own.pop(key, None)

    def keys(self) -> list[str]:
        return list(self._own)

    def sync(self, key: str, body: Mapping[str, Any], sla: Sequence[Intent]) -> Own | None:
        """Bring the book in line with the workload as it is now: an agreement's open Offload drops
        ours; a later intent carried out in `status.offload` drops ours; after a restart, ours is
        re-adopted from `status.offload`.  Ours now, and whether it was carried out."""
        if open_offload(sla) is not None:
            self.drop(key)
            return None
        mine = self._own.get(key)
        if mine is None:
            adopted = adopt(body)
            if adopted is None:
                return None
            self._own[key] = mine = adopted
        if intents.carried_out(body, mine):
            return Own(mine, True)
        done, done_at = intents.moves_of(body), _done_time(body)
        if done is not None and done[0] != mine.id and done_at is not None and done_at >= mine.window_start:
            self.drop(key)  # replaced: status.offload names an intent carried out after ours was made
            return None
        return Own(mine, False)

    def wanted(self, key: str, sla: Sequence[Intent]) -> Sequence[Intent]:
        """The intents the controller must honour for workload `key`, given its agreements' `sla`."""
        mine = self._own.get(key)
        if mine is None or open_offload(sla) is not None:
            return tuple(sla)
        return (mine,)

    def forget(self, keys: Collection[str]) -> None:
        """Keep only the workloads in `keys` (the others are gone)."""
        for key in [k for k in self._own if k not in keys]:
            del self._own[key]


__all__ = ["REOPTIMISE", "SOURCES", "MoveBook", "Own", "adopt", "fail_back", "offload", "open_offload", "reoptimise"]
