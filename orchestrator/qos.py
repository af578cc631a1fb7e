"""Pure QoS evaluation: named metrics to PromQL, severities, and the hysteresis of an objective.

An objective is breached after K bad windows in a row and recovers after M good ones, so noise never
flaps placements.  Windows are aligned to the evaluation interval, which makes the breach id (chain id,
contract, agreement, objective, window start) the same however often an evaluation is retried.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from orchestrator.resources.sla import Comparator, ObjectiveStatus, Severity, SlaObjective
from orchestrator.vocabulary import NamedMetric, ObjectiveState

# Named metrics: PromQL templates over the app's own QoS series, grouped by site so the evaluator can
# tell which site hosts the trouble.  $workload is "namespace/name", $window the objective's window.
NAMED_METRICS: dict[str, str] = {
    NamedMetric.P95_LATENCY_MS: '1000 * histogram_quantile(0.95, sum by (le, site) '
                      '(rate(edgeorch_app_request_latency_seconds_bucket{workload="$workload"}[$window])))',
    NamedMetric.P50_LATENCY_MS: '1000 * histogram_quantile(0.5, sum by (le, site) '
                      '(rate(edgeorch_app_request_latency_seconds_bucket{workload="$workload"}[$window])))',
    NamedMetric.MEAN_LATENCY_MS: '1000 * sum by (site) (rate(edgeorch_app_request_latency_seconds_sum{workload="$workload"}[$window]))'
                       ' / sum by (site) (rate(edgeorch_app_request_latency_seconds_count{workload="$workload"}[$window]))',
    # a counter appears with its first failure: until then a site's failures are 0, not missing
    NamedMetric.FAILURE_RATIO: '(sum by (site) (rate(edgeorch_app_requests_failed_total{workload="$workload"}[$window]))'
                               ' or 0 * sum by (site) (rate(edgeorch_app_request_latency_seconds_count{workload="$workload"}[$window])))'
                               ' / sum by (site) (rate(edgeorch_app_request_latency_seconds_count{workload="$workload"}[$window]))',
}
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def window_seconds(window: str) -> int:
    """'1m30s' -> 90 (at least 1)."""
    total = sum(float(n) * _UNITS[u] for n, u in re.findall(r"([0-9.]+)(ms|s|m|h)", window))
    return max(1, round(total))


def promql(objective: SlaObjective, workload: str) -> str:
    """The PromQL of an objective: a named metric's template, or the expression as written, with
    $workload and $window substituted."""
    template = NAMED_METRICS.get(objective.metric.strip(), objective.metric)
    return template.replace("$workload", workload).replace("$window", objective.window)


def violates(comparator: Comparator, value: float, threshold: float) -> bool:
    """Whether `value` is on the bad side of `threshold` (comparator says what good is)."""
    if comparator == Comparator.LT:
        return not value < threshold
    if comparator == Comparator.LE:
        return not value <= threshold
    if comparator == Comparator.GT:
        return not value > threshold
    return not value >= threshold


def severity(objective: SlaObjective, value: float) -> Severity | None:
    """The worst severity level `value` reaches (None: the objective is met)."""
    worst: Severity | None = None
    for level, threshold in objective.thresholds.present():
        if violates(objective.comparator, value, threshold):
            worst = level
    return worst


def worst_value(objective: SlaObjective, values: list[float]) -> float:
    return max(values) if objective.comparator.lower_is_better else min(values)


@dataclass(frozen=True)
class Step:
    """One evaluation of one objective."""

    status: ObjectiveStatus
    transition: str | None  # "breach" | "recover" | None
    severity: Severity | None


def step(previous: ObjectiveStatus | None, name: str, value: float | None, sev: Severity | None,
         breach_after: int, recover_after: int) -> Step:
    """Advance an objective's state by one window (value None: no data, which changes nothing)."""
    prev = previous or ObjectiveStatus(name=name, state=ObjectiveState.OK)
    if value is None:
        return Step(prev.model_copy(update={"state": ObjectiveState.NO_DATA if prev.state != ObjectiveState.BREACHED
                                            else prev.state}), None, prev.severity)
    breached = prev.state == ObjectiveState.BREACHED
    if sev is not None:
        bad, good = prev.bad_windows + 1, 0
        if not breached and bad >= breach_after:
            return Step(ObjectiveStatus(name=name, state=ObjectiveState.BREACHED, bad_windows=bad, good_windows=0,
                                        last_value=value, severity=sev), "breach", sev)
        state = ObjectiveState.BREACHED if breached else ObjectiveState.OK
        return Step(ObjectiveStatus(name=name, state=state, bad_windows=bad, good_windows=good, last_value=value,
                                    severity=prev.severity if breached else None), None, sev)
    bad, good = 0, prev.good_windows + 1
    if breached and good >= recover_after:
        return Step(ObjectiveStatus(name=name, state=ObjectiveState.OK, bad_windows=0, good_windows=good,
                                    last_value=value, severity=None), "recover", None)
    state = ObjectiveState.BREACHED if breached else ObjectiveState.OK
    return Step(ObjectiveStatus(name=name, state=state, bad_windows=bad, good_windows=good, last_value=value,
                                severity=prev.severity if breached else None), None, None)


def aligned_window(now: float, interval_s: int, window_s: int) -> tuple[int, int]:
    """(start, end) of the window ending at the last interval boundary before `now`."""
    end = int(now) // interval_s * interval_s
    return end - window_s, end


def evidence(query: str, result: list[tuple[dict[str, str], float]], window: tuple[int, int]) -> tuple[str, bytes]:
    """The evidence of a breach: canonical JSON of the query, its result and window, and its hash."""
    doc: dict[str, Any] = {"query": query, "window": list(window),
                           "result": sorted([[sorted(m.items()), v] for m, v in result], key=str)}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return text, hashlib.sha3_256(text.encode()).digest()
