"""What one reconciliation of an EdgeWorkload returns (orchestrator.workloads), in a module of its own
so that the loops which add to it (orchestrator.users) need not import the reconciler (which imports
the engine, which imports them back)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.engine import Outcome

MIGRATION_LOG_S = 3600  # offload and fail-back moves are counted against the budget this long


@dataclass
class Reconciled:
    """What the handler must write: a status patch, Events, and whether to try again later."""

    status: dict[str, Any] | None
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    retry_after: float | None = None
    outcome: Outcome | None = None
    rolling: bool = False  # its Pods are being replaced or moved: a change of one of them wakes it
    refresh: bool = False  # the status only reports what the Pods did (Ready counts): no decision, no Event
