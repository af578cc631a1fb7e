"""A replica Pod is deleted only if it is still the Pod the decision saw (#19): replica names are
reused across versions and moves (`<workload>-<node hash>-<index>`), so a delete decided on a view
that is behind must not hit the Pod that took the name since.  Against the real API server."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.kube.aio import AsyncKube
from orchestrator.replica_pods import delete
from orchestrator.rollout import PodState, pod_state
from tests.conftest import StackHandle
from tests.operator.conftest import get_json, own_namespace

pytestmark = [pytest.mark.cluster]

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app-abc-0", "labels": {"app": "x"}},
       "spec": {"containers": [{"name": "c", "image": "registry.example.org/x:1"}],
                "nodeName": "no-such-node-uid-test"}}


def _uid(stack: StackHandle, ns: str) -> str | None:
    out = stack.kubectl("get", "pod", "app-abc-0", "-n", ns, "-o", "jsonpath={.metadata.uid}", check=False)
    return out.stdout.strip() or None if out.returncode == 0 else None


def test_a_delete_with_the_old_uid_leaves_the_pod_that_took_the_name(stack: StackHandle) -> None:
    with own_namespace(stack, "pod-uid") as ns:
        async def run() -> None:
            kube = await AsyncKube.connect(stack.kubeconfig)
            try:
                assert await kube.create_pod({**POD, "metadata": {**POD["metadata"], "namespace": ns}})
                old = pod_state(get_json(stack, "pod", "app-abc-0", "-n", ns))
                assert old.uid
                # the old Pod goes and a new one takes its name (a later version, say)
                assert await kube.delete_pod(ns, "app-abc-0", old.uid)
                for _ in range(100):
                    if _uid(stack, ns) is None:
                        break
                    await asyncio.sleep(0.1)
                made = await kube.create_pod({**POD, "metadata": {**POD["metadata"], "namespace": ns}})
                assert made, stack.kubectl("get", "pod", "-n", ns, "-o", "yaml", check=False).stdout
                new = _uid(stack, ns)
                assert new and new != old.uid
                # a delete decided on the stale view (the old uid) does nothing ...
                await delete(kube, ns, ["app-abc-0"], {"app-abc-0": old})
                assert await kube.delete_pod(ns, "app-abc-0", old.uid) is False
                assert _uid(stack, ns) == new
                # ... and one that saw the new Pod deletes it
                await delete(kube, ns, ["app-abc-0"], {"app-abc-0": PodState("n", uid=new)})
                for _ in range(100):
                    if _uid(stack, ns) is None:
                        break
                    await asyncio.sleep(0.1)
                assert _uid(stack, ns) is None
            finally:
                await kube.close()

        asyncio.run(run())
