"""A background loop that ticks at an interval: started once, stopped with the operator, and never
ended by a bug in one tick (it is logged, and the next tick comes)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any


class Periodic:
    """Subclasses set `name` and `interval_s` and implement `tick()`; `tick_at_start` runs the first
    tick at once instead of after one interval."""

    name = "edgeorch-loop"
    interval_s = 1.0
    tick_at_start = False
    _task: asyncio.Task[None] | None = None

    async def tick(self) -> Any:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        if not self.tick_at_start:
            await asyncio.sleep(self.interval_s)
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not stop the loop
                logging.getLogger("edgeorch").exception("%s: a tick failed", self.name)
            await asyncio.sleep(self.interval_s)
