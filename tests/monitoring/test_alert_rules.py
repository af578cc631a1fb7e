"""edgeorch's alert rules (deploy/monitoring/edgeorch-alerts.yaml) with the real promtool (check rules,
and the unit tests of edgeorch-alerts.test.yaml), and loaded by the local stack's real Prometheus; the
PrometheusRule manifest carries the same groups."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from devstack.localstack.tools import promtool_binary
from devstack.monitoring import RULES, prometheus_rule
from tests.conftest import StackHandle
from tests.operator.conftest import wait_for

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
ALERTS = {"EdgeorchOperatorDown", "EdgeorchPlacementStuck", "EdgeorchWorkloadUnplaceable", "EdgeorchSLAComplianceLow",
          "EdgeorchLedgerBacklogGrowing"}


def promtool(*args: str) -> str:
    proc = subprocess.run([str(promtool_binary()), *args], cwd=MONITORING, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def alert_names() -> set[str]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}


def test_the_rules_pass_promtool_check() -> None:
    assert alert_names() == ALERTS
    assert "SUCCESS: 5 rules found" in promtool("check", "rules", RULES.name)


def test_the_rules_unit_tests_pass_and_test_every_alert() -> None:
    tests = yaml.safe_load((MONITORING / "edgeorch-alerts.test.yaml").read_text())
    tested = {t["alertname"] for case in tests["tests"] for t in case.get("alert_rule_test", [])}
    assert tested == ALERTS
    fires = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"] if t["exp_alerts"]}
    quiet = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"] if not t["exp_alerts"]}
    assert fires == quiet == ALERTS, "each alert is tested both firing and not firing"
    assert "SUCCESS" in promtool("test", "rules", "edgeorch-alerts.test.yaml")


def test_promtool_test_fails_when_an_alert_changes(tmp_path: Path) -> None:
    """The unit tests can fail: the same tests against rules whose Unplaceable alert waits 10 minutes."""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "EdgeorchWorkloadUnplaceable":
                rule["for"] = "10m"
    (tmp_path / RULES.name).write_text(yaml.safe_dump(doc))
    (tmp_path / "t.yaml").write_text((MONITORING / "edgeorch-alerts.test.yaml").read_text())
    proc = subprocess.run([str(promtool_binary()), "test", "rules", "t.yaml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "EdgeorchWorkloadUnplaceable" in proc.stdout + proc.stderr


def test_the_prometheusrule_manifest_has_the_same_groups() -> None:
    shipped = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert shipped == prometheus_rule(), "regenerate it: python -m devstack.monitoring"
    assert shipped["kind"] == "PrometheusRule" and shipped["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def _rules(prometheus_url: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/rules?type=alert", timeout=5) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", body
    return [r for g in body["data"]["groups"] for r in g["rules"]]


@pytest.mark.cluster
@pytest.mark.prometheus
def test_the_stacks_prometheus_loads_and_evaluates_the_rules(stack: StackHandle) -> None:
    config = yaml.safe_load((stack.state_dir / "prometheus.yml").read_text())
    assert config["rule_files"] == [str(RULES)]
    rules = wait_for(lambda: (lambda rs: rs if {r["name"] for r in rs} == ALERTS and
                              all(r.get("lastEvaluation", "").startswith("2") and r["health"] == "ok" for r in rs)
                              else None)(_rules(stack.prometheus_url)), 30, "the alert rules loaded and evaluated")
    assert all(not r.get("lastError") for r in rules), rules
