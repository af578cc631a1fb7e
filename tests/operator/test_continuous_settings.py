"""The continuous-placement settings (orchestrator.service.Settings.from_env): defaults, values, and a
mistake named by its variable."""

from __future__ import annotations

import pytest

from orchestrator.service import Settings


def test_defaults_and_values() -> None:
    s = Settings.from_env({})
    assert (s.qos_check_s, s.reoptimise_s, s.max_concurrent_moves, s.min_gain_ms, s.min_gain_percent) == \
        (2.0, 30.0, 5, 2.0, 20.0)
    s = Settings.from_env({"EDGEORCH_QOS_CHECK_S": "0.5", "EDGEORCH_REOPTIMISE_S": "0", "EDGEORCH_MAX_CONCURRENT_MOVES": "2",
                           "EDGEORCH_MIN_GAIN_MS": "1.5", "EDGEORCH_MIN_GAIN_PERCENT": "10"})
    assert (s.qos_check_s, s.reoptimise_s, s.max_concurrent_moves, s.min_gain_ms, s.min_gain_percent) == \
        (0.5, 0.0, 2, 1.5, 10.0)
    assert isinstance(s.max_concurrent_moves, int)


@pytest.mark.parametrize(("name", "value", "says"), [
    ("EDGEORCH_QOS_CHECK_S", "0", "EDGEORCH_QOS_CHECK_S: must be > 0, got '0'"),
    ("EDGEORCH_REOPTIMISE_S", "-1", "EDGEORCH_REOPTIMISE_S: must be >= 0, got '-1'"),
    ("EDGEORCH_MAX_CONCURRENT_MOVES", "2.5", "EDGEORCH_MAX_CONCURRENT_MOVES: expected an integer, got '2.5'"),
    ("EDGEORCH_MIN_GAIN_MS", "fast", "EDGEORCH_MIN_GAIN_MS: expected a number, got 'fast'"),
    ("EDGEORCH_MIN_GAIN_PERCENT", "nan", "EDGEORCH_MIN_GAIN_PERCENT: must be >= 0, got 'nan'"),
])
def test_a_setting_that_cannot_work_is_named(name: str, value: str, says: str) -> None:
    with pytest.raises(ValueError) as err:
        Settings.from_env({name: value})
    assert str(err.value) == says
