"""Priority buys the better places (#20 item 2), on the real stack.  Four apps whose users are in
Poblenou, each wanting one GPU on the far-edge or in the cloud: the far-edge cabinet fe-poblenou
(1.5 ms) has two nodes of one GPU each, so exactly two fit there and the others go to a cloud
(23 ms and more).  Whatever the order they are created in, and all at once, the two highest
priorities end at fe-poblenou; raising a cloud app's priority moves it in (and the app it displaces
gets a Preempted Event naming it, while every app keeps a Ready replica: make before break);
deleting an app at the far-edge lets the next one in within seconds, and so does lowering one's
priority below a cloud app's.  An app allowed nowhere else
that a higher one displaces is Unplaceable (its Pod gone, the room given) until room returns."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import StackHandle
from tests.operator.conftest import (
    ReadyWatch,
    apply_all,
    get_json,
    live_pods,
    own_namespace,
    pod_ready,
    wait_for,
    workload,
)

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]
EDGE = "fe-poblenou"
PRIORITIES = {"p200": 200, "p400": 400, "p700": 700, "p900": 900}


def app(name: str, ns: str, priority: int | None = None, tiers: tuple[str, ...] = ("far-edge", "cloud")) -> dict[str, Any]:
    ew = workload(name, ns, cells={"cell-poblenou-1": 1.0}, max_latency_ms=40, tiers=list(tiers), cpu="500m")
    ew["spec"]["resources"]["gpu"] = 1
    ew["spec"]["priority"] = PRIORITIES[name] if priority is None else priority
    return ew


def where(stack: StackHandle, ns: str) -> dict[str, str] | None:
    """Each app's site once all four are Placed with their one replica Ready where the status says."""
    pods = {p["metadata"]["labels"]["edgeorch.io/workload"]: p for p in live_pods(stack, ns) if pod_ready(p)}
    out = {}
    for ew in get_json(stack, "edgeworkloads", "-n", ns)["items"]:
        st, name = ew.get("status") or {}, ew["metadata"]["name"]
        placements = st.get("placements") or []
        if st.get("phase") != "Placed" or st.get("observedGeneration") != ew["metadata"]["generation"] \
                or len(placements) != 1 or name not in pods or pods[name]["spec"].get("nodeName") != placements[0]["node"] \
                or sum(1 for p in live_pods(stack, ns) if p["metadata"]["labels"]["edgeorch.io/workload"] == name) != 1:
            return None
        out[name] = placements[0]["site"]
    return out


def on_edge(stack: StackHandle, ns: str, want: set[str], apps: int = 4, timeout: float = 150) -> dict[str, str]:
    def settled() -> dict[str, str] | None:
        sites = where(stack, ns)
        if sites is None or len(sites) != apps or {n for n, s in sites.items() if s == EDGE} != want:
            return None
        return sites if all(s.startswith("cloud-") for n, s in sites.items() if n not in want) else None

    try:
        return dict(wait_for(settled, timeout, f"{sorted(want)} at {EDGE}, the others in a cloud"))
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{state(stack, ns)}") from None


def state(stack: StackHandle, ns: str) -> str:
    """What the apps, their Pods and their Events say (for a failure's message)."""
    lines = []
    for ew in get_json(stack, "edgeworkloads", "-n", ns)["items"]:
        st = ew.get("status") or {}
        lines.append(f"{ew['metadata']['name']}: gen {ew['metadata']['generation']} {st.get('phase')} "
                     f"observed {st.get('observedGeneration')} {[p['node'] for p in st.get('placements') or []]} "
                     f"{[(c['type'], c['status'], c.get('reason')) for c in st.get('conditions') or []]}")
    for p in get_json(stack, "pods", "-n", ns)["items"]:
        lines.append(f"pod {p['metadata']['name']} on {p['spec'].get('nodeName')} ready={pod_ready(p)} "
                     f"deleting={bool(p['metadata'].get('deletionTimestamp'))} {p['status'].get('phase')}")
    for e in get_json(stack, "events", "-n", ns)["items"]:
        lines.append(f"event {e['involvedObject']['name']} {e['reason']}: {e['message'][:200]}")
    return "\n".join(lines)


def placed_at(stack: StackHandle, ns: str) -> dict[str, str]:
    """The site of each app whose status says Placed."""
    return {ew["metadata"]["name"]: ew["status"]["placements"][0]["site"]
            for ew in get_json(stack, "edgeworkloads", "-n", ns)["items"]
            if (ew.get("status") or {}).get("phase") == "Placed" and ew["status"].get("placements")}


def events(stack: StackHandle, ns: str, name: str, reason: str) -> list[str]:
    return [e["message"] for e in get_json(stack, "events", "-n", ns, "--field-selector",
                                           f"involvedObject.name={name},reason={reason}")["items"]]


@pytest.mark.parametrize("order", [("p200", "p400", "p700", "p900"), ("p900", "p700", "p400", "p200"),
                                   ("p400", "p900", "p200", "p700")], ids=["ascending", "descending", "mixed"])
def test_the_two_highest_priorities_get_the_far_edge_in_any_creation_order(operator: StackHandle,
                                                                           order: tuple[str, ...]) -> None:
    with own_namespace(operator, f"prio-{order[0]}-{order[1]}") as ns:
        for i, name in enumerate(order, 1):  # each created once the ones before it are placed
            apply_all(operator, [app(name, ns)])
            wait_for(lambda i=i: (lambda s: s if s is not None and len(s) == i else None)(where(operator, ns)),
                     120, f"{order[:i]} placed")
        sites = on_edge(operator, ns, {"p700", "p900"})
        print(f"{'/'.join(order)}: {sites}")
        if order[0] == "p200":  # both lower ones were at the far-edge first: each gave way to a higher one
            assert events(operator, ns, "p200", "Preempted") and events(operator, ns, "p400", "Preempted")


def test_all_at_once_then_a_raised_priority_moves_in_and_a_deleted_app_lets_the_next_one_in(
        operator: StackHandle) -> None:
    with own_namespace(operator, "prio-all") as ns:
        apply_all(operator, [app(name, ns) for name in PRIORITIES])
        on_edge(operator, ns, {"p700", "p900"})

        with ReadyWatch(operator, ns) as watch:
            operator.kubectl("patch", "edgeworkload", "p400", "-n", ns, "--type=merge",
                             "-p", json.dumps({"spec": {"priority": 950}}))
            on_edge(operator, ns, {"p400", "p900"})
        assert watch.min_ready >= 4, "\n".join(watch.log)  # make before break: every app kept its replica Ready
        preempted = events(operator, ns, "p700", "Preempted")
        assert preempted and f"{ns}/p400 (priority 950)" in preempted[0], preempted
        assert events(operator, ns, "p400", "Preempting"), "the preempting side says so too"

        start = time.monotonic()
        operator.kubectl("delete", "edgeworkload", "p900", "-n", ns, "--wait=false")
        on_edge(operator, ns, {"p400", "p700"}, apps=3, timeout=60)
        took = time.monotonic() - start
        print(f"p900 deleted: p700 Ready at {EDGE} after {took:.1f} s")
        assert took < 45, took  # within seconds (generous: a shared, noisy machine)

        operator.kubectl("patch", "edgeworkload", "p400", "-n", ns, "--type=merge",
                         "-p", json.dumps({"spec": {"priority": 100}}))  # below p200 now: it gives way
        on_edge(operator, ns, {"p200", "p700"}, apps=3, timeout=90)


def test_a_displaced_app_with_nowhere_else_to_go_is_unplaceable_until_the_room_returns(operator: StackHandle) -> None:
    far_edge = ("far-edge",)
    with own_namespace(operator, "prio-only-edge") as ns:
        apply_all(operator, [app("p200", ns, 200, far_edge), app("p400", ns, 400, far_edge)])
        on_edge(operator, ns, {"p200", "p400"}, apps=2)
        apply_all(operator, [app("p700", ns, 700, far_edge)])

        def p200_out() -> dict[str, Any] | None:
            st = get_json(operator, "edgeworkload", "p200", "-n", ns).get("status") or {}
            pods = [p for p in live_pods(operator, ns) if p["metadata"]["labels"]["edgeorch.io/workload"] == "p200"]
            conds = {c["type"]: c for c in st.get("conditions") or []}
            return st if st.get("phase") == "Unplaceable" and not pods and not st.get("placements") \
                and conds.get("Unplaceable", {}).get("status") == "True" else None

        wait_for(p200_out, 90, "p200 Unplaceable, its Pod gone")
        assert any(f"{ns}/p700 (priority 700)" in m and "no other place" in m
                   for m in events(operator, ns, "p200", "Preempted")), state(operator, ns)
        wait_for(lambda: placed_at(operator, ns) == {"p400": EDGE, "p700": EDGE}, 90, "p700 and p400 at the far-edge")

        operator.kubectl("delete", "edgeworkload", "p400", "-n", ns, "--wait=false")
        start = time.monotonic()
        on_edge(operator, ns, {"p200", "p700"}, apps=2, timeout=60)  # the room returns to p200
        print(f"p400 deleted: p200 Ready at {EDGE} after {time.monotonic() - start:.1f} s")
