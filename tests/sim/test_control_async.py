"""The async control client against the exporter's app served in process."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from sim.control import ControlError, ExporterControl
from sim.exporter import Exporter, build_app
from sim.faults import CityState
from sim.qos import QoSModel
from sim.scenario import load_scenario


async def test_async_client_round_trip() -> None:
    exporter = Exporter(QoSModel(CityState(load_scenario("mini"))))
    server = TestServer(build_app(exporter))
    await server.start_server()
    try:
        async with ExporterControl(str(server.make_url(""))) as ctl:
            assert (await ctl.healthz())["scenario"] == "mini"
            lat = await ctl.inject_latency("mec-22at", 12.5, cell="cell-gracia-1")
            cpu = await ctl.saturate_cpu("mec-22at-n01", 3)
            off = await ctl.take_offline("cloud-frankfurt")
            assert len({lat, cpu, off}) == 3
            assert [f["kind"] for f in await ctl.faults()] == ["latency", "cpu", "offline"]
            assert exporter.model.link_latency_ms("cell-gracia-1", "mec-22at") == pytest.approx(
                exporter.model.base_latency_ms("cell-gracia-1", "mec-22at") + 12.5)
            assert await ctl.heal(cpu) == [cpu]
            assert sorted(await ctl.heal()) == sorted([lat, off])
            with pytest.raises(ControlError) as err:
                await ctl.saturate_cpu("nope", 1)
            assert err.value.status == 400
            assert err.value.message.startswith("node:")
            placed = await ctl.set_workload_site("ns", "app", "fe-eixample", {"cell-eixample-1": 2})
            assert placed == {"workload": "ns/app", "site": "fe-eixample", "cells": {"cell-eixample-1": 2.0}, "replicas": 1}
            assert set(await ctl.workloads()) == {"ns/app"}
            await ctl.remove_workload("ns", "app")
            with pytest.raises(ControlError, match="404"):
                await ctl.remove_workload("ns", "app")
    finally:
        await server.close()


async def test_async_client_starts_moves_and_removes_groups() -> None:
    exporter = Exporter(QoSModel(CityState(load_scenario("barcelona"))))
    server = TestServer(build_app(exporter))
    await server.start_server()
    try:
        async with ExporterControl(str(server.make_url(""))) as ctl:
            bus = await ctl.start_bus("tracker", "v15", users=10)
            crowd = await ctl.start_crowd("stadium", {"cell-les-corts-1": 1}, users=300, ramp_s=0, hold_s=60)
            assert (bus["stop"], bus["cells_now"]) == (0, {"cell-sants-1": 10.0})
            assert crowd["cells_now"] == {"cell-les-corts-1": 300.0}
            assert (await ctl.move_bus(bus["id"], 4))["cells_now"] == {"cell-poblenou-1": 10.0}
            assert exporter.groups.cell_users() == {("cell-poblenou-1", "tracker"): 10.0,
                                                    ("cell-les-corts-1", "stadium"): 300.0}
            with pytest.raises(ControlError, match=r"stop: group .* is a crowd"):
                await ctl.move_bus(crowd["id"], 0)
            assert await ctl.remove_groups(crowd["id"]) == [crowd["id"]]
            assert [g["id"] for g in await ctl.groups()] == [bus["id"]]
            with pytest.raises(ControlError, match="404"):
                await ctl.remove_groups(crowd["id"])
    finally:
        await server.close()
