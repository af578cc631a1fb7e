"""The Kopf settings in operator/handlers.py: the diff base is skipped only where no handler needs it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import kopf
import pytest

HANDLERS = Path(__file__).resolve().parents[2] / "operator" / "handlers.py"


@pytest.fixture(scope="module")
def handlers() -> tuple[ModuleType, kopf.OperatorRegistry]:
    """operator/handlers.py loaded by path (as `kopf run` does) into a registry of its own."""
    registry = kopf.OperatorRegistry()
    previous = kopf.get_default_registry()
    kopf.set_default_registry(registry)
    try:
        spec = importlib.util.spec_from_file_location("edgeorch_handlers_under_test", HANDLERS)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        kopf.set_default_registry(previous)
    return module, registry


def test_every_resource_with_change_or_daemon_handlers_keeps_its_diff_base(
        handlers: tuple[ModuleType, kopf.OperatorRegistry]) -> None:
    module, registry = handlers
    plurals = {h.selector.plural or h.selector.any_name for h in registry._changing.get_all_handlers() if h.selector}
    plurals |= {h.selector.plural or h.selector.any_name for h in registry._spawning.get_all_handlers() if h.selector}
    assert plurals, "no change handlers found: the registry inspection is broken"
    assert plurals <= set(module.CHANGE_HANDLED), f"{plurals - set(module.CHANGE_HANDLED)} need a diff base"


def test_the_diff_base_is_empty_for_other_kinds_and_full_for_slas(
        handlers: tuple[ModuleType, kopf.OperatorRegistry]) -> None:
    module, _ = handlers
    storage = module.ChangedKindsDiffBase(frozenset(module.CHANGE_HANDLED.values()), prefix="edgeorch.io")
    pod = kopf.Body({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
                     "spec": {"nodeName": "n1"}})
    assert storage.build(body=pod) == {}
    sla = kopf.Body({"apiVersion": "edgeorch.io/v1alpha1", "kind": "ServiceLevelAgreement",
                     "metadata": {"name": "s", "labels": {"a": "b"}}, "spec": {"workloadRef": "w"},
                     "status": {"phase": "Active"}})
    essence = storage.build(body=sla)
    assert essence["spec"] == {"workloadRef": "w"} and essence["metadata"]["labels"] == {"a": "b"}
    assert "status" not in essence  # Kopf's own rule: status is not part of the essence
