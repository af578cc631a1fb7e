"""SLAs that mean what they say (#22), on the real stack (API server, Prometheus, anvil, the operator):
the shipped sample evaluates to data and `edgeorch sla verify -n NS NAME` matches it; no data is never
compliance; an agreement goes on chain only once its workload exists and Prometheus has parsed its
PromQL; repeated Warnings are one Event whose count grows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from devstack.cli import main
from tests.conftest import StackHandle
from tests.operator.conftest import apply_all, get_json, own_namespace, wait_for, workload
from tests.qos.conftest import on_chain, sla

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus, pytest.mark.chain]
SAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "samples"
CELL = "cell-sants-1"


def _sla(stack: StackHandle, ns: str, name: str) -> dict[str, Any]:
    return get_json(stack, "sla", name, "-n", ns)  # type: ignore[no-any-return]


def _conds(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def _events(stack: StackHandle, ns: str, name: str, reason: str) -> list[dict[str, Any]]:
    items = get_json(stack, "events", "-n", ns, "--field-selector", f"involvedObject.name={name}")["items"]
    return [e for e in items if e["reason"] == reason]


def _cli(stack: StackHandle, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["sla", *args, "--kubeconfig", str(stack.kubeconfig), "--rpc-url",
                                       stack.chain_url, "--state-dir", str(stack.state_dir)])
    assert result.exit_code == code, result.output
    return result.output


def _with_metric(doc: dict[str, Any], *metrics: str) -> dict[str, Any]:
    first = doc["spec"]["objectives"][0]
    doc["spec"]["objectives"] = [{**first, "name": f"o{i}", "metric": m} for i, m in enumerate(metrics)]
    return doc


def test_the_shipped_sample_sla_has_data_and_verifies_by_name(operator: StackHandle) -> None:
    with own_namespace(operator, "sample-sla") as ns:
        operator.kubectl("apply", "-n", ns, "-f", str(SAMPLES / "video-analytics.yaml"),
                         "-f", str(SAMPLES / "video-analytics-sla.yaml"))
        st = wait_for(lambda: (lambda s: s if s.get("agreementId") and all(
            o.get("lastValue") is not None for o in s.get("objectives") or [{}]) else None)(
            _sla(operator, ns, "video-analytics-sla").get("status") or {}), 90, "the sample evaluated with data")
        assert [o["name"] for o in st["objectives"]] == ["latency", "failures"]
        assert all(o["state"] in ("Ok", "Breached") for o in st["objectives"]), st["objectives"]
        compliant = _conds(_sla(operator, ns, "video-analytics-sla"))["Compliant"]
        assert compliant["status"] in ("True", "False") and compliant["reason"] != "NoData", compliant
        assert st["compliance"] is not None

        assert _cli(operator, "verify", "-n", ns, "video-analytics-sla").startswith("MATCH")
        uid = _sla(operator, ns, "video-analytics-sla")["metadata"]["uid"]
        shipped = str(SAMPLES / "video-analytics-sla.yaml")
        assert _cli(operator, "verify", "--spec", shipped, "--uid", uid).startswith("MATCH")  # the file as shipped
        assert _cli(operator, "verify", "--spec", shipped, "-n", ns, "video-analytics-sla").startswith("MATCH")
        shown = json.loads(_cli(operator, "show", "-n", ns, "video-analytics-sla", "--json"))
        assert shown["agreement_id"] == st["agreementId"] and shown["status"] == "active"
        assert json.loads(_cli(operator, "show", uid, "--json")) == shown
        assert "created  version 1" in _cli(operator, "history", "-n", ns, "video-analytics-sla")
        out = _cli(operator, "show", "-n", ns, "no-such-sla", code=2)
        assert f"no ServiceLevelAgreement 'no-such-sla' in namespace '{ns}'" in out


def test_no_data_is_unknown_never_compliant(operator: StackHandle) -> None:
    with own_namespace(operator, "sla-no-data") as ns:
        missing = 'max by (site) (edgeorch_no_such_series_ms{workload="$workload"})'
        apply_all(operator, [workload("quiet", ns, cells={CELL: 1.0}, max_latency_ms=30),
                             _with_metric(sla("nothing-sla", ns, "quiet"), missing),
                             _with_metric(sla("half-sla", ns, "quiet"), "p95_latency_ms", missing)])

        def evaluated(name: str) -> dict[str, Any] | None:
            obj = _sla(operator, ns, name)
            compliant = _conds(obj).get("Compliant") or {}
            return obj if (obj.get("status") or {}).get("agreementId") and compliant.get("reason") == "NoData" else None

        nothing = wait_for(lambda: evaluated("nothing-sla"), 60, "nothing-sla evaluated without data")
        compliant = _conds(nothing)["Compliant"]
        assert compliant["status"] == "Unknown" and "edgeorch_no_such_series_ms" in compliant["message"], compliant
        assert "compliance" not in nothing["status"], nothing["status"]  # not 1: nothing was measured
        assert [o["state"] for o in nothing["status"]["objectives"]] == ["NoData"]

        half = wait_for(lambda: (lambda o: o if o and o["status"].get("compliance") is not None else None)(
            evaluated("half-sla")), 60, "half-sla evaluated, one objective with data")
        states = {o["name"]: o["state"] for o in half["status"]["objectives"]}
        assert states == {"o0": "Ok", "o1": "NoData"}, states
        assert _conds(half)["Compliant"]["status"] == "Unknown" and "objective o1" in _conds(half)["Compliant"]["message"]
        assert half["status"]["compliance"] == 1.0  # over o0's windows only


def test_an_sla_waits_for_its_workload_before_going_on_chain(operator: StackHandle) -> None:
    with own_namespace(operator, "sla-orphan") as ns:
        apply_all(operator, [sla("orphan-sla", ns, "ghost", interval=1)])
        obj = wait_for(lambda: (lambda o: o if (_conds(o).get("Recorded") or {}).get("reason") == "WorkloadNotFound"
                                else None)(_sla(operator, ns, "orphan-sla")), 30, "Recorded: WorkloadNotFound")
        recorded, compliant = _conds(obj)["Recorded"], _conds(obj)["Compliant"]
        assert recorded["status"] == "False" and f"EdgeWorkload {ns}/ghost does not exist" in recorded["message"]
        assert (compliant["status"], compliant["reason"]) == ("Unknown", "WorkloadNotFound")
        assert "agreementId" not in obj["status"] and "compliance" not in obj["status"]
        uid = obj["metadata"]["uid"]
        # checked again every interval: one Warning whose count grows, and still nothing on chain
        said = wait_for(lambda: (lambda es: es if len(es) == 1 and es[0].get("count", 1) >= 3 else None)(
            _events(operator, ns, "orphan-sla", "WorkloadNotFound")), 30, "one WorkloadNotFound Warning counted 3 times")
        assert said[0]["type"] == "Warning"
        assert not on_chain(operator, uid)
        out = _cli(operator, "show", "-n", ns, "orphan-sla", code=2)
        assert "is not on chain (WorkloadNotFound" in out, out

        apply_all(operator, [workload("ghost", ns, cells={CELL: 1.0}, max_latency_ms=30)])
        st = wait_for(lambda: (_sla(operator, ns, "orphan-sla").get("status") or {}).get("agreementId") and
                      _sla(operator, ns, "orphan-sla")["status"], 30, "recorded once the workload exists")
        assert on_chain(operator, uid)
        assert _conds(_sla(operator, ns, "orphan-sla"))["Recorded"]["status"] == "True", st


def test_promql_is_checked_by_prometheus_before_the_chain(operator: StackHandle) -> None:
    with own_namespace(operator, "sla-bad-promql") as ns:
        apply_all(operator, [workload("target", ns, cells={CELL: 1.0}, max_latency_ms=30),
                             _with_metric(sla("typo-sla", ns, "target"), "sum(rate(edgeorch_app_requests_failed_total[1m])"),
                             _with_metric(sla("range-sla", ns, "target"), "edgeorch_link_latency_seconds[1m]")])

        def refused(name: str) -> dict[str, Any] | None:
            obj = _sla(operator, ns, name)
            return obj if (_conds(obj).get("Recorded") or {}).get("reason") == "QueryInvalid" else None

        typo = wait_for(lambda: refused("typo-sla"), 30, "typo-sla refused")
        message = _conds(typo)["Recorded"]["message"]
        assert "objective o0: Prometheus rejects its PromQL" in message and "parse error" in message, message
        assert _conds(typo)["Recorded"]["status"] == "False"
        assert "unclosed left parenthesis" in message or "unexpected end of input" in message, message
        ranged = wait_for(lambda: refused("range-sla"), 30, "range-sla refused")
        assert "range vector" in _conds(ranged)["Recorded"]["message"] or "matrix" in _conds(ranged)["Recorded"]["message"]
        said = _events(operator, ns, "typo-sla", "QueryInvalid")
        assert len(said) == 1 and said[0]["type"] == "Warning" and "parse error" in said[0]["message"], said
        for obj in (typo, ranged):
            assert "agreementId" not in obj["status"] and not on_chain(operator, obj["metadata"]["uid"])

        operator.kubectl("patch", "sla", "typo-sla", "-n", ns, "--type=json", "-p",
                         json.dumps([{"op": "replace", "path": "/spec/objectives/0/metric", "value": "p95_latency_ms"}]))
        wait_for(lambda: (_sla(operator, ns, "typo-sla").get("status") or {}).get("agreementId"), 30,
                 "recorded once the PromQL is fixed")
        assert on_chain(operator, typo["metadata"]["uid"])
        assert not on_chain(operator, ranged["metadata"]["uid"])
        said = _events(operator, ns, "range-sla", "QueryInvalid")  # said once: not tried again until the spec changes
        assert len(said) == 1 and said[0].get("count", 1) == 1, said


def test_an_unplaceable_workload_says_so_in_one_event_whose_count_grows(operator: StackHandle) -> None:
    with own_namespace(operator, "unplaceable-events") as ns:
        apply_all(operator, [workload("too-far", ns, cells={CELL: 1.0}, max_latency_ms=0.01)])
        said = wait_for(lambda: (lambda es: es if es and es[0].get("count", 1) >= 2 else None)(
            _events(operator, ns, "too-far", "Unplaceable")), 80, "the Unplaceable Warning said twice (30 s apart)")
        assert len(said) == 1 and said[0]["type"] == "Warning", [(e["message"], e.get("count")) for e in said]
        assert get_json(operator, "ew", "too-far", "-n", ns)["status"]["phase"] == "Unplaceable"


def test_sample_file_is_what_the_demo_applies() -> None:
    from devstack import story

    sample = yaml.safe_load((SAMPLES / "video-analytics-sla.yaml").read_text())
    applied = story.demo_sla(sample, "elsewhere")
    assert applied["spec"] == sample["spec"] and applied["metadata"]["namespace"] == "elsewhere"
