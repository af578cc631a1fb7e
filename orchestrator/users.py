"""Measured user distributions (`spec.users.fromMetric`): their arithmetic, and what the workload
controller writes of them.

A distribution maps radio cells to shares that sum to 1.  The mobility loop (orchestrator.mobility)
turns each reading of a workload's query into one (`weights`, `normalised`), smooths it over time
(`smooth`: exponential, time constant `smoothingSeconds`), drops the cells with too few users
(`published`) and compares it with the distribution the current placement was solved for (`in_use`,
from `status.users`) by total variation distance (`distance`).  It hands the controller a `Reading`;
the controller solves with `Reading.cells` instead of `spec.users.cells` and lets `Reading.report`
add to its status write what the reading says: `status.users` after a solve, the `UsersMeasured`
condition, the Events (a query Prometheus refuses: a Warning, once; users that moved: a Normal), and
the moves that followed the users in `status.migrationLog` (the migration budget).

Pure: no I/O, no clock (times come in).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from orchestrator.reconciled import MIGRATION_LOG_S, Reconciled
from orchestrator.resources import EdgeWorkloadStatus
from orchestrator.resources.common import Condition, ConditionStatus, set_condition, status_patch
from orchestrator.resources.users import MAX_CELLS
from orchestrator.rollout import same_conditions
from orchestrator.vocabulary import EventType, Phase, Reason
from orchestrator.vocabulary import WorkloadCondition as Cond

Distribution = Mapping[str, float]
FORGET_BELOW = 1e-4  # a smoothed share below this is forgotten (the users left that cell long ago)
MOVED_EVENT_FROM = 0.01  # a solve for users that moved at least this far says so in an Event
PROBLEMS = (Reason.QUERY_INVALID, Reason.QUERY_FAILED)  # what a Warning Event is posted for


def weights(samples: Iterable[tuple[Mapping[str, str], float]], cell_label: str) -> dict[str, float]:
    """Users (or traffic) per cell: the values of the series with that cell's label, summed; series
    without the label, and values that are no finite non-negative number, are left out."""
    out: dict[str, float] = {}
    for labels, value in samples:
        cell = labels.get(cell_label)
        if cell and math.isfinite(value) and value > 0:
            out[cell] = out.get(cell, 0.0) + value
    return out


def normalised(w: Mapping[str, float]) -> dict[str, float]:
    """`w` scaled to sum to 1 ({} when it sums to nothing)."""
    total = sum(v for v in w.values() if v > 0)
    return {c: v / total for c, v in w.items() if v > 0} if total > 0 else {}


def smooth(before: Distribution | None, now: Distribution, dt: float, tau: float) -> dict[str, float]:
    """Exponential smoothing: `before` moved towards `now` by 1 - exp(-dt/tau) (all the way without a
    `before`, or with tau 0); shares that fell below FORGET_BELOW are dropped."""
    if not before or tau <= 0:
        return dict(now)
    alpha = 1.0 - math.exp(-max(0.0, dt) / tau)
    mixed = {c: (1 - alpha) * before.get(c, 0.0) + alpha * now.get(c, 0.0) for c in {*before, *now}}
    return normalised({c: v for c, v in mixed.items() if v >= FORGET_BELOW})


def published(smoothed: Distribution, min_share: float, max_cells: int = MAX_CELLS) -> dict[str, float]:
    """The distribution to solve with: cells with at least `min_share` (all, when none has), at most
    `max_cells` of the largest, renormalised."""
    ranked = sorted(smoothed.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [(c, v) for c, v in ranked if v >= min_share] or ranked
    return normalised(dict(kept[:max_cells]))


def distance(p: Distribution | None, q: Distribution | None) -> float:
    """Total variation distance (0: the same users, 1: none in common); 1 when either is missing."""
    if not p or not q:
        return 1.0
    return 0.5 * sum(abs(p.get(c, 0.0) - q.get(c, 0.0)) for c in {*p, *q})


def in_use(status: Mapping[str, Any] | None) -> dict[str, float] | None:
    """The distribution `status.users` says the placement was solved for (None: none)."""
    users = (status or {}).get("users") or {}
    cells = {str(c.get("cell")): float(c.get("share") or 0) for c in users.get("cells") or []
             if isinstance(c, Mapping) and c.get("cell")}
    return normalised(cells) or None


def cells_in_use(body: Mapping[str, Any]) -> dict[str, float]:
    """The users a workload's placement serves: the measured distribution in use (status.users) when
    its spec measures them, else spec.users.cells."""
    users = (body.get("spec") or {}).get("users") or {}
    measured = in_use(body.get("status")) if users.get("fromMetric") else None
    if measured:
        return measured
    return {str(c["cell"]): float(c["share"]) for c in users.get("cells") or [] if isinstance(c, Mapping)
            and c.get("cell") and c.get("share")}


def describe(cells: Distribution, top: int = 3) -> str:
    """The largest shares, for a message ("cell-a 62 %, cell-b 30 % and 2 more")."""
    ranked = sorted(cells.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{c} {v * 100:.0f} %" for c, v in ranked[:top])
    return text + (f" and {len(ranked) - top} more" if len(ranked) > top else "")


def users_status(cells: Distribution, read_at: datetime | None, moved: float | None) -> dict[str, Any]:
    """`status.users` for a distribution (shares rounded for display, largest first)."""
    ranked = sorted(cells.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CELLS]
    return {"cells": [{"cell": c, "share": round(v, 4)} for c, v in ranked if round(v, 4) > 0],
            "readTime": read_at, "distance": None if moved is None else round(min(1.0, moved), 4)}


@dataclass(frozen=True)
class Reading:
    """What the mobility loop knows of one workload's users now.  `state` None: the workload measures
    none (its spec has no fromMetric): a status that still shows a measured distribution is cleared."""

    cells: Distribution | None = None  # the smoothed distribution to solve with (None: none yet)
    read_at: datetime | None = None  # when the query last gave it
    state: ConditionStatus | None = None  # of the UsersMeasured condition
    reason: str = ""
    message: str = ""
    retry_s: float = 5.0  # a workload waiting for its first distribution is looked at again after this

    @property
    def measured(self) -> bool:
        return self.state is not None

    def report(self, body: Mapping[str, Any], result: Reconciled, now: float) -> Reconciled:
        """`result` (the controller's reconciliation of `body`) with what this reading adds to the
        status write and the Events (see the module docstring); `now` is the Unix time."""
        raw = body.get("status") or {}
        patch = dict(result.status or {})
        if not self.measured and "users" not in raw and not _says_measured(raw) and not _says_measured(patch):
            return result  # the common case, kept cheap: a workload that never measured its users
        gen = body["metadata"].get("generation")
        before = _conditions(raw.get("conditions"))
        conds = _conditions(patch["conditions"]) if "conditions" in patch else before
        if not self.measured:
            return _merged(result, patch, {"users": None, "conditions": [c for c in conds if c.type != Cond.USERS_MEASURED]},
                           before)
        assert self.state is not None
        if self.cells is None and not _spec_cells(body) and result.outcome is not None and not result.outcome.placed \
                and patch.get("phase") == Phase.UNPLACEABLE:
            return self._waiting(body, before, gen)
        conds = set_condition(conds, Cond.USERS_MEASURED, self.state, self.reason, self.message[:1000], gen)
        events = list(result.events)
        old = next((c for c in before if c.type == Cond.USERS_MEASURED), None)
        if self.reason in PROBLEMS and (old is None or (old.reason, old.message) != (self.reason, self.message[:1000])):
            events.append((EventType.WARNING, self.reason, self.message[:1000]))
        fields: dict[str, Any] = {"conditions": conds}
        if result.outcome is not None and self.cells:
            previous = in_use(raw)
            moved = distance(previous, self.cells) if previous else None
            fields["users"] = users_status(self.cells, self.read_at, moved)
            if moved is not None and moved >= MOVED_EVENT_FROM:
                events.append((EventType.NORMAL, Reason.USERS_MOVED,
                               f"users moved (total variation {moved:.2f}): now {describe(self.cells)}; solved again"))
                migrated = int(patch.get("migrations", raw.get("migrations") or 0)) - int(raw.get("migrations") or 0)
                if migrated > 0:  # moves that followed the users count against spec.migration's budget
                    t = int(now)
                    log = patch.get("migrationLog", raw.get("migrationLog") or [])
                    fields["migrationLog"] = [x for x in log if t - int(x) < MIGRATION_LOG_S] + [t] * migrated
        return _merged(replace(result, events=events), patch, fields, before)

    def _waiting(self, body: Mapping[str, Any], before: list[Condition], gen: int | None) -> Reconciled:
        """Nothing to place for yet: spec.users has no cells and the metric has given no users."""
        message = "spec.users.fromMetric: no users measured yet; placed once its query gives a distribution"
        conds = set_condition(before, Cond.PLACED, ConditionStatus.FALSE, Reason.WAITING_FOR_USERS, message, gen)
        conds = set_condition(conds, Cond.USERS_MEASURED, self.state or ConditionStatus.UNKNOWN,
                              self.reason or Reason.NO_DATA, (self.message or message)[:1000], gen)
        raw = body.get("status") or {}
        said = raw.get("phase") == Phase.PENDING and raw.get("observedGeneration") == gen and same_conditions(before, conds)
        status = None if said else status_patch(EdgeWorkloadStatus(phase=Phase.PENDING, observed_generation=gen,
                                                                    conditions=conds))
        old = next((c for c in before if c.type == Cond.USERS_MEASURED), None)
        events: list[tuple[str, str, str]] = []
        if self.reason in PROBLEMS and (old is None or (old.reason, old.message) != (self.reason, self.message[:1000])):
            events.append((EventType.WARNING, self.reason, self.message[:1000]))
        return Reconciled(status, events, retry_after=self.retry_s)


STATIC = Reading()
"""The reading of a workload that measures no users."""


def _says_measured(status: Mapping[str, Any]) -> bool:
    """Whether a status (or patch) has the UsersMeasured condition."""
    return any(isinstance(c, Mapping) and c.get("type") == Cond.USERS_MEASURED for c in status.get("conditions") or [])


def _spec_cells(body: Mapping[str, Any]) -> bool:
    return bool(((body.get("spec") or {}).get("users") or {}).get("cells"))


def _conditions(values: Any) -> list[Condition]:
    out = []
    for c in values or []:
        try:
            out.append(c if isinstance(c, Condition) else Condition.model_validate(c))
        except ValidationError:
            continue
    return out


def _merged(result: Reconciled, patch: dict[str, Any], fields: dict[str, Any], before: list[Condition]) -> Reconciled:
    """`result` whose status write also sets `fields` (None clears one); `result` itself when they
    change nothing (conditions that say what the status says already, nothing else)."""
    conds = fields["conditions"]
    current = _conditions(patch["conditions"]) if "conditions" in patch else before
    if len(fields) == 1 and same_conditions(current, conds):
        return result
    extra = status_patch(EdgeWorkloadStatus.model_validate(fields))
    return replace(result, status={**patch, **extra}, refresh=False)
