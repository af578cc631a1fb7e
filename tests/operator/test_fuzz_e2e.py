"""Fuzzed EdgeWorkloads, EdgeSites and ServiceLevelAgreements against the real API server and the
running operator (bench.fuzz, a smaller run than `python -m bench.fuzz`): every object is refused
naming the field or gets a status; the operator keeps serving the control workloads and never dies."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from bench.fuzz import FINE, fuzz_cases, run, scenario_cells, table
from orchestrator.kube.sync import api_client
from tests.conftest import DEFAULT_SCENARIO, StackHandle

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus, pytest.mark.chain]

OBJECTS = 60
SEED = 24


def test_fuzzed_objects_are_refused_naming_the_field_or_answered(operator: StackHandle, tmp_path: Path) -> None:
    cells = scenario_cells(DEFAULT_SCENARIO)
    cases = fuzz_cases(OBJECTS, SEED, DEFAULT_SCENARIO)
    log = operator.state_dir / "logs" / "operator.log"
    offset = log.stat().st_size if log.exists() else 0

    def new_log() -> str:
        with log.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    api = api_client(operator.kubeconfig)
    try:
        result = run(api, cases, namespace="fuzz", cells=cells, answer_s=30, batch=30,
                     operator_pid=lambda: operator.stack.supervisor.pid("operator"), operator_log=new_log)
    finally:
        api.close()
    print(table(result))
    (tmp_path / "fuzz.json").write_text(json.dumps(
        {"seed": SEED, **result.summary(), "outcomes": [asdict(o) for o in result.outcomes]}, indent=1))
    print(f"wrote {tmp_path / 'fuzz.json'}")
    assert len(result.outcomes) == OBJECTS
    assert {o.kind for o in result.outcomes if o.klass == "answered"} == {"EdgeWorkload", "EdgeSite",
                                                                         "ServiceLevelAgreement"}
    assert any(o.klass == "rejected" for o in result.outcomes)
    assert result.failures() == [], "\n".join(result.failures())
    assert all(o.klass in FINE for o in result.outcomes)
