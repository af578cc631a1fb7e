"""The app API fuzzed with schemathesis against the running operator (#23 item 3): cases generated
from its own /openapi.json, valid ones and invalid ones, with a token that may edit, one that may do
nothing, a wrong one or none; half of them aimed at a real workload (so they get past authorisation
to the reads and the write).  Every answer must be no 5xx, conform to the document (status, content
type, schema), reject invalid input with a 4xx, and say every error as a JSON body naming the field.
The operator must still answer afterwards (no crash).  Bounded: FUZZ_EXAMPLES cases per operation
and mode (about a minute on two slow cores)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from orchestrator.resources.common import DNS_LABEL, DNS_SUBDOMAIN
from tests.conftest import StackHandle
from tests.endpoints.conftest import AppEnv, make_env

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]
FUZZ_EXAMPLES = 80
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


@pytest.fixture(scope="module")
def fuzz_env(operator: StackHandle) -> Iterator[AppEnv]:
    env = make_env(operator, "app-fuzz", "fuzzed", {"cell-sants-1": 1.0})
    try:
        yield env
    finally:
        operator.kubectl("delete", "namespace", env.namespace, "--timeout=90s", check=False)


def _errors_name_their_field(resp: Any) -> None:
    """(`resp`: schemathesis' Response: lower-case header names, a list of values each)"""
    assert resp.status_code < 500, f"{resp.status_code}: {resp.text[:500]}"
    if resp.status_code >= 400:
        assert resp.headers["content-type"][0].startswith("application/json"), resp.headers
        body: Any = json.loads(resp.text)
        assert isinstance(body, dict) and set(body) == {"error", "field"}, body
        assert isinstance(body["error"], str) and body["error"], body
        assert isinstance(body["field"], str) and body["field"], body  # every error names what it is about


CELLS = ["cell-sants-1", "cell-sants-2", "cell-les-corts-1", "cell-eixample-1", "cell-gracia-1"]


@st.composite
def user_distributions(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec.users (distinct known cells, shares summing to 1): the schema cannot say "sum to 1",
    so random bodies almost never get past that rule; these do, and are written."""
    cells = draw(st.lists(st.sampled_from(CELLS), min_size=1, max_size=3, unique=True))
    weights = draw(st.lists(st.integers(1, 9), min_size=len(cells), max_size=len(cells)))
    return {"cells": [{"cell": c, "share": w / sum(weights)} for c, w in zip(cells, weights, strict=True)]}


def _valid_path(params: dict[str, Any] | None) -> bool:
    return bool(params) and all(isinstance(params.get(k), str) and re.fullmatch(p, params[k]) for k, p in
                                (("namespace", DNS_LABEL), ("name", DNS_SUBDOMAIN)))


def _fuzz(env: AppEnv, operation: Any, mode: GenerationMode, counts: dict[str, int]) -> None:
    """FUZZ_EXAMPLES cases of one operation in one mode; `counts` gets "METHOD what mode status" tallies."""
    tokens = st.sampled_from([env.tokens["editor"], env.tokens["editor"], env.tokens["stranger"], "not-a-token", None])

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), token=tokens, aim=st.booleans(), users=user_distributions())
    def call(case: Any, token: str | None, aim: bool, users: dict[str, Any]) -> None:
        if aim and _valid_path(case.path_parameters):  # past authorisation, to the real workload
            case.path_parameters.update(namespace=env.namespace, name=env.name)
            if mode == GenerationMode.POSITIVE and operation.method.upper() == "PUT":
                case.body = users
        if isinstance(case.query, dict) and str(case.query.get("watch")).lower() in ("true", "1"):
            case.query["timeoutSeconds"] = 1  # a watch answers as a stream until it times out
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = case.call(base_url=env.url, headers=headers, timeout=30)
        _errors_name_their_field(resp)
        case.validate_response(resp, checks=CHECKS, headers=headers)
        label = f"{operation.method.upper()} {operation.path.rsplit('/', 1)[-1]} {mode.value} {resp.status_code}"
        counts[label] = counts.get(label, 0) + 1

    call()


def test_the_app_api_survives_fuzzing(fuzz_env: AppEnv) -> None:
    env = fuzz_env
    schema = schemathesis.openapi.from_url(env.url + "/openapi.json")
    counts: dict[str, int] = {}
    started = time.monotonic()
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(env, result.ok(), mode, counts)
    print(f"fuzzed in {time.monotonic() - started:.1f} s:", dict(sorted(counts.items())))
    assert counts.get("PUT users positive 200"), counts  # valid users were written
    assert counts.get("GET endpoints positive 200"), counts  # and endpoints read
    assert counts.get("PUT users negative 422") or counts.get("PUT users negative 400"), counts
    alive = env.call("GET", env.path("endpoints"), env.tokens["reader"])
    assert alive.status_code == 200 and alive.json()["workload"] == env.name, alive.text  # the operator still answers
