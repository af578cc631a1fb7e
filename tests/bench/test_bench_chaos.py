"""Smoke test of the chaos benchmark (bench/chaos.py): one round each of the leader's kill -9 and of its
partition from the API server, on the benchmark's own real stack.  Every count must be 0 and every round
must converge (within the bench's 120 s); the 30 s convergence target is the benchmark's to report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.chaos import COUNTS, main

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus, pytest.mark.chain, pytest.mark.slow]


def test_one_round_of_a_kill_and_a_partition_loses_and_doubles_nothing(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    main(["--rounds", "1", "--kinds", "operator-kill9", "partition", "--seed", "7", "--output", str(out),
          "--state-dir", str(tmp_path / "state")])
    data = json.loads(out.read_text())
    assert [k["kind"] for k in data["kinds"]] == ["operator-kill9", "partition"]
    for run in data["runs"]:
        assert run["converge_s"] is not None, run
        assert {k: run[k] for k in COUNTS} == dict.fromkeys(COUNTS, 0), run
        assert run["breaches"] >= 1, run  # the latency at the agreements' sites did cause breaches
    assert {k["kind"]: k["runs"] for k in data["kinds"]} == {"operator-kill9": 1, "partition": 1}
