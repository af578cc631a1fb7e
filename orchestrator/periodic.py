"""Periodic loops: a coroutine run every so often, whose failures are logged and never stop it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any


async def every(interval_s: float, tick: Callable[[], Awaitable[Any]], log: logging.Logger, what: str) -> None:
    """Run `tick` every `interval_s` seconds until cancelled; an exception in it (a bug) is logged as
    "`what` failed" and the next tick comes as planned."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await tick()
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not stop the loop
            log.exception("%s failed", what)
