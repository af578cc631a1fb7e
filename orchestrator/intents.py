"""Offload intents: what the QoS loop asks of an EdgeWorkload, durable on the object itself.

The SLA loop never moves a workload.  On a breach it records an intent in the annotation
`edgeorch.io/offload-intent` (the breach it answers, Offload or FailBack, the sites to leave) and
enqueues the workload; the controller, the EdgeWorkload's one writer, carries it out and writes in
`status.offload` which intent it carried out and the moves it made.  An intent is pending until the
status names its id and action, so an operator killed in between re-drives it from the restart's
listing.  An intent's id is its breach (SLA uid, objective, first bad window): a newer breach
replaces it, and an intent of an old breach never drives a decision about a new one.

Pure: reads and builds annotation values and status records; no I/O.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.resources.edgeworkload import OffloadAction

INTENT_ANNOTATION = "edgeorch.io/offload-intent"
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

    def encode(self) -> str:
        return json.dumps({"sla": self.sla, "objective": self.objective, "windowStart": self.window_start,
                           "action": self.action, "avoid": list(self.avoid), "reason": self.reason},
                          sort_keys=True)

    def newer_than(self, other: Intent | None) -> bool:
        """Whether this intent replaces `other` (a later breach does; so does a later step of the same one)."""
        if other is None:
            return True
        if self.window_start != other.window_start:
            return self.window_start > other.window_start
        if self.id != other.id:  # the same window breached twice: the lower objective/SLA keeps it
            return (self.sla, self.objective) < (other.sla, other.objective)
        return self.action == FAIL_BACK and other.action == OFFLOAD


def read(body: Mapping[str, Any]) -> Intent | None:
    """The workload's intent, or None (absent or not one we wrote: an unreadable value never drives a move)."""
    text = ((body.get("metadata") or {}).get("annotations") or {}).get(INTENT_ANNOTATION)
    if not text:
        return None
    try:
        d = json.loads(text)
        action = str(d["action"])
        if action not in (OFFLOAD, FAIL_BACK):
            return None
        return Intent(str(d["sla"]), int(d["objective"]), int(d["windowStart"]), action,
                      tuple(str(s) for s in d.get("avoid") or ()), str(d.get("reason") or ""))
    except (ValueError, TypeError, KeyError):
        return None


def carried_out(body: Mapping[str, Any], intent: Intent) -> bool:
    done = (body.get("status") or {}).get("offload") or {}
    return bool(done.get("id") == intent.id and done.get("action") == intent.action)


def pending(body: Mapping[str, Any]) -> Intent | None:
    """The workload's intent when the controller has not carried it out yet."""
    intent = read(body)
    return intent if intent is not None and not carried_out(body, intent) else None


def avoided_sites(body: Mapping[str, Any]) -> frozenset[str]:
    """Sites no replica may go to: those an Offload intent leaves (until its fail-back or withdrawal)."""
    intent = read(body)
    return frozenset(intent.avoid) if intent is not None and intent.action == OFFLOAD else frozenset()


def site_moves(before: list[str], after: list[str]) -> list[tuple[str, str]]:
    """Pair replicas that left a site with replicas that arrived at another."""
    gone = Counter(before) - Counter(after)
    came = Counter(after) - Counter(before)
    left = [s for s, n in sorted(gone.items()) for _ in range(n)]
    arrived = [s for s, n in sorted(came.items()) for _ in range(n)]
    return list(zip(left, arrived, strict=False))


def record(intent: Intent, moves: list[tuple[str, str]], when: str) -> dict[str, Any]:
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
