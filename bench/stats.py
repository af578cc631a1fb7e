"""The one percentile definition every benchmark reports (nearest rank: a reported p95 is a value
that was measured, and at least 95 % of the measurements are at or below it)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile, `q` in 0..1; NaN when there are no values."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]
