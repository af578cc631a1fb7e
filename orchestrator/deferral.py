"""Status writes the workload controller puts off while workloads wait to be placed.

A reconciliation whose status write only reports Ready counts (`Reconciled.refresh`) is parked
while other workloads wait for a placement (the controller's queue or the engine's), so that their
placements go first, each for at most MAX_STATUS_DEFER_S; the controller's flush loop looks at the
parked ones every STATUS_DEFER_S and queues those that are due again.
"""

from __future__ import annotations

import time

STATUS_DEFER_S = 0.5  # how often put-off status writes (Ready counts only) are looked at again,
MAX_STATUS_DEFER_S = 10.0  # and the longest one waits while other workloads wait for a placement


class Deferred:
    """The put-off status writes: workload key -> monotonic time its write was first put off."""

    def __init__(self) -> None:
        self._first: dict[str, float] = {}

    def defer(self, key: str, busy: bool) -> bool:
        """Whether to put off a status write that only reports Ready counts: while workloads wait to be
        placed (`busy`), their placements go first, for at most MAX_STATUS_DEFER_S."""
        if not busy:
            return False
        first = self._first.setdefault(key, time.monotonic())
        return time.monotonic() - first < MAX_STATUS_DEFER_S

    def drop(self, key: str) -> None:
        """`key`'s status is written (or the workload is gone): nothing of it waits any more."""
        self._first.pop(key, None)

    def due(self, busy: bool, now: float) -> list[str]:
        """The put-off writes to do now: all of them once no workload waits for a placement (`busy`
        false), else those put off for MAX_STATUS_DEFER_S."""
        return [k for k, first in self._first.items() if not busy or now - first >= MAX_STATUS_DEFER_S]
