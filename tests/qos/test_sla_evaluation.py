"""The SLA evaluation's pure rules (orchestrator.slas), with an in-memory Prometheus: no data is never
compliance, a query Prometheus rejects gets its own reason, and the precheck's verdicts."""

from __future__ import annotations

from typing import Any

from orchestrator import slas
from orchestrator.prometheus import MetricsUnavailable, QueryRejected, Sample
from orchestrator.vocabulary import ObjectiveState, Reason
from tests.qos.conftest import sla

NOW = 1_800_000_000.0


class Answers:
    """Prometheus as a table: a query's samples, or the exception it raises (by a substring of the query)."""

    def __init__(self, answers: dict[str, list[Sample] | Exception]) -> None:
        self.answers = answers

    async def query(self, promql: str) -> list[Sample]:
        for needle, answer in self.answers.items():
            if needle in promql:
                if isinstance(answer, Exception):
                    raise answer
                return answer
        return []


def _body(*metrics: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = sla("s", "ns", "w")
    first = doc["spec"]["objectives"][0]
    doc["spec"]["objectives"] = [{**first, "name": f"o{i}", "metric": m} for i, m in enumerate(metrics)]
    doc["metadata"].update(uid="u-1", generation=1)
    doc["status"] = status or {}
    return doc


def _conds(upd: slas.SlaUpdate) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in upd.status.get("conditions") or []}


async def test_without_any_data_compliant_is_unknown_and_compliance_unset() -> None:
    upd = await slas.evaluate(_body("p95_latency_ms"), Answers({}), ("fe-1",), NOW)  # type: ignore[arg-type]
    status, reason, message = _conds(upd)["Compliant"]
    assert (status, reason) == ("Unknown", Reason.NO_DATA) and "objective o0: no samples of" in message
    assert upd.status.get("compliance") is None  # unset (None in a merge patch), not 1
    assert [o["state"] for o in upd.status["objectives"]] == [ObjectiveState.NO_DATA]


async def test_compliance_counts_only_objectives_with_data() -> None:
    prom = Answers({"edgeorch_app_request_latency_seconds_bucket": [({"site": "fe-1"}, 5.0)]})
    upd = await slas.evaluate(_body("p95_latency_ms", "absent_metric"), prom, ("fe-1",), NOW)  # type: ignore[arg-type]
    assert upd.status["compliance"] == 1.0 and _conds(upd)["Compliant"][:2] == ("Unknown", Reason.NO_DATA)
    prev = {"compliance": 0.5, "objectives": [{"name": "o0", "state": "Ok"}]}
    upd = await slas.evaluate(_body("p95_latency_ms", status=prev), prom, ("fe-1",), NOW)  # type: ignore[arg-type]
    assert upd.status["compliance"] == round(0.95 * 0.5 + 0.05, 4) and _conds(upd)["Compliant"][0] == "True"


async def test_a_rejected_query_is_not_prometheus_unreachable() -> None:
    bad = QueryRejected("x(", "bad_data", "1:3: parse error: unclosed left parenthesis")
    upd = await slas.evaluate(_body("x(", "p95_latency_ms"), Answers({"x(": bad}), (), NOW)  # type: ignore[arg-type]
    status, reason, message = _conds(upd)["MetricsUnavailable"]
    assert (status, reason) == ("True", Reason.QUERY_INVALID) and "unclosed left parenthesis" in message
    assert _conds(upd)["Compliant"][:2] == ("Unknown", Reason.QUERY_INVALID)
    assert [e[1] for e in upd.events] == [Reason.QUERY_INVALID]
    down = await slas.evaluate(_body("x"), Answers({"x": MetricsUnavailable("refused")}), (), NOW)  # type: ignore[arg-type]
    assert _conds(down)["MetricsUnavailable"][1] == Reason.PROMETHEUS_UNREACHABLE


async def test_the_precheck_says_what_blocks_the_chain() -> None:
    bad = QueryRejected("x(", "bad_data", "parse error")
    verdict = await slas.precheck(_body("x("), Answers({"x(": bad}), True)  # type: ignore[arg-type]
    assert verdict is not None and verdict.reason == Reason.QUERY_INVALID and not verdict.retry
    failed = QueryRejected("y", "execution", "many-to-many matching not allowed")
    assert await slas.precheck(_body("y"), Answers({"y": failed}), True) is None  # type: ignore[arg-type]
    verdict = await slas.precheck(_body("z"), Answers({"z": MetricsUnavailable("refused")}), True)  # type: ignore[arg-type]
    assert verdict is not None and verdict.reason == Reason.PROMETHEUS_UNREACHABLE and verdict.retry
    verdict = await slas.precheck(_body("p95_latency_ms"), Answers({}), False)  # type: ignore[arg-type]
    assert verdict is not None and verdict.reason == Reason.WORKLOAD_NOT_FOUND and verdict.retry
    upd = slas.record(_body("p95_latency_ms"), verdict)
    assert not upd.new_records and "observedGeneration" not in upd.status  # checked again later
