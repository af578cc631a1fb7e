"""The election's settings and the Lease record (orchestrator.leader), without a cluster: client-go's rules
on the timings, the identity a restarted container keeps, and the spec written to the Lease."""

from __future__ import annotations

import pytest

from orchestrator.leader import LeaseConfig, LeaseRecord, micro_time


def test_defaults_follow_the_pod_and_client_gos_order_of_timings() -> None:
    cfg = LeaseConfig.from_env({"POD_NAME": "edgeorch-operator-abc", "POD_NAMESPACE": "edgeorch-system"})
    assert (cfg.identity, cfg.namespace, cfg.name) == ("edgeorch-operator-abc", "edgeorch-system", "edgeorch-operator")
    assert cfg.lease_duration_s > cfg.renew_deadline_s > 1.2 * cfg.retry_period_s > 0


def test_without_a_pod_name_each_process_is_a_new_candidate() -> None:
    a, b = LeaseConfig.from_env({}), LeaseConfig.from_env({})
    assert a.identity != b.identity and a.namespace == "default"


@pytest.mark.parametrize(("env", "names"), [
    ({"EDGEORCH_LEASE_DURATION_S": "5", "EDGEORCH_LEASE_RENEW_DEADLINE_S": "5"}, "EDGEORCH_LEASE_DURATION_S"),
    ({"EDGEORCH_LEASE_RENEW_DEADLINE_S": "1", "EDGEORCH_LEASE_RETRY_S": "1"}, "EDGEORCH_LEASE_RETRY_S"),
    ({"EDGEORCH_LEASE_RETRY_S": "0"}, "EDGEORCH_LEASE_RETRY_S"),
    ({"EDGEORCH_LEASE_DURATION_S": "soon"}, "EDGEORCH_LEASE_DURATION_S"),
])
def test_timings_that_cannot_elect_safely_are_refused_naming_the_setting(env: dict[str, str], names: str) -> None:
    with pytest.raises(ValueError, match=names):
        LeaseConfig.from_env({"POD_NAME": "p", **env})


def test_the_record_round_trips_through_the_lease_spec() -> None:
    now = micro_time(1_700_000_000.25)
    assert now == "2023-11-14T22:13:20.250000Z"
    rec = LeaseRecord("p-1", 8, now, now, 3)
    spec = rec.spec()
    assert spec == {"holderIdentity": "p-1", "leaseDurationSeconds": 8, "acquireTime": now, "renewTime": now,
                    "leaseTransitions": 3}
    assert LeaseRecord.of({"spec": spec}) == rec
    assert LeaseRecord.of({}) == LeaseRecord()
