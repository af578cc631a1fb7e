"""Which EdgeWorkload watch events call for work, and which are stale: pure predicates over the
bodies the workload controller holds.  No I/O, no decisions of placement; the controller alone acts
on their answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def needs_work(event_type: str | None, body: Mapping[str, Any], seen: Mapping[str, Any] | None) -> bool:
    """Whether a watch event calls for a reconciliation: a new object, the initial listing (after a
    restart: check what is there), or a new generation (the spec changed) since the body `seen`
    last.  Status and metadata changes (our own status writes among them) do not; retries are the
    controller's timers."""
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return False
    if event_type is None or event_type == "ADDED" or seen is None:
        return True
    return bool(meta.get("generation") != (seen.get("metadata") or {}).get("generation"))


def is_stale(body: Mapping[str, Any], seen: Mapping[str, Any] | None) -> bool:
    """Whether the watch event `body` is older than the body `seen` we already hold (a fresh read or
    the response of our own write, ahead of the watch): a lagging event must not set back the spec
    of the previous generation, or the next reconciliation rolls back toward it.  Same object (UID),
    and an older generation, or the same generation at an older resourceVersion (the API server's are
    etcd revisions: compared only when both are numbers)."""
    if seen is None:
        return False
    meta, held = body.get("metadata") or {}, seen.get("metadata") or {}
    if meta.get("uid") != held.get("uid"):
        return False
    generation, held_generation = meta.get("generation"), held.get("generation")
    if isinstance(generation, int) and isinstance(held_generation, int) and generation != held_generation:
        return generation < held_generation
    version, held_version = str(meta.get("resourceVersion", "")), str(held.get("resourceVersion", ""))
    return version.isdigit() and held_version.isdigit() and int(version) < int(held_version)
