"""Endpoints for apps (#23 item 3) on the real stack, with the operator as its own process: each
EdgeWorkload gets a Service that goes with it, its status says which replica serves each cell, and
the operator's HTTP API answers a ServiceAccount's token with the Pod that serves a cell, refuses
one without rights (403) and a request without a token (401), writes spec.users as the caller, and
streams the relocation when the workload moves."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import pytest
import requests

from tests.endpoints.conftest import AppEnv, events, serving
from tests.operator.conftest import get_json, live_pods, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]


def _service(env: AppEnv) -> dict[str, Any] | None:
    proc = env.stack.kubectl("get", "service", env.name, "-n", env.namespace, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def test_each_workload_has_a_service_that_its_one_writer_keeps(app_env: AppEnv) -> None:
    env = app_env
    svc = wait_for(lambda: _service(env), 30, "the workload's Service")
    uid = env.ew()["metadata"]["uid"]
    assert [(r["kind"], r["uid"], r["controller"]) for r in svc["metadata"]["ownerReferences"]] == \
        [("EdgeWorkload", uid, True)]
    assert svc["spec"]["selector"] == {"edgeorch.io/workload": env.name}
    assert [(p["name"], p["port"], p["targetPort"], p["protocol"]) for p in svc["spec"]["ports"]] == \
        [("http", 8080, 8080, "TCP")]  # from the template's containerPort
    assert svc["spec"]["clusterIP"] not in ("", "None")

    env.stack.kubectl("delete", "service", env.name, "-n", env.namespace)  # by hand: put back
    again = wait_for(lambda: (s := _service(env)) and s["metadata"]["uid"] != svc["metadata"]["uid"] and s, 30,
                     "the Service made again")
    assert again["spec"]["ports"][0]["port"] == 8080

    patch = {"spec": {"service": {"ports": [{"name": "web", "port": 80, "targetPort": 8080}]}}}
    env.stack.kubectl("patch", "edgeworkload", env.name, "-n", env.namespace, "--type=merge", "-p", json.dumps(patch))
    wait_for(lambda: (s := _service(env)) and [(p["name"], p["port"], p["targetPort"]) for p in s["spec"]["ports"]]
             == [("web", 80, 8080)], 30, "the Service's ports as spec.service.ports says")

    env.stack.kubectl("patch", "edgeworkload", env.name, "-n", env.namespace, "--type=merge",
                      "-p", json.dumps({"spec": {"service": {"enabled": False, "ports": None}}}))
    wait_for(lambda: _service(env) is None, 30, "the Service gone (spec.service.enabled: false)")
    env.stack.kubectl("patch", "edgeworkload", env.name, "-n", env.namespace, "--type=merge",
                      "-p", json.dumps({"spec": {"service": None}}))
    wait_for(lambda: _service(env), 30, "the Service back (enabled by default)")
    bad = env.stack.kubectl("patch", "edgeworkload", env.name, "-n", env.namespace, "--type=merge", "-p", json.dumps(
        {"spec": {"service": {"ports": [{"port": 80}, {"port": 81}]}}}), check=False)
    assert bad.returncode != 0 and "spec.service.ports: every port needs a name" in bad.stderr


def test_a_token_with_rights_gets_the_pod_that_serves_a_cell(app_env: AppEnv) -> None:
    env = app_env
    by_cell = wait_for(lambda: serving(env), 60, "every cell served")
    resp = env.call("GET", env.path("endpoints"), env.tokens["reader"], params={"cell": "cell-eixample-1"})
    assert resp.status_code == 200, resp.text
    got = resp.json()
    pods = {p["metadata"]["name"]: p for p in live_pods(env.stack, env.namespace)}
    assert got["pod"] in pods and got["podIP"] == pods[got["pod"]]["status"]["podIP"]  # the Pod's own IP
    assert (got["site"], got["node"]) == ("fe-eixample", pods[got["pod"]]["spec"]["nodeName"])
    assert got["site"] == by_cell["cell-eixample-1"]["site"] and got["ready"] is True
    assert got["ports"] == [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]
    assert got["service"] == f"{env.name}.{env.namespace}.svc" and got["latencyMs"] > 0

    every = env.call("GET", env.path("endpoints"), env.tokens["reader"]).json()
    assert sorted(e["cell"] for e in every["endpoints"]) == ["cell-eixample-1", "cell-gracia-1"]

    for token, status, field in ((env.tokens["stranger"], 403, "namespace"), (None, 401, "Authorization"),
                                 ("not-a-token", 401, "Authorization")):
        denied = env.call("GET", env.path("endpoints"), token, params={"cell": "cell-eixample-1"})
        assert denied.status_code == status and denied.json()["field"] == field, denied.text
        assert "podIP" not in denied.text
    unknown = env.call("GET", env.path("endpoints"), env.tokens["reader"], params={"cell": "cell-sants-1"})
    assert unknown.status_code == 404 and unknown.json()["field"] == "cell"
    missing = env.call("GET", env.path("endpoints", "nothing-here"), env.tokens["reader"])
    assert missing.status_code == 404 and missing.json()["field"] == "name"
    readonly = env.call("PUT", env.path("users"), env.tokens["reader"],
                        json={"cells": [{"cell": "cell-gracia-1", "share": 1}]})
    assert readonly.status_code == 403 and readonly.json()["field"] == "namespace"  # view has no update


def test_put_users_moves_the_workload_and_the_watch_reports_the_relocation(app_env: AppEnv) -> None:
    env = app_env
    before = wait_for(lambda: serving(env), 60, "every cell served")
    assert before["cell-eixample-1"]["site"] == "fe-eixample"
    generation = env.ew()["metadata"]["generation"]
    seen: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    stream = requests.get(env.url + env.path("endpoints"), params={"watch": "true", "cell": "cell-eixample-1",
                                                                   "timeoutSeconds": "120"},
                          headers={"Authorization": f"Bearer {env.tokens['reader']}"}, stream=True, timeout=130)
    assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")

    def follow() -> None:
        try:
            for item in events(stream.iter_lines(decode_unicode=True)):
                seen.put(item)
        except Exception:  # the stream was closed (at the end of the test)
            return

    threading.Thread(target=follow, daemon=True).start()
    first = seen.get(timeout=10)
    assert first[0] == "endpoint" and first[1]["site"] == "fe-eixample" and first[1]["cell"] == "cell-eixample-1"

    users = {"cells": [{"cell": "cell-eixample-1", "share": 0.1}, {"cell": "cell-gracia-1", "share": 0.9}]}
    resp = env.call("PUT", env.path("users"), env.tokens["editor"], json=users)
    assert resp.status_code == 200, resp.text
    assert resp.json()["users"] == users and resp.json()["generation"] == generation + 1
    assert env.ew()["spec"]["users"] == users  # written through the API server, as the editor

    # mostly Gràcia's users now: it moves there.  The status of the new generation may first show the old
    # replica still serving (make before break: a cell changes replica once the new one is Ready), so wait
    # for the move rather than take the first status of the generation.
    after = wait_for(lambda: (s := serving(env)) and {e["site"] for e in s.values()} == {"fe-gracia"} and s, 90,
                     "the workload re-placed for its new users, served from fe-gracia")
    relocation = None
    while relocation is None:
        kind, data = seen.get(timeout=30)
        if kind == "relocation":
            relocation = data
    assert relocation["cell"] == "cell-eixample-1"
    assert relocation["previous"]["site"] == "fe-eixample" and relocation["current"]["site"] == "fe-gracia"
    pods = {p["metadata"]["name"]: p for p in live_pods(env.stack, env.namespace)}
    current = relocation["current"]
    assert current["ready"] and current["podIP"] == pods[current["pod"]]["status"]["podIP"]
    assert after["cell-eixample-1"]["podIP"] == current["podIP"]
    stream.close()

    invalid = env.call("PUT", env.path("users"), env.tokens["editor"],
                       json={"cells": [{"cell": "cell-gracia-1", "share": 0.5}]})
    assert invalid.status_code == 422 and invalid.json()["field"] == "cells", invalid.text
    assert "sum to 1" in invalid.json()["error"]
    assert get_json(env.stack, "edgeworkload", env.name, "-n", env.namespace)["spec"]["users"] == users
