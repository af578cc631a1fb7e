"""Offload intents: what the QoS loop asks of an EdgeWorkload, durable in the agreement's status.

The SLA loop never writes a workload.  On a breach it records an intent in its own agreement's
`status.offloadIntent` (the objective and the first bad window of the breach, Offload or FailBack,
the sites to leave) and enqueues the workload; the controller, the EdgeWorkload's one writer,
carries it out and writes in the workload's `status.offload` which intent it carried out and the
moves it made.  An intent is pending until that status names its id and action, so an operator
killed in between re-drives it (the agreement's status is read again after a restart).  An
intent's id is its breach (SLA uid, objective, first bad window): a newer breach replaces it, and
an intent of an old breach never drives a decision about a new one.

`IntentBook` is the controller's view of every agreement's intent, per workload, filled from the
agreements' statuses (listed at start, then as the SLA loop reads and writes them).  The rest is
pure: it reads and builds status records; no I/O.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.resources import OffloadIntent
from orchestrator.resources.elasticity import ResizeIntent
from orchestrator.resources.workload_status import OffloadAction
from orchestrator.vocabulary import SlaCondition

SUSPENDED = SlaCondition.SUSPENDED.value

OFFLOAD, FAIL_BACK = OffloadAction.OFFLOAD.value, OffloadAction.FAIL_BACK.value


@dataclass(frozen=True)
class Intent:
    """Leave `avoid` (Offload) or stop avoiding them (FailBack), for breach `id`."""

    sla: str  # the agreement's uid
    objective: int
    window_start: int
    action: str  # OFFLOAD or FAIL_BACK
    avoid: tuple[str, ...] = ()
    reason: str = ""

    @property
    def id(self) -> str:
        return f"{self.sla}:{self.objective}:{self.window_start}"

    def status(self) -> dict[str, Any]:
        """The agreement's `status.offloadIntent` for this intent."""
        return OffloadIntent(objective=self.objective, window_start=self.window_start, action=OffloadAction(self.action),
                             avoid=list(self.avoid), reason=self.reason).model_dump(mode="json", by_alias=True)

    def newer_than(self, other: Intent | None) -> bool:
        """Whether this intent replaces `other` (a later breach does; so does a later step of the same one)."""
        if other is None:
            return True
        if self.window_start != other.window_start:
            return self.window_start > other.window_start
        if self.id != other.id:  # the same window breached twice: the lower objective/SLA keeps it
            return (self.sla, self.objective) < (other.sla, other.objective)
        return self.action == FAIL_BACK and other.action == OFFLOAD


def of_agreement(sla: Mapping[str, Any]) -> Intent | None:
    """The intent an agreement's status holds, or None (absent, or not one we wrote: a value that
    does not read as an intent never drives a move)."""
    value = ((sla.get("status") or {}).get("offloadIntent"))
    uid = (sla.get("metadata") or {}).get("uid")
    if not value or not uid:
        return None
    try:
        it = OffloadIntent.model_validate(value)
    except ValueError:
        return None
    return Intent(str(uid), it.objective, it.window_start, it.action.value, tuple(it.avoid), it.reason)


def carried_out(body: Mapping[str, Any], intent: Intent) -> bool:
    done = (body.get("status") or {}).get("offload") or {}
    return bool(done.get("id") == intent.id and done.get("action") == intent.action)


def pending(body: Mapping[str, Any], wanted: Iterable[Intent]) -> Intent | None:
    """The newest of the intents `wanted` for this workload that its status does not name as carried out."""
    newest: Intent | None = None
    for intent in wanted:
        if not carried_out(body, intent) and intent.newer_than(newest):
            newest = intent
    return newest


def avoided_sites(wanted: Iterable[Intent]) -> frozenset[str]:
    """Sites no replica may go to: those Offload intents leave (until their fail-back or withdrawal)."""
    return frozenset(s for intent in wanted if intent.action == OFFLOAD for s in intent.avoid)


class IntentBook:
    """Every agreement's intent, per workload ("namespace/name"), as the agreements' statuses say."""

    def __init__(self) -> None:
        self._key_of: dict[str, str] = {}  # sla uid -> its workload's key
        self._by_key: dict[str, dict[str, Intent]] = {}  # workload key -> sla uid -> intent
        self._covers: dict[str, str] = {}  # sla uid -> its workload's key, intent or not
        self._covered: dict[str, set[str]] = {}  # workload key -> the uids of its agreements
        self._resizes: dict[str, ResizeIntent] = {}  # sla uid -> its resize intent (orchestrator.resize)
        self._frozen: set[str] = set()  # sla uids with an open `suspend` breach

    def observe(self, sla: Mapping[str, Any]) -> None:
        """An agreement as read or written (its status holds its intent, or none)."""
        meta = sla.get("metadata") or {}
        ref = (sla.get("spec") or {}).get("workloadRef")
        if not meta.get("uid") or not ref:
            return
        uid = str(meta["uid"])
        self.forget(uid)
        key = f"{meta.get('namespace')}/{ref}"
        self._covers[uid] = key
        self._covered.setdefault(key, set()).add(uid)
        status = sla.get("status") or {}
        with contextlib.suppress(ValueError):
            if status.get("resizeIntent"):
                self._resizes[uid] = ResizeIntent.model_validate(status["resizeIntent"])
        if any(c.get("type") == SUSPENDED and c.get("status") == "True" for c in status.get("conditions") or []):
            self._frozen.add(uid)
        intent = of_agreement(sla)
        if intent is not None:
            self._key_of[uid] = key
            self._by_key.setdefault(key, {})[uid] = intent

    def seed(self, agreements: Iterable[Mapping[str, Any]]) -> None:
        for sla in agreements:
            self.observe(sla)

    def forget(self, uid: str) -> None:
        """The agreement is gone (or its intent withdrawn)."""
        self._resizes.pop(uid, None)
        self._frozen.discard(uid)
        covered = self._covers.pop(uid, None)
        if covered is not None:
            uids = self._covered.get(covered, set())
            uids.discard(uid)
            if not uids:
                self._covered.pop(covered, None)
        key = self._key_of.pop(uid, None)
        if key is not None:
            held = self._by_key.get(key, {})
            held.pop(uid, None)
            if not held:
                self._by_key.pop(key, None)

    def of(self, key: str) -> Sequence[Intent]:
        """The intents of every agreement on workload `key`."""
        return tuple(self._by_key.get(key, {}).values())

    def resize_of(self, key: str) -> tuple[str, ResizeIntent] | None:
        """The resize intent of an agreement on workload `key` (of the lowest uid, if several have one)."""
        held = sorted((uid, r) for uid, r in self._resizes.items() if self._covers.get(uid) == key)
        return held[0] if held else None

    def resized_by(self, uid: str) -> str | None:
        """The workload agreement `uid` holds a resize intent for, if any (it returns to its spec's size
        when the agreement goes)."""
        return self._covers.get(uid) if uid in self._resizes else None

    def frozen(self, key: str) -> bool:
        """Whether an agreement on workload `key` has a `suspend` breach open (nothing moves)."""
        return any(self._covers.get(uid) == key for uid in self._frozen)

    def covered(self, key: str) -> bool:
        """Whether an agreement names workload `key` (its SLA loop may move it)."""
        return key in self._covered


def site_moves(before: list[str], after: list[str]) -> list[tuple[str, str]]:
    """Pair replicas that left a site with replicas that arrived at another."""
    gone = Counter(before) - Counter(after)
    came = Counter(after) - Counter(before)
    left = [s for s, n in sorted(gone.items()) for _ in range(n)]
    arrived = [s for s, n in sorted(came.items()) for _ in range(n)]
    return list(zip(left, arrived, strict=False))


def record(intent: Intent, moves: list[tuple[str, str]], when: datetime) -> dict[str, Any]:
    """`status.offload` for an intent carried out with these moves."""
    return {"id": intent.id, "action": intent.action, "time": when,
            "moves": [{"fromSite": a, "toSite": b} for a, b in moves]}


def moves_of(body: Mapping[str, Any]) -> tuple[str, str, list[tuple[str, str]]] | None:
    """(id, action, moves) of the intent last carried out, from the status."""
    done = (body.get("status") or {}).get("offload") or {}
    if not done.get("id") or not done.get("action"):
        return None
    return str(done["id"]), str(done["action"]), [(m["fromSite"], m["toSite"]) for m in done.get("moves") or []]


def breach_of(intent_id: str) -> tuple[str, int, int] | None:
    """(sla uid, objective, window start) of an intent id."""
    try:
        sla, objective, window = intent_id.rsplit(":", 2)
        return sla, int(objective), int(window)
    except ValueError:
        return None
