"""The app API's settings (orchestrator.endpoints.server.ApiSettings): a port that cannot work, or half
a TLS configuration, stops the operator at start with the variable's name (as every setting does)."""

from __future__ import annotations

import pytest

from orchestrator.endpoints.server import ApiSettings


def test_the_app_api_settings_refuse_what_cannot_work() -> None:
    assert ApiSettings.from_env({}) == ApiSettings(8443, "127.0.0.1", None, None)
    assert ApiSettings.from_env({"EDGEORCH_API_PORT": "0"}).port == 0  # off
    for env, field in (({"EDGEORCH_API_PORT": "http"}, "EDGEORCH_API_PORT"),
                       ({"EDGEORCH_API_PORT": "70000"}, "EDGEORCH_API_PORT"),
                       ({"EDGEORCH_API_TLS_CERT": "/tls.crt"}, "EDGEORCH_API_TLS_CERT")):
        with pytest.raises(ValueError, match=field):
            ApiSettings.from_env(env)
